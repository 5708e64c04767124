import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { renderBootstrap } from "../../src/bootstrap/render";
import { bootstrapOptions } from "../../src/bootstrap/env";
import { parseFlags } from "../../src/cli/args";
import { spec } from "../../src/cli/bootstrap";

const CLI = path.join(__dirname, "..", "..", "src", "cli", "main.js");

/** Run the real CLI with only the given environment (no ISTIO_META_* leaking in from the test runner). */
const cli = (args: string[], env: Record<string, string>) =>
  spawnSync(process.execPath, [CLI, "bootstrap", ...args], { env: { PATH: process.env.PATH ?? "", ...env }, encoding: "utf8", timeout: 30_000 });

const POD = { POD_NAME: "bill-v1-x", POD_NAMESPACE: "default", INSTANCE_IP: "10.0.0.7", ISTIO_META_LABELS: '{"app":"bill"}' };

test("mini-pilot bootstrap writes envoy-rev0.json matching the renderer, and says where", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mp-bootstrap-"));
  // No --out: the default ./envoy-rev0.json, relative to the working directory.
  const r = spawnSync(process.execPath, [CLI, "bootstrap"], { cwd: dir, env: { PATH: process.env.PATH ?? "", ...POD }, encoding: "utf8", timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /wrote \.\/envoy-rev0\.json for sidecar~10\.0\.0\.7~bill-v1-x\.default~default\.svc\.cluster\.local/);
  const written = JSON.parse(fs.readFileSync(path.join(dir, "envoy-rev0.json"), "utf8"));
  const expected = renderBootstrap(bootstrapOptions({ env: POD, flags: parseFlags(spec, [])!.flags, readFile: () => "" }));
  assert.equal(written.node.cluster, "bill.default");
  assert.deepEqual(written, expected);
  fs.rmSync(dir, { recursive: true, force: true });
});

test("--out - prints the bootstrap; --out PATH creates directories", () => {
  const out = cli(["--out", "-", "--xds-api", "delta"], POD);
  assert.equal(out.status, 0, out.stderr);
  assert.equal(JSON.parse(out.stdout).dynamic_resources.ads_config.api_type, "DELTA_GRPC");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mp-bootstrap-"));
  const file = path.join(dir, "a", "b", "envoy-rev0.json");
  const r = cli(["--out", file, "--type", "router"], POD);
  assert.equal(r.status, 0, r.stderr);
  assert.match(JSON.parse(fs.readFileSync(file, "utf8")).node.id, /^router~/);
  assert.deepEqual(fs.readdirSync(path.dirname(file)), ["envoy-rev0.json"], "no temp file left behind");
  fs.rmSync(dir, { recursive: true, force: true });
});

test("missing input or a bad flag: a clear message and exit 2, nothing written", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mp-bootstrap-"));
  const file = path.join(dir, "envoy-rev0.json");
  const missing = cli(["--out", file], { POD_NAMESPACE: "default" });
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /^mini-pilot bootstrap: missing required input: POD_NAME \(or --pod-name\), INSTANCE_IP \(or --ip\)/);
  const bad = cli(["--out", file, "--xds-api", "rest"], POD);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--xds-api wants sotw or delta/);
  const unknown = cli(["--no-such-flag"], POD);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /no-such-flag/);
  assert.equal(fs.existsSync(file), false);
  const help = cli(["--help"], {});
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--xds-address HOST:PORT/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test("mini-pilot agent refuses to start without a runnable Envoy or without identity (exit 2)", () => {
  const agent = (args: string[], env: Record<string, string>) =>
    spawnSync(process.execPath, [CLI, "agent", ...args], { env: { PATH: "/nonexistent", ...env }, encoding: "utf8", timeout: 30_000 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mp-agent-"));
  const noEnvoy = agent(["--out", path.join(dir, "b.json")], POD);
  assert.equal(noEnvoy.status, 2);
  assert.match(noEnvoy.stderr, /no Envoy binary: pass --envoy PATH, set ENVOY_BIN, or install it/);
  const notExec = agent(["--envoy", path.join(dir, "missing-envoy"), "--out", path.join(dir, "b.json")], POD);
  assert.equal(notExec.status, 2);
  assert.match(notExec.stderr, /missing-envoy is not an executable file/);
  const noPod = agent(["--envoy", process.execPath], {});
  assert.equal(noPod.status, 2);
  assert.match(noPod.stderr, /missing required input: POD_NAME/);
  assert.deepEqual(fs.readdirSync(dir), [], "nothing written when the agent cannot run");
  fs.rmSync(dir, { recursive: true, force: true });
});
