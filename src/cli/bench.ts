/**
 * `mini-pilot bench`: push latency of mini-pilot against go-control-plane and a
 * null "floor" server, with a simulated Envoy fleet in worker processes. All
 * flags are checked (and the peer built and started once) before anything is
 * measured; a bad flag or an unusable peer exits 2.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { CommandSpec, CliError, parseFlags, parseHostPort } from "./args";
import { BenchOptions, runBench } from "../../bench/run";
import { SCENARIOS, SCENARIO_HELP, ScenarioName } from "../../bench/scenarios";
import { DEFAULT_SERVERS, SERVERS, SERVER_KINDS, ServerKind, checkPeers } from "../../bench/servers/launch";
import { table, writeOutputs } from "../../bench/report";
import { summarizeProfiles } from "../../bench/profile-summary";
import {
  KUBE_SCENARIOS,
  KUBE_SERVERS,
  KUBE_SERVER_KINDS,
  KubeBenchOptions,
  KubeScenario,
  KubeServerKind,
  checkKubeBench,
  kubeTable,
  runKubeBench,
  writeKubeReport,
} from "../../bench/kube-bench";
import { parseIstioDuration } from "../model/validate";

export const summary = "measure push latency against go-control-plane and a null server with a simulated Envoy fleet";

export const spec: CommandSpec = {
  name: "bench",
  usage: "[flags]",
  description: [
    "Runs each scenario against each server, one after another, with the same fleet and the same changes.",
    "Latency = time from applying a change to each client's ACK of the first response carrying it.",
    "Scenarios:",
    ...SCENARIOS.map((s) => `  ${s.padEnd(12)} ${SCENARIO_HELP[s]}`),
    "Servers:",
    ...SERVER_KINDS.map((k) => `  ${k.padEnd(26)} ${SERVERS[k].help}`),
    "Servers on a test kube-apiserver (measured apart from the ones above; scenarios endpoint, route, new-service; --clients <= --services x --endpoints):",
    ...KUBE_SERVER_KINDS.map((k) => `  ${k.padEnd(26)} ${KUBE_SERVERS[k]}`),
  ].join("\n"),
  flags: {
    scenarios: { type: "string", arg: "LIST", default: SCENARIOS.join(","), help: "comma-separated scenarios" },
    clients: { type: "string", arg: "N", default: "1000", help: "simulated Envoys" },
    services: { type: "string", arg: "N", default: "200", help: "services in the mesh" },
    endpoints: { type: "string", arg: "N", default: "10", help: "endpoints per service" },
    routes: { type: "string", arg: "N", default: "20", help: "routing objects (weighted routes over v1/v2 subsets)" },
    mode: { type: "string", arg: "sotw|delta", default: "sotw", help: "xDS variant the fleet uses" },
    servers: { type: "string", arg: "LIST", default: DEFAULT_SERVERS.join(","), help: "servers under test" },
    "churn-interval": { type: "string", arg: "MS", default: "500", help: "churn: ms between changes" },
    duration: { type: "string", arg: "S", default: "10", help: "churn: seconds of changes" },
    workers: { type: "string", arg: "N", default: "2", help: "fleet worker processes" },
    "streams-per-conn": { type: "string", arg: "N", default: "10", help: "ADS streams per HTTP/2 connection" },
    timeout: { type: "string", arg: "S", default: "30", help: "give up waiting for convergence after this long" },
    out: { type: "string", arg: "DIR", default: "bench-results", help: "where the JSON and SVG go" },
    "cpu-prof": { type: "boolean", help: "run the mini-pilot server with --cpu-prof (profiles in DIR/profiles)" },
    pin: { type: "boolean", help: "pin the server to CPU 0 and the fleet to the others (taskset)" },
    retries: { type: "string", arg: "N", default: "2", help: "re-measure a run disturbed by other processes up to N times" },
    "quiet-wait": { type: "string", arg: "S", default: "30", help: "before each run, wait up to S seconds for other processes to go quiet (0: don't)" },
    "noise-threshold": { type: "string", arg: "PCT", default: "15", help: "a run is disturbed when other processes use more than PCT% of the CPUs" },
    peer: { type: "string", arg: "BIN", help: "go-control-plane peer binary (default: build it with build.sh)" },
    "peer-address": { type: "string", arg: "XDS,HTTP", help: "use a running peer at HOST:PORT,HOST:PORT instead of starting one" },
    "debounce-after": { type: "string", arg: "DURATION", default: "100ms", help: "mini-pilot-kube and istiod: quiet time before a push (both get it)" },
    "debounce-max": { type: "string", arg: "DURATION", default: "10s", help: "mini-pilot-kube and istiod: longest a push waits (both get it)" },
    "nack-marker": { type: "string", arg: "TEXT", help: "clients NACK any response containing TEXT (fault tests)" },
  },
};

function int(v: unknown, flag: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new CliError(`--${flag} wants an integer from ${min} to ${max}, got "${String(v)}"`);
  return n;
}

function list<T extends string>(v: unknown, flag: string, allowed: readonly T[]): T[] {
  const items = String(v)
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) throw new CliError(`--${flag} is empty; choose from ${allowed.join(", ")}`);
  for (const s of items) if (!allowed.includes(s as T)) throw new CliError(`--${flag}: unknown "${s}"; choose from ${allowed.join(", ")}`);
  return [...new Set(items)] as T[];
}

/** Flags → options, all checks that need no process. */
export function optionsFromFlags(f: Record<string, unknown>): BenchOptions & { out: string } {
  const mode = String(f.mode);
  if (mode !== "sotw" && mode !== "delta") throw new CliError(`--mode wants sotw or delta, got "${mode}"`);
  const o: BenchOptions & { out: string } = {
    scenarios: list<ScenarioName>(f.scenarios, "scenarios", SCENARIOS),
    servers: list<ServerKind>(f.servers, "servers", SERVER_KINDS),
    clients: int(f.clients, "clients", 1, 100_000),
    services: int(f.services, "services", 1, 100_000),
    endpoints: int(f.endpoints, "endpoints", 1, 250),
    routes: int(f.routes, "routes", 0, 100_000),
    mode,
    churnIntervalMs: int(f["churn-interval"], "churn-interval", 1, 3_600_000),
    durationS: int(f.duration, "duration", 1, 3600),
    workers: int(f.workers, "workers", 1, 64),
    streamsPerConn: int(f["streams-per-conn"], "streams-per-conn", 1, 10_000),
    timeoutS: int(f.timeout, "timeout", 1, 3600),
    pin: Boolean(f.pin),
    retries: int(f.retries, "retries", 0, 10),
    noiseThresholdPct: int(f["noise-threshold"], "noise-threshold", 1, 100),
    quietWaitS: int(f["quiet-wait"], "quiet-wait", 0, 3600),
    out: String(f.out),
  };
  if (o.routes! > o.services) throw new CliError(`--routes (${o.routes}) cannot exceed --services (${o.services})`);
  if (o.routes === 0 && o.scenarios.includes("route")) throw new CliError("the route scenario needs --routes of at least 1");
  if (f["nack-marker"]) o.nackMarker = String(f["nack-marker"]);
  if (f["cpu-prof"]) o.cpuProfDir = path.resolve(o.out, "profiles");
  if (f["peer-address"]) {
    const [x, h] = String(f["peer-address"]).split(",");
    if (!x || !h) throw new CliError(`--peer-address wants XDS_HOST:PORT,HTTP_HOST:PORT, got "${String(f["peer-address"])}"`);
    parseHostPort(x, "peer-address");
    parseHostPort(h, "peer-address");
    o.peerExternal = { xds: x, http: h };
  }
  if (f.peer) {
    const bin = String(f.peer);
    if (!fs.existsSync(bin)) throw new CliError(`--peer: no such file "${bin}"`);
    o.peerBinary = path.resolve(bin);
  }
  return o;
}

/** Build/probe the peer before anything is measured; any failure is a CliError (exit 2). */
export async function preparePeer(o: BenchOptions): Promise<void> {
  const lo = { ...(o.peerBinary ? { peerBinary: o.peerBinary } : {}), ...(o.peerExternal ? { peerExternal: o.peerExternal } : {}) };
  await checkPeers(o.servers, lo).catch((e: Error) => {
    throw new CliError(e.message);
  });
  if (lo.peerBinary) o.peerBinary = lo.peerBinary;
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags(spec, argv);
  if (!parsed) return 0;
  if (parsed.positionals.length) throw new CliError(`unexpected argument "${parsed.positionals[0]}"`);
  const tty = process.stderr.isTTY;
  const progress = (line: string, transient?: boolean) => {
    if (transient) {
      if (tty) process.stderr.write(`\r\x1b[K${line}`);
      return;
    }
    process.stderr.write(`${tty ? "\r\x1b[K" : ""}${line}\n`);
  };
  if (isKubeRun(parsed.flags)) return runKube(kubeOptionsFromFlags(parsed.flags), progress);
  const o = optionsFromFlags(parsed.flags);
  await preparePeer(o);
  if (o.cpuProfDir) fs.mkdirSync(o.cpuProfDir, { recursive: true });
  const report = await runBench(o, progress);
  process.stdout.write("\n" + table(report));
  const files = writeOutputs(report, o.out);
  process.stdout.write(`\nwrote ${files.json}\n      ${files.svg}\n`);
  if (o.cpuProfDir) process.stdout.write("\n" + summarizeProfiles(o.cpuProfDir));
  return report.results.some((r) => r.error) ? 1 : 0;
}

const serverList = (f: Record<string, unknown>) =>
  String(f.servers)
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);

/** --servers names mini-pilot-kube or istiod: the API-server benchmark (bench/kube-bench.ts). */
function isKubeRun(f: Record<string, unknown>): boolean {
  return serverList(f).some((k) => (KUBE_SERVER_KINDS as string[]).includes(k));
}

function durationFlag(v: unknown, flag: string): number {
  const d = parseIstioDuration(String(v));
  if (!d.ok || d.ms < 0) throw new CliError(`--${flag} wants a duration like 100ms or 2s, got "${String(v)}"`);
  return d.ms;
}

/** Flags → options of the API-server benchmark; every check that needs no cluster (pilot-discovery present, fleet fits the mesh). */
export function kubeOptionsFromFlags(f: Record<string, unknown>): KubeBenchOptions & { out: string } {
  const servers = serverList(f);
  const other = servers.filter((k) => !(KUBE_SERVER_KINDS as string[]).includes(k));
  if (other.length)
    throw new CliError(
      `--servers: ${other.join(", ")} cannot be measured with ${KUBE_SERVER_KINDS.join("/")}: those read a kube-apiserver, the others take snapshots; run them separately`,
    );
  const mode = String(f.mode);
  if (mode !== "sotw" && mode !== "delta") throw new CliError(`--mode wants sotw or delta, got "${mode}"`);
  // The default scenario list is the snapshot bench's; here it means every API-server scenario.
  const scenarios = f.scenarios === SCENARIOS.join(",") ? [...KUBE_SCENARIOS] : list<KubeScenario>(f.scenarios, "scenarios", KUBE_SCENARIOS);
  const o: KubeBenchOptions & { out: string } = {
    servers: [...new Set(servers)] as KubeServerKind[],
    scenarios,
    clients: int(f.clients, "clients", 1, 100_000),
    services: int(f.services, "services", 1, 100_000),
    endpoints: int(f.endpoints, "endpoints", 1, 250),
    routes: int(f.routes, "routes", 0, 100_000),
    mode,
    workers: int(f.workers, "workers", 1, 64),
    streamsPerConn: int(f["streams-per-conn"], "streams-per-conn", 1, 10_000),
    timeoutS: int(f.timeout, "timeout", 1, 3600),
    debounceAfterMs: durationFlag(f["debounce-after"], "debounce-after"),
    debounceMaxMs: durationFlag(f["debounce-max"], "debounce-max"),
    out: String(f.out),
    ...(f["cpu-prof"] ? { cpuProfDir: path.resolve(String(f.out), "profiles") } : {}),
  };
  try {
    checkKubeBench(o);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  return o;
}

async function runKube(o: KubeBenchOptions & { out: string }, progress: (line: string, transient?: boolean) => void): Promise<number> {
  if (o.cpuProfDir) fs.mkdirSync(o.cpuProfDir, { recursive: true });
  const report = await runKubeBench(o, progress);
  process.stdout.write("\n" + kubeTable(report));
  if (o.cpuProfDir) process.stdout.write("\n" + summarizeProfiles(o.cpuProfDir));
  process.stdout.write(`\nwrote ${writeKubeReport(report, o.out)}\n`);
  return report.results.some((r) => r.error || r.missed > 0) ? 1 : 0;
}
