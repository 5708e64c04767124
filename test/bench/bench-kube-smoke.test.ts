/**
 * One short run of the API-server benchmark (`mini-pilot bench --servers
 * mini-pilot-kube,istiod`) through `runKubeBench`, the code path the CLI uses:
 * both servers read the same test kube-apiserver, and every sidecar must ACK
 * the EndpointSlice scale-up and the VirtualService weight edit. No timing
 * thresholds: those are measured, not asserted. With CI set, a missing
 * pilot-discovery or kube-apiserver fails the test instead of skipping it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { KubeBenchOptions, checkKubeBench, kubeTable, runKubeBench } from "../../bench/kube-bench";
import { kubeUnavailable } from "../kube/cluster";
import { istiodUnavailable } from "../istiod/istiod";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import * as fs from "node:fs";
import * as os from "node:os";
import { summarizeProfiles } from "../../bench/profile-summary";

const CLI = path.join(__dirname, "..", "..", "src", "cli", "main.js");

const BASE: KubeBenchOptions = {
  servers: ["mini-pilot-kube", "istiod"],
  scenarios: ["endpoint", "route", "new-service"],
  clients: 12,
  services: 6,
  endpoints: 2,
  routes: 2,
  mode: "sotw",
  workers: 1,
  streamsPerConn: 4,
  timeoutS: 60,
  debounceAfterMs: 100,
  debounceMaxMs: 10_000,
  settleMs: 1000,
};

test("bench kube smoke: mini-pilot and istiod on one kube-apiserver, every sidecar ACKs each change", { timeout: 600_000 }, async (t) => {
  const why = kubeUnavailable("bench kube smoke") ?? istiodUnavailable("bench kube smoke");
  if (why) return t.skip(why);
  const report = await runKubeBench(BASE, (l, transient) => {
    if (!transient) t.diagnostic(l);
  });
  for (const line of kubeTable(report).trimEnd().split("\n")) t.diagnostic(line);
  assert.equal(report.results.length, BASE.scenarios.length * BASE.servers.length);
  for (const r of report.results) {
    const where = `${r.scenario}/${r.server}`;
    assert.equal(r.error, undefined, `${where}: ${r.error}`);
    assert.equal(r.missed, 0, `${where}: ${r.missed} sidecars never ACKed the change`);
    assert.equal(r.latency.count, BASE.clients, where);
    for (const k of ["min", "p50", "p99", "max"] as const) assert.ok(Number.isFinite(r.latency[k]) && r.latency[k] > 0, `${where}: ${k} = ${r.latency[k]}`);
    // The change went through the debounce: no server can beat it.
    assert.ok(r.latency.min >= BASE.debounceAfterMs * 0.9, `${where}: min ${r.latency.min} ms is below the ${BASE.debounceAfterMs} ms debounce`);
    assert.equal(r.nacks, 0, where);
    assert.equal(r.disconnects, 0, where);
    assert.ok(r.bytes > 0 && Number.isFinite(r.serverCpuMs) && r.peakRssBytes > 0, `${where}: server stats`);
  }
  assert.match(kubeTable(report), /\| endpoint \| istiod \|/);
});

test("bench kube --cpu-prof: serve runs under the profiler and the measured window is cut out of its profile", { timeout: 300_000 }, async (t) => {
  const why = kubeUnavailable("bench kube --cpu-prof");
  if (why) return t.skip(why);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-kube-prof-"));
  const report = await runKubeBench({ ...BASE, servers: ["mini-pilot-kube"], scenarios: ["route"], cpuProfDir: dir });
  assert.equal(report.results[0]!.missed, 0);
  const files = fs.readdirSync(dir).sort();
  assert.ok(
    files.some((f) => /^serve-route-sotw-run1\.cpuprofile$/.test(f)),
    files.join(", "),
  );
  assert.ok(
    files.some((f) => /^route-sotw-mini-pilot-kube-run1\.window\.json$/.test(f)),
    files.join(", "),
  );
  const summary = summarizeProfiles(dir);
  const m = /== mini-pilot server during route-sotw-mini-pilot-kube-run1 \(cut from serve-route-sotw-run1\.cpuprofile\): 1 profile\(s\), (\d+) ms wall/.exec(
    summary,
  );
  assert.ok(m, summary.slice(0, 600));
  assert.ok(Number(m[1]) > 0, "the window has samples");
  fs.rmSync(dir, { recursive: true, force: true });
});

test("bench kube: a fleet larger than the mesh's pods, or istiod missing, is refused before anything starts", () => {
  assert.throws(() => checkKubeBench({ ...BASE, clients: 13 }), /--clients \(13\) cannot exceed --services × --endpoints \(12\)/);
  const saved = process.env.PILOT_DISCOVERY_BIN;
  process.env.PILOT_DISCOVERY_BIN = "/nonexistent/pilot-discovery";
  try {
    assert.throws(
      () => checkKubeBench(BASE),
      /istiod cannot run: PILOT_DISCOVERY_BIN=\/nonexistent\/pilot-discovery is not an executable file[\s\S]*--servers mini-pilot-kube/,
    );
  } finally {
    if (saved === undefined) delete process.env.PILOT_DISCOVERY_BIN;
    else process.env.PILOT_DISCOVERY_BIN = saved;
  }
});

test("bench CLI: kube servers are not mixed with snapshot servers, and a fleet too big for the mesh exits 2 before starting anything", () => {
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [CLI, "bench", ...args], { encoding: "utf8", env: { ...process.env, PILOT_DISCOVERY_BIN: "" } });
  const mixed = run("--servers", "mini-pilot-kube,floor");
  assert.equal(mixed.status, 2, mixed.stderr);
  assert.match(mixed.stderr, /floor cannot be measured with mini-pilot-kube\/istiod/);
  const big = run("--servers", "mini-pilot-kube", "--clients", "300", "--services", "50", "--endpoints", "4");
  assert.equal(big.status, 2, big.stderr);
  assert.match(big.stderr, /--clients \(300\) cannot exceed --services × --endpoints \(200\)/);
  const scenario = run("--servers", "istiod", "--scenarios", "storm");
  assert.equal(scenario.status, 2, scenario.stderr);
  assert.match(scenario.stderr, /--scenarios: unknown "storm"; choose from endpoint, route, new-service/);
});
