/**
 * `serve` opens its ports before it reads the config folder: /healthz answers
 * at once (a kubelet's liveness probe must not kill a control plane that is
 * reading 50 MB), /ready says 503 until the first snapshot is built, and a
 * proxy that connects early waits for that snapshot instead of getting a
 * half-read config. Before, both ports opened only after the first load
 * (~30 s for a 50 MB folder).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startServe } from "../support/serve-process";
import { TestSotwStream, connect } from "../support/ads-client";
import { CLUSTER } from "../../src/xds/types";

const REPO = path.join(__dirname, "..", "..", "..");
const EXAMPLES = path.join(REPO, "examples", "bill-service");

/** Invalid VirtualServices (a negative weight): slow to read and validate, nothing in the mesh. */
function slowFile(n: number): string {
  const parts: string[] = [];
  for (let i = 0; i < n; i++) {
    parts.push(
      `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: bad-${i}, namespace: ns-${i % 50}}\nspec:\n  hosts: [bad-${i}]\n  http:\n    - match: [{uri: {prefix: /api/${i}}}]\n      route:\n        - {destination: {host: bad-${i}}, weight: -10}\n        - {destination: {host: bad-${i}}, weight: 110}\n`,
    );
  }
  return parts.join("---\n");
}

async function get(port: number, p: string): Promise<{ status: number; body: string; ms: number }> {
  const t = performance.now();
  const res = await fetch(`http://127.0.0.1:${port}${p}`);
  return { status: res.status, body: await res.text(), ms: performance.now() - t };
}

test("the ports open before the folder is read: /healthz at once, /ready 503 until the first snapshot, early proxies wait", { timeout: 180_000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mp-early-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const f of fs.readdirSync(EXAMPLES)) fs.copyFileSync(path.join(EXAMPLES, f), path.join(dir, f));
  fs.writeFileSync(path.join(dir, "zz-slow.yaml"), slowFile(25_000));

  const serve = await startServe(["--config-dir", dir, "--max-file-size", "64Mi", "--max-objects-per-file", "30000"], {}, { noWaitReady: true });
  t.after(() => serve.stop());
  assert.ok(!serve.logs.some((l) => /config folder loaded/.test(l)), "the ports opened before the folder was read");
  const health = await get(serve.httpPort, "/healthz");
  assert.equal(health.status, 200);
  const early = await get(serve.httpPort, "/ready");
  assert.equal(early.status, 503);
  assert.equal(early.body, "not ready: reading the config folder\n");

  // A proxy that connects now gets nothing until the folder is read: no empty or partial config.
  const client = connect(serve.xdsPort);
  t.after(() => client.close());
  const stream = new TestSotwStream(client);
  t.after(() => stream.close());
  stream.send({ typeUrl: CLUSTER });
  await assert.rejects(stream.next(300), /no response within/);
  assert.equal((await get(serve.httpPort, "/ready")).status, 503, "precondition: still reading (make the slow file bigger if this machine is fast)");

  // /healthz keeps answering quickly while the folder is read.
  let worst = 0;
  for (;;) {
    const h = await get(serve.httpPort, "/healthz");
    assert.equal(h.status, 200);
    worst = Math.max(worst, h.ms);
    if ((await get(serve.httpPort, "/ready")).status === 200) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(worst < 1000, `slowest /healthz while reading: ${worst.toFixed(0)} ms`);
  assert.ok(serve.logs.some((l) => /config folder loaded/.test(l)));

  const cds = await stream.next(10_000);
  assert.ok(
    cds.names.some((n) => n.includes("bill-service")),
    `the first CDS response is the whole folder's: ${cds.names.join(", ")}`,
  );
});
