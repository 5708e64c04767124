/**
 * Tiny runs of every bench scenario through `runBench`, the code path
 * `mini-pilot bench` uses: every client must converge and every latency must be
 * a number. No timing thresholds — those are measured, not asserted.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { BenchOptions, BenchReport, runBench } from "../../bench/run";
import { buildPeer, cachedPeerBinary } from "../../bench/servers/launch";
import { table, svg } from "../../bench/report";

const BASE: BenchOptions = {
  scenarios: ["storm", "endpoint", "route", "new-service", "churn"],
  servers: ["mini-pilot", "floor"],
  clients: 10,
  services: 6,
  endpoints: 3,
  routes: 2,
  mode: "sotw",
  churnIntervalMs: 100,
  durationS: 1,
  workers: 2,
  streamsPerConn: 4,
  timeoutS: 20,
  pin: false,
  settleMs: 100,
};

function assertConverged(report: BenchReport, servers: readonly string[]): void {
  assert.equal(report.results.length, BASE.scenarios.length * servers.length);
  for (const r of report.results) {
    const where = `${r.scenario}/${r.server}/${r.mode}`;
    assert.equal(r.error, undefined, `${where}: ${r.error}`);
    assert.equal(r.missed, 0, `${where}: ${r.missed} samples missing`);
    assert.equal(r.configured, BASE.clients, `${where}: ${r.configured} configured`);
    const samples = r.scenario === "storm" ? BASE.clients : BASE.clients * r.changes;
    assert.equal(r.latency.count, samples, where);
    for (const k of ["min", "p50", "p90", "p99", "max"] as const)
      assert.ok(Number.isFinite(r.latency[k]) && r.latency[k] >= 0, `${where}: ${k} = ${r.latency[k]}`);
    assert.ok(Number.isFinite(r.convergenceMs), `${where}: convergence`);
    assert.ok(r.bytes > 0, `${where}: bytes`);
    assert.equal(r.nacks, 0, where);
    assert.equal(r.disconnects, 0, `${where}: ${JSON.stringify(r.endReasons)}`);
    assert.ok(Number.isFinite(r.serverCpuMs) && Number.isFinite(r.peakRssBytes), `${where}: server stats`);
  }
  assert.match(table(report), /\| storm/);
  assert.match(svg(report), /^<svg/);
}

for (const mode of ["sotw", "delta"] as const) {
  test(`bench smoke (${mode}): every scenario converges on mini-pilot and the floor`, { timeout: 300_000 }, async () => {
    const report = await runBench({ ...BASE, mode });
    assertConverged(report, BASE.servers);
    const mp = report.results.find((r) => r.server === "mini-pilot" && r.scenario === "route")!;
    assert.ok(mp.encodes !== undefined && mp.encodes >= 1, "mini-pilot reports its encodes");
    // The floor replays mini-pilot's recorded responses: the fleet gets the same bytes from both. Not in churn:
    // there changes land while pushes are in flight, so how many a SotW push coalesces (and the bytes written)
    // depends on timing, and the recording run and the measured run may differ.
    for (const s of BASE.scenarios.filter((s) => s !== "churn")) {
      const [m, f] = ["mini-pilot", "floor"].map((k) => report.results.find((r) => r.server === k && r.scenario === s)!);
      assert.equal(f!.bytes, m!.bytes, `${s}/${mode}: the floor wrote ${f!.bytes} bytes, mini-pilot ${m!.bytes}`);
      assert.equal(f!.responses, m!.responses, `${s}/${mode}: responses`);
    }
  });
}

test("bench smoke: the go-control-plane peer", { timeout: 900_000 }, async (t) => {
  let bin = cachedPeerBinary();
  if (!bin && process.env.CI) bin = buildPeer();
  if (!bin) {
    t.skip("go-control-plane peer not built (run bench/peers/go-control-plane/build.sh once; CI builds it)");
    return;
  }
  for (const mode of ["sotw", "delta"] as const) {
    const servers = ["go-control-plane", "go-control-plane-per-node"] as const;
    const report = await runBench({ ...BASE, mode, servers: [...servers], peerBinary: bin });
    assertConverged(report, servers);
    if (mode === "sotw") {
      // A version per type: a route change re-sends only RDS, where one version for all types re-sends all four.
      const [fair, perNode] = servers.map((k) => report.results.find((r) => r.server === k && r.scenario === "route")!);
      assert.ok(fair!.bytes * 2 < perNode!.bytes, `route change: ${fair!.bytes} bytes with per-type versions, ${perNode!.bytes} with one version`);
      assert.equal(fair!.responses, BASE.clients, "one RDS response per client");
    }
  }
});

test("bench smoke: NACKs are counted and unconverged clients reported, not hidden", { timeout: 120_000 }, async () => {
  // The route change names its route "canary-<marker>"; clients reject anything containing "canary-".
  const report = await runBench({ ...BASE, scenarios: ["route"], timeoutS: 2, nackMarker: "canary-" });
  for (const r of report.results) {
    assert.equal(r.error, undefined);
    assert.ok(r.nacks >= BASE.clients, `${r.server}: ${r.nacks} NACKs`);
    assert.equal(r.missed, BASE.clients, `${r.server}: every client misses the rejected change`);
    assert.equal(r.latency.count, 0);
    assert.ok(Number.isNaN(r.convergenceMs));
  }
});
