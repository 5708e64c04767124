/**
 * `mini-pilot bench`: drives every server under test, one after another, with
 * the same fleet and the same changes, and measures push latency at the
 * clients. This is the one code path; the CLI and the smoke test both call
 * `runBench`.
 *
 * Timing: the parent takes T0 (performance.timeOrigin + performance.now())
 * right before it applies a change (POST /snapshot); each client records the
 * same clock when it ACKs the first response carrying the change. Same
 * machine, same clock source, sub-millisecond precision.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Fleet, makeClientSpecs } from "./fleet/fleet";
import type { Mode } from "./fleet/client";
import { RunningServer, ServerKind, pin, startServer } from "./servers/launch";
import { removeTrace } from "./servers/response-trace";
import { PlanOptions, ScenarioName, ScenarioPlan, planScenario } from "./scenarios";
import { Summary, round, summarize } from "./stats";
import { Mark, diff, mark, settle, waitForQuiet } from "./measure";
import { defaultShape } from "./resources";

export interface BenchOptions {
  scenarios: ScenarioName[];
  servers: ServerKind[];
  clients: number;
  services: number;
  endpoints: number;
  routes?: number;
  mode: Mode;
  churnIntervalMs: number;
  durationS: number;
  workers: number;
  streamsPerConn: number;
  /** Give up waiting for convergence this long after the last change. */
  timeoutS: number;
  /** Pin the server to CPU 0 and the fleet to the other CPUs (taskset). */
  pin: boolean;
  cpuProfDir?: string;
  peerBinary?: string;
  peerExternal?: { xds: string; http: string };
  /** Clients NACK any response containing this string (fault tests). */
  nackMarker?: string;
  /** Quiet time after the fleet is configured and before the first change. */
  settleMs?: number;
  /** Re-measure a run when other processes used more than noiseThresholdPct of the machine (keeps the quietest). */
  retries?: number;
  noiseThresholdPct?: number;
  /** Before each run, wait up to this long for other processes to go quiet (0: don't). */
  quietWaitS?: number;
}

export interface ScenarioResult {
  scenario: ScenarioName;
  server: ServerKind;
  mode: Mode;
  clients: number;
  changes: number;
  /** ms from T0 to each client's ACK, over all (client, change) samples that arrived. */
  latency: Summary;
  /** Slowest client's ACK (worst over changes), ms; NaN if any sample is missing. */
  convergenceMs: number;
  /** (client, change) samples that never arrived within the timeout. */
  missed: number;
  /** Clients with full config before the change (storm: at the end). */
  configured: number;
  /** Time for the whole fleet to get full config on connect (ms). */
  connectMs: number;
  /** gRPC payload bytes the fleet received during the measured window. */
  bytes: number;
  responses: number;
  nacks: number;
  disconnects: number;
  serverCpuMs: number;
  /** Server CPU over the measured window, as % of one core. */
  serverCpuPct: number;
  fleetCpuMs: number;
  /**
   * Machine CPU used by processes other than the server, the fleet and the bench
   * itself during the window, as % of all CPUs (noise from other work; user,
   * system and steal time, not interrupt time).
   */
  otherCpuPct: number;
  peakRssBytes: number;
  encodes?: number;
  /** Mean time for the server to take a snapshot (POST /snapshot round trip), ms. */
  ingestMs: number;
  windowMs: number;
  endReasons: Record<string, number>;
  /** mini-pilot only: the server's event-loop stalls over its life (max, and how many over 1 s / 10 s). */
  serverLoop?: { maxStallMs: number; stallsOver1s: number; stallsOver10s: number };
  /** The fleet workers' longest event-loop stall over their life, ms. */
  fleetMaxStallMs?: number;
  /** Up to a few clients per worker that missed a change, with their protocol state. */
  stuck?: object[];
  /** Runs made for this result (more than 1: others were disturbed by other processes; the quietest is kept). */
  attempts?: number;
  /** Changes the server did not accept (POST /snapshot failed or timed out). */
  postErrors?: number;
  /** Churn changes never applied because the server fell too far behind (not counted as missed). */
  skipped?: number;
  /** Per change: when it was applied (ms after the first), how many clients ACKed it, p50/max ms. */
  perChange?: ChangeResult[];
  error?: string;
}

export interface ChangeResult {
  id: number;
  label: string;
  atMs: number;
  /** How long the change waited for the server to finish taking the previous one. */
  queuedMs: number;
  acked: number;
  p50: number;
  max: number;
}

export interface BenchReport {
  startedAt: string;
  options: Omit<BenchOptions, "peerExternal"> & { peerExternal?: string };
  machine: { cpus: number; cpuModel: string; memGiB: number; node: string; platform: string; goControlPlane: string };
  mesh: { resources: number; bytes: number; shape: ReturnType<typeof defaultShape> };
  results: ScenarioResult[];
}

export type Progress = (line: string, transient?: boolean) => void;

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runBench(o: BenchOptions, progress: Progress = () => {}): Promise<BenchReport> {
  const shape = defaultShape(o.services, o.endpoints, o.routes);
  const planOpts: PlanOptions = { shape, churnIntervalMs: o.churnIntervalMs, durationS: o.durationS };
  const report: BenchReport = {
    startedAt: new Date().toISOString(),
    options: { ...o, ...(o.peerExternal ? { peerExternal: `${o.peerExternal.xds},${o.peerExternal.http}` } : {}) } as BenchReport["options"],
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? "?",
      memGiB: round(os.totalmem() / 2 ** 30, 1),
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
      goControlPlane: "github.com/envoyproxy/go-control-plane v0.14.0 (envoy API v1.40.0)",
    },
    mesh: { resources: 0, bytes: 0, shape },
    results: [],
  };
  // The floor replays mini-pilot's responses of the same scenario, recorded in a run of
  // its own before the measured ones, so the measured mini-pilot run carries no recording
  // (which would keep every delta response it wrote in memory).
  const wantsFloor = o.servers.includes("floor");
  for (const name of o.scenarios) {
    const plan = planScenario(name, planOpts);
    report.mesh = { resources: plan.resourceCount, bytes: plan.initialBytes, shape };
    const recording = wantsFloor ? path.join(os.tmpdir(), `mini-pilot-bench-${process.pid}-${name}`) : undefined;
    try {
      if (recording) {
        const rec: RunSettings = { ...o, recordTo: recording, unreported: true, retries: 0, quietWaitS: 0 };
        delete rec.cpuProfDir; // profiles are of the measured run only
        await measureServer(report, plan, "mini-pilot", rec, progress);
      }
      for (const kind of o.servers) await measureServer(report, plan, kind, { ...o, ...(kind === "floor" ? { replayFrom: recording } : {}) }, progress);
    } finally {
      if (recording) removeTrace(recording);
    }
  }
  return report;
}

/** Per-run settings that are not flags: recording and replaying for the floor, and whether the run is reported. */
interface RunSettings extends BenchOptions {
  /** mini-pilot: record its responses to this file (response-trace.ts). */
  recordTo?: string;
  /** floor: replay this recording. */
  replayFrom?: string;
  unreported?: boolean;
}

async function measureServer(report: BenchReport, plan: ScenarioPlan, kind: ServerKind, o: RunSettings, progress: Progress): Promise<void> {
  const name = plan.name;
  progress(
    `[${name}] ${kind}: ${o.clients} ${o.mode} clients, ${plan.resourceCount} resources (${round(plan.initialBytes / 1024)} KiB), ${plan.changes.length} change(s)`,
  );
  if (o.unreported) progress(`[${name}] mini-pilot: recording its responses for the floor (a run of its own, not reported)`);
  let result: ScenarioResult | undefined;
  let attempts = 0;
  const threshold = o.noiseThresholdPct ?? 15;
  for (let attempt = 1; attempt <= 1 + (o.retries ?? 0); attempt++) {
    if (o.quietWaitS) await waitForQuiet(threshold, o.quietWaitS, progress);
    let r: ScenarioResult;
    try {
      r = await runOne(plan, kind, o, progress);
    } catch (e) {
      r = failed(plan, kind, o, (e as Error).message);
      progress(`[${name}] ${kind}: FAILED: ${(e as Error).message}`);
    }
    attempts = attempt;
    if (!result || (!r.error && (result.error || r.otherCpuPct < result.otherCpuPct))) result = r;
    // Long runs are not repeated (they would make the suite too slow); their noise is reported.
    if (r.error || !(r.otherCpuPct > threshold) || r.windowMs > 60_000 || attempt > (o.retries ?? 0)) break;
    progress(`[${name}] ${kind}: other processes used ${round(r.otherCpuPct, 0)}% of the machine; measuring again`);
  }
  result!.attempts = attempts;
  if (o.unreported) return;
  report.results.push(result!);
  progress(`[${name}] ${kind}: ${oneLine(result!)}`);
}

function failed(plan: ScenarioPlan, kind: ServerKind, o: BenchOptions, error: string): ScenarioResult {
  return {
    scenario: plan.name,
    server: kind,
    mode: o.mode,
    clients: o.clients,
    changes: plan.changes.length,
    latency: summarize([]),
    convergenceMs: NaN,
    missed: NaN,
    configured: 0,
    connectMs: NaN,
    bytes: 0,
    responses: 0,
    nacks: 0,
    disconnects: 0,
    serverCpuMs: NaN,
    serverCpuPct: NaN,
    fleetCpuMs: NaN,
    otherCpuPct: NaN,
    peakRssBytes: NaN,
    ingestMs: NaN,
    windowMs: NaN,
    endReasons: {},
    error,
  };
}

function oneLine(r: ScenarioResult): string {
  if (r.error) return `error: ${r.error}`;
  const l = r.latency;
  return `p50 ${round(l.p50)} ms, p99 ${round(l.p99)} ms, max ${round(l.max)} ms, missed ${r.missed}, NACKs ${r.nacks}, disconnects ${r.disconnects}, server CPU ${round(r.serverCpuMs)} ms, peak RSS ${round(r.peakRssBytes / 2 ** 20)} MiB`;
}

async function runOne(plan: ScenarioPlan, kind: ServerKind, o: RunSettings, progress: Progress): Promise<ScenarioResult> {
  const cpus = os.cpus().length;
  const serverCpus = o.pin && cpus > 1 ? "0" : undefined;
  if (kind === "floor" && !(o.replayFrom && fs.existsSync(`${o.replayFrom}.json`)))
    throw new Error("no recording of mini-pilot's responses for this scenario (mini-pilot's run failed), so the floor has nothing to replay");
  const fleetCpus = o.pin && cpus > 1 ? `1-${cpus - 1}` : undefined;
  const server = await startServer(kind, {
    ...(o.peerBinary ? { peerBinary: o.peerBinary } : {}),
    ...(o.peerExternal ? { peerExternal: o.peerExternal } : {}),
    ...(o.cpuProfDir ? { cpuProfDir: o.cpuProfDir } : {}),
    ...(serverCpus ? { cpus: serverCpus } : {}),
    ...(kind === "mini-pilot" && o.recordTo ? { record: true } : {}),
    ...(kind === "floor" && o.replayFrom ? { replayFile: o.replayFrom } : {}),
    log: (l) => progress(l),
  });
  let fleet: Fleet | undefined;
  try {
    await server.post(plan.initial);
    fleet = await Fleet.create({
      target: server.xds,
      mode: o.mode,
      clients: makeClientSpecs(o.clients),
      workers: o.workers,
      streamsPerConn: o.streamsPerConn,
      ...(o.nackMarker ? { nackMarker: o.nackMarker } : {}),
    });
    if (fleetCpus) for (const w of fleet.pids()) pin(w, fleetCpus);
    const result = plan.name === "storm" ? await storm(plan, server, fleet, o, progress) : await changes(plan, server, fleet, o, progress);
    if (kind === "mini-pilot" && o.recordTo) {
      const saved = await server.saveRecording(o.recordTo);
      progress(
        `[${plan.name}] mini-pilot: recorded ${String(saved.writes)} responses (${String(saved.blobs)} distinct, ${round(Number(saved.bytes) / 2 ** 20, 1)} MiB) on ${String(saved.streams)} streams for the floor`,
      );
    }
    return result;
  } finally {
    await fleet?.stop().catch(() => {});
    await server.stop();
  }
}

function configuredProgress(progress: Progress, label: string, n: number) {
  let last = 0;
  return (s: { configured: number; open: number; counters: { disconnects: number } }) => {
    if (Date.now() - last < 500) return;
    last = Date.now();
    progress(`${label}: ${s.configured}/${n} configured, ${s.open} streams open, ${s.counters.disconnects} disconnects`, true);
  };
}

async function storm(plan: ScenarioPlan, server: RunningServer, fleet: Fleet, o: BenchOptions, progress: Progress): Promise<ScenarioResult> {
  const n = fleet.clientCount;
  const m0 = await mark(server, fleet);
  const profiling = o.cpuProfDir && server.kind === "mini-pilot";
  if (profiling) await server.profile("start");
  const t0 = now();
  fleet.connect();
  await fleet.waitFor((s) => s.configured >= n, o.timeoutS * 1000, configuredProgress(progress, `[storm] ${server.kind}`, n));
  const t1 = now();
  if (profiling) await server.profile("stop", `window-${plan.name}-${o.mode}`);
  const m1 = await mark(server, fleet);
  const r = m1.fleet;
  const samples = r.configuredAt.filter((t): t is number => t !== null).map((t) => t - t0);
  const latency = summarize(samples);
  return {
    ...common(plan, server, o, m0, m1, t1 - t0, progress),
    latency,
    convergenceMs: samples.length === n ? latency.max : NaN,
    missed: n - samples.length,
    configured: samples.length,
    connectMs: samples.length === n ? latency.max : NaN,
    ingestMs: NaN,
  };
}

async function changes(plan: ScenarioPlan, server: RunningServer, fleet: Fleet, o: BenchOptions, progress: Progress): Promise<ScenarioResult> {
  const n = fleet.clientCount;
  const c0 = now();
  fleet.connect();
  await fleet.waitFor((s) => s.configured >= n, o.timeoutS * 1000, configuredProgress(progress, `[${plan.name}] ${server.kind} connecting`, n));
  const connected = await fleet.collect();
  const configured = connected.configuredAt.filter((t) => t !== null).length;
  const connectMs = configured === n ? Math.max(...connected.configuredAt.map((t) => t! - c0)) : NaN;
  await settle(fleet, o.settleMs ?? 500);
  const m0 = await mark(server, fleet);
  const profiling = o.cpuProfDir && server.kind === "mini-pilot";
  if (profiling) await server.profile("start");
  const t0s: number[] = [];
  const ingest: Promise<number>[] = [];
  const postErrors: string[] = [];
  // Every change is armed before the first is applied: arming is an IPC round
  // trip to busy workers and must not sit between a change and its T0. Clients
  // find all armed markers in one pass per response (fleet/client.ts).
  await Promise.all(plan.changes.map((c) => fleet.arm(c.spec)));
  const start = now();
  // Snapshot bodies are full states, so they must reach the server one at a time and in
  // order (concurrent POSTs could be applied out of order and revert a change). T0 is
  // taken when the change is due; waiting for the previous POST counts as latency.
  let previous: Promise<unknown> = Promise.resolve();
  const sentAt: number[] = [];
  for (let i = 0; i < plan.changes.length; i++) {
    const c = plan.changes[i]!;
    const due = start + c.atMs;
    if (due - now() > 1) await sleep(due - now());
    // Running late (the previous change still being taken): the change was due at `due`.
    t0s[i] = Math.min(now(), Math.max(due, t0s[i - 1] ?? due));
    await previous;
    // A server that cannot take changes at this rate: stop once a change has waited
    // half the timeout behind schedule; the rest are reported as skipped, not as missed.
    if (i > 0 && now() - t0s[i]! > (o.timeoutS * 1000) / 2) {
      t0s.length = i;
      progress(
        `[${plan.name}] ${server.kind}: the server fell ${round((now() - due) / 1000, 0)} s behind; skipping the last ${plan.changes.length - i} change(s)`,
      );
      break;
    }
    sentAt[i] = now();
    // A change the server fails to take is counted (postErrors) and its clients show up as missed.
    const posted = server.post(c.body, o.timeoutS * 1000).then(
      (x) => x.ms,
      (e: Error) => {
        postErrors.push(e.message);
        return NaN;
      },
    );
    previous = posted;
    ingest.push(posted);
  }
  const ingestMs = (await Promise.all(ingest)).filter((x) => Number.isFinite(x));
  if (postErrors.length) progress(`[${plan.name}] ${server.kind}: ${postErrors.length} change(s) not accepted: ${postErrors[0]}`);
  const applied = plan.changes.slice(0, t0s.length);
  const ids = applied.map((c) => c.spec.id);
  let lastShown = 0;
  await fleet.waitFor(
    (s) => ids.every((id) => (s.done[id] ?? 0) >= n),
    o.timeoutS * 1000,
    (s) => {
      if (Date.now() - lastShown < 500) return;
      lastShown = Date.now();
      const last = ids[ids.length - 1]!;
      progress(
        `[${plan.name}] ${server.kind}: ${s.done[last] ?? 0}/${n} clients have the last change, ${s.counters.nacks} NACKs, ${s.counters.disconnects} disconnects`,
        true,
      );
    },
  );
  const t1 = now();
  if (profiling) await server.profile("stop", `window-${plan.name}-${o.mode}`);
  const m1 = await mark(server, fleet);
  const r = m1.fleet;
  const samples: number[] = [];
  let missed = 0;
  let convergenceMs = 0;
  const perChange: ChangeResult[] = [];
  applied.forEach((c, i) => {
    const times = r.changes[c.spec.id] ?? [];
    let worst = 0;
    const own: number[] = [];
    for (let k = 0; k < n; k++) {
      const t = times[k];
      if (t === null || t === undefined) {
        missed++;
        worst = NaN;
        continue;
      }
      const d = t - t0s[i]!;
      samples.push(d);
      own.push(d);
      worst = Math.max(worst, d);
    }
    convergenceMs = Math.max(convergenceMs, worst);
    if (Number.isNaN(worst)) convergenceMs = NaN;
    const sum = summarize(own);
    perChange.push({
      id: c.spec.id,
      label: c.label,
      atMs: round(t0s[i]! - t0s[0]!, 1),
      queuedMs: round(sentAt[i]! - t0s[i]!, 1),
      acked: own.length,
      p50: round(sum.p50),
      max: round(sum.max),
    });
  });
  // Clients that missed a change: ask the server what it thinks of them.
  for (const x of m1.fleet.stuck as { nodeId?: string; server?: object }[]) if (x.nodeId) x.server = await server.debug(x.nodeId);
  return {
    ...common(plan, server, o, m0, m1, t1 - t0s[0]!, progress),
    latency: summarize(samples),
    convergenceMs,
    missed,
    configured,
    connectMs,
    ingestMs: ingestMs.length ? ingestMs.reduce((a, b) => a + b, 0) / ingestMs.length : NaN,
    postErrors: postErrors.length,
    skipped: plan.changes.length - applied.length,
    perChange,
  };
}

function common(
  plan: ScenarioPlan,
  server: RunningServer,
  o: BenchOptions,
  m0: Mark,
  m1: Mark,
  windowMs: number,
  progress: Progress,
): Omit<ScenarioResult, "latency" | "convergenceMs" | "missed" | "configured" | "connectMs" | "ingestMs"> {
  const cpuMs = (m1.server.cpuMicros - m0.server.cpuMicros) / 1000;
  const fleetCpuMs = (m1.fleet.cpuMicros - m0.fleet.cpuMicros) / 1000;
  const parentMs = (m1.parentCpuMicros - m0.parentCpuMicros) / 1000;
  const otherMs = m1.machineBusyMs - m0.machineBusyMs - cpuMs - fleetCpuMs - parentMs;
  const otherCpuPct = windowMs > 0 ? Math.max(0, (100 * otherMs) / (windowMs * os.cpus().length)) : NaN;
  if (otherCpuPct > 15)
    progress(`[${plan.name}] ${server.kind}: warning: ${round(otherCpuPct, 0)}% of the machine was busy with other processes during the measurement`);
  const counters = diff(m1.fleet.counters, m0.fleet.counters);
  const peak = server.peakRssBytes() ?? Math.max(m0.server.rssBytes, m1.server.rssBytes);
  const e0 = m0.server.encodes,
    e1 = m1.server.encodes;
  return {
    scenario: plan.name,
    server: server.kind,
    mode: o.mode,
    clients: o.clients,
    changes: plan.changes.length,
    bytes: counters.bytes,
    responses: counters.responses,
    nacks: counters.nacks,
    disconnects: counters.disconnects,
    serverCpuMs: cpuMs,
    serverCpuPct: windowMs > 0 ? (100 * cpuMs) / windowMs : NaN,
    fleetCpuMs,
    otherCpuPct,
    peakRssBytes: peak,
    ...(e0 !== undefined && e1 !== undefined ? { encodes: e1 - e0 } : {}),
    windowMs,
    endReasons: m1.fleet.endReasons,
    // Whole life of the server (connect phase included): mini-pilot's bench server reports its event-loop stalls.
    ...(m1.server.raw.loop ? { serverLoop: m1.server.raw.loop as ScenarioResult["serverLoop"] } : {}),
    fleetMaxStallMs: m1.fleet.maxStallMs,
    ...(m1.fleet.stuck.length ? { stuck: m1.fleet.stuck } : {}),
  };
}
