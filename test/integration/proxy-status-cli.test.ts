/**
 * `mini-pilot proxy-status` against `serve` with a debug token, and a proxy
 * (a raw ADS client) that rejects a push: the table says ERROR with the NACK
 * message, STALE/NOT SENT for what is in flight or never asked for, and the
 * token is needed, used, and never printed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CLI, startServe } from "../support/serve-process";
import { TestSotwStream, connect } from "../support/ads-client";
import { CLUSTER, LISTENER } from "../../src/xds/types";

const EXAMPLES = path.join(__dirname, "..", "..", "..", "examples", "bill-service");
const NODE = "sidecar~10.1.0.5~bill-client-1.default~default.svc.cluster.local";
const TOKEN = "s3cret-debug-token-0123456789";

function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 30_000, env: { ...process.env, MINI_PILOT_DEBUG_TOKEN_FILE: "" } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("proxy-status: ERROR with the NACK message, NOT SENT, the debug token", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mini-pilot-pstatus-cli-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const tokenFile = path.join(dir, "token");
  fs.writeFileSync(tokenFile, `${TOKEN}\n`);
  const serve = await startServe(["--config-dir", EXAMPLES, "--debug-token-file", tokenFile]);
  t.after(() => serve.stop());
  const client = connect(serve.xdsPort);
  t.after(() => client.close());
  const s = new TestSotwStream(client, NODE, { ISTIO_VERSION: "1.25.1", CLUSTER_ID: "east" });
  t.after(() => s.close());
  s.send({ typeUrl: CLUSTER });
  const cds = await s.next(5000);
  s.ack(cds, [], "cluster outbound|9999||bill-service: rejected by the test");
  s.send({ typeUrl: LISTENER });
  await s.next(5000); // LDS sent, not ACKed: STALE

  const server = `http://127.0.0.1:${serve.httpPort}`;
  const without = cli(["proxy-status", "--server", server]);
  assert.equal(without.code, 2);
  assert.match(
    without.stderr,
    /^mini-pilot proxy-status: http:\/\/127\.0\.0\.1:\d+: the debug port wants a bearer token \(401\); give --debug-token-file FILE\n$/,
  );

  const deadline = Date.now() + 5000;
  let r = cli(["proxy-status", "--server", server, "--debug-token-file", tokenFile]);
  while (!/ERROR/.test(r.stdout) && Date.now() < deadline) r = cli(["proxy-status", "--server", server, "--debug-token-file", tokenFile]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout.replace(/ {3,}/g, " | ").replace(/ (SERVER|\S+) \| (VERSION|1\.25\.1)$/gm, " <server> | $2"),
    [
      "NAME | TYPE | CLUSTER | CDS | LDS | EDS | RDS | <server> | VERSION",
      "bill-client-1.default | sidecar | east | ERROR | STALE | NOT SENT | NOT SENT | <server> | 1.25.1",
      "",
      "Rejected (NACK):",
      "  bill-client-1.default CDS: cluster outbound|9999||bill-service: rejected by the test",
      "",
    ].join("\n"),
  );
  for (const out of [r, without]) assert.ok(!(out.stdout + out.stderr).includes(TOKEN), "the token is never printed");

  // One proxy without --envoy-admin: its row, then each type's versions and the NACK.
  const one = cli(["proxy-status", "bill-client-1.default", "--server", server, "--debug-token-file", tokenFile]);
  assert.equal(one.code, 0, one.stderr);
  assert.match(one.stdout, /^sidecar~10\.1\.0\.5~bill-client-1\.default~default\.svc\.cluster\.local stream sotw-\d+ \(sotw\), connected \S+ to \S+$/m);
  assert.match(one.stdout, /^ {2}clusters {3}ERROR {4}sent [0-9a-f]{16} {2}acked -$/m);
  assert.match(one.stdout, /^ {13}rejected at \S+: cluster outbound\|9999\|\|bill-service: rejected by the test$/m);
  assert.match(one.stdout, /^ {2}listeners {2}STALE {4}sent [0-9a-f]{16} {2}acked -$/m);
  assert.match(one.stdout, /Give --envoy-admin URL/);

  const wrong = path.join(dir, "wrong");
  fs.writeFileSync(wrong, "not-the-token\n");
  const refused = cli(["proxy-status", "--server", server, "--debug-token-file", wrong]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /refused the token \(401\)/);
  assert.ok(!refused.stderr.includes("not-the-token"));
});
