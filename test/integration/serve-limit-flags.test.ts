/**
 * serve's server-limit flags take effect on the wire: `mini-pilot serve` as a
 * child process, a real gRPC client. Bad values are refused with one line.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { CLI, startServe } from "../support/serve-process";
import { TestSotwStream, connect } from "../support/ads-client";
import { CLUSTER, ENDPOINT } from "../../src/xds/types";
import { DEFAULT_LIMITS } from "../../src/server/limits";
import { LIMIT_FLAG_TABLE, serverLimits } from "../../src/cli/limit-flags";

const EXAMPLES = path.join(__dirname, "..", "..", "..", "examples", "bill-service");

test("--max-xds-message-size and --max-names-per-request limit what a real gRPC client may send", { timeout: 60_000 }, async (t) => {
  const serve = await startServe(["--config-dir", EXAMPLES, "--max-xds-message-size", "16Ki", "--max-names-per-request", "5"]);
  t.after(() => serve.stop());
  // One connection per stream, as Envoy does (a connection shares its rate budget).
  const client = () => {
    const c = connect(serve.xdsPort);
    t.after(() => c.close());
    return c;
  };

  // Within both limits: answered.
  const ok = new TestSotwStream(client());
  t.after(() => ok.close());
  ok.send({ typeUrl: CLUSTER });
  assert.ok((await ok.next(5000)).resources.length > 0);

  // 6 names: over --max-names-per-request 5 (the default is 100,000).
  const many = new TestSotwStream(client());
  t.after(() => many.close());
  many.send({ typeUrl: ENDPOINT, names: ["a", "b", "c", "d", "e", "f"] });
  const e1 = await many.inbox.whenEnded(10_000);
  assert.equal(e1.code, 8, `RESOURCE_EXHAUSTED: ${e1.details}`);
  assert.match(e1.details, /the limit is 5 per request/);

  // ~20 KiB in 4 names: over --max-xds-message-size 16Ki (the default is 4 MiB), refused by gRPC itself.
  const big = new TestSotwStream(client());
  t.after(() => big.close());
  big.send({ typeUrl: ENDPOINT, names: ["x".repeat(5000), "y".repeat(5000), "z".repeat(5000), "w".repeat(5000)] });
  const e2 = await big.inbox.whenEnded(10_000);
  assert.equal(e2.code, 8, `RESOURCE_EXHAUSTED: ${e2.details}`);
  assert.match(e2.details, /larger than max \(\d+ vs\.? 16384\)/);
});

test("limit flags: defaults are DEFAULT_LIMITS, sizes take the byte-size units, bad values are one line and exit 2", () => {
  assert.deepEqual(serverLimits({}), DEFAULT_LIMITS);
  const limits = serverLimits({ "max-xds-message-size": "8Mi", "keepalive-time": "1m", "max-connections": "10", "keepalive-timeout": "500ms" });
  assert.equal(limits.maxReceiveMessageBytes, 8 * 1024 * 1024);
  assert.equal(limits.keepaliveTimeMs, 60_000);
  assert.equal(limits.keepaliveTimeoutMs, 500);
  assert.equal(limits.maxConnections, 10);
  // Every limit has a flag.
  assert.deepEqual(
    Object.values(LIMIT_FLAG_TABLE)
      .map((f) => f.limit)
      .sort(),
    Object.keys(DEFAULT_LIMITS).sort(),
  );

  const run = (...args: string[]) =>
    spawnSync(process.execPath, [CLI, "serve", "--config-dir", EXAMPLES, "--xds-address", "127.0.0.1:0", "--http-address", "127.0.0.1:0", ...args], {
      encoding: "utf8",
      timeout: 30_000,
    });
  for (const [args, want] of [
    [["--max-xds-message-size", "4 MB"], /^mini-pilot serve: --max-xds-message-size wants a size like 4Mi, 512Ki or 1048576, got "4 MB"\n$/],
    [["--max-connections", "0"], /^mini-pilot serve: --max-connections wants a positive whole number, got "0"\n$/],
    [["--keepalive-time", "soon"], /^mini-pilot serve: --keepalive-time wants a positive duration like 30s or 500ms, got "soon"\n$/],
    [["--max-names-per-request", "300000"], /^mini-pilot serve: --max-name-change-burst \(200000\) must be at least --max-names-per-request \(300000\)/],
  ] as const) {
    const r = run(...args);
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, want);
  }
  const help = spawnSync(process.execPath, [CLI, "serve", "--help"], { encoding: "utf8" }).stdout;
  for (const flag of Object.keys(LIMIT_FLAG_TABLE)) assert.match(help, new RegExp(`--${flag} `), `--${flag} in serve --help`);
});
