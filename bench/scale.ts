/**
 * `npm run bench:scale`: how push latency and server memory grow with the
 * fleet (clients, SotW and delta) and with the mesh (services), for
 * mini-pilot and each peer. Every point is one `runBench` route-change run
 * (the same code path as `mini-pilot bench`); the results go to
 * bench-results/scale-<time>.json and four SVG line charts with log axes.
 *
 * Before a size is measured it is checked against the machine: file
 * descriptors (the server holds one socket per --streams-per-conn clients) and
 * available memory (an estimate from measured runs). A size the machine cannot
 * hold is skipped with a message before anything runs, and every point that is
 * missing from the results (skipped, failed, not converged) is listed with why.
 *
 * The default sizes keep a run to a few minutes on 2 cores; --full measures
 * 100 → 10,000 clients and 100 → 10,000 services.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { BenchOptions, runBench } from "./run";
import { DEFAULT_SERVERS, SERVER_KINDS, ServerKind, cachedPeerBinary, checkPeers } from "./servers/launch";
import { LineSeries, lineChart } from "./chart";
import { round } from "./stats";
import type { Mode } from "./fleet/client";

const TARGET = { clients: 10_000, mode: "delta" as Mode, convergenceMs: 3000, rssBytes: 2 * 2 ** 30 };

interface ScaleOptions {
  clientSizes: number[];
  serviceSizes: number[];
  modes: Mode[];
  serviceModes: Mode[];
  servers: ServerKind[];
  /** Mesh for the clients sweep. */
  services: number;
  endpoints: number;
  /** Fleet for the services sweep. */
  servicesClients: number;
  streamsPerConn: number;
  workers: number;
  out: string;
  peerBinary?: string;
}

export interface ScalePoint {
  sweep: "clients" | "services";
  clients: number;
  services: number;
  mode: Mode;
  server: string;
  /** Slowest client's ACK of the route change, ms (NaN: not every client got it). */
  convergenceMs: number;
  p50: number;
  p99: number;
  peakRssBytes: number;
  serverCpuMs: number;
  missed: number;
  otherCpuPct: number;
}

export interface Missing {
  sweep: "clients" | "services";
  clients: number;
  services: number;
  mode: Mode;
  server: string;
  reason: string;
}

const list = (v: string, what: string) =>
  v.split(",").map((x) => {
    const n = Number(x.trim());
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${what} wants a comma-separated list of positive integers, got "${v}"`);
    return n;
  });

function parse(argv: string[]): ScaleOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      full: { type: "boolean" },
      clients: { type: "string" },
      services: { type: "string" },
      modes: { type: "string", default: "sotw,delta" },
      servers: { type: "string", default: DEFAULT_SERVERS.filter((k) => k !== "floor").join(",") },
      "services-clients": { type: "string" },
      "streams-per-conn": { type: "string", default: "10" },
      workers: { type: "string", default: "2" },
      out: { type: "string", default: "bench-results" },
      peer: { type: "string" },
      help: { type: "boolean" },
    },
  });
  if (values.help) {
    process.stdout.write(
      [
        "npm run bench:scale -- [flags]: route-change latency and server memory as clients and services grow",
        "  --full                 clients 100,300,1000,3000,10000 and services 100,300,1000,3000,10000",
        "  --clients LIST         clients sweep sizes (default 100,300,1000), 200 services × 10 endpoints",
        "  --services LIST        services sweep sizes (default 100,300,1000), 10 endpoints each",
        "  --services-clients N   fleet of the services sweep (default 100; --full: 1000)",
        "  --modes LIST           sotw,delta (default both)",
        `  --servers LIST         of ${SERVER_KINDS.join(", ")} (default mini-pilot,go-control-plane)`,
        "  --streams-per-conn N   ADS streams per HTTP/2 connection (default 10)",
        "  --workers N            fleet processes (default 2)",
        "  --out DIR              (default bench-results)",
        "  --peer BIN             go-control-plane peer binary (default: build it)",
        "",
      ].join("\n"),
    );
    process.exit(0);
  }
  const full = Boolean(values.full);
  const modes = values.modes!.split(",").map((m) => {
    if (m !== "sotw" && m !== "delta") throw new Error(`--modes: unknown "${m}"; choose from sotw, delta`);
    return m as Mode;
  });
  const servers = values.servers!.split(",").map((k) => {
    if (!SERVER_KINDS.includes(k as ServerKind)) throw new Error(`--servers: unknown "${k}"; choose from ${SERVER_KINDS.join(", ")}`);
    return k as ServerKind;
  });
  return {
    clientSizes: list(values.clients ?? (full ? "100,300,1000,3000,10000" : "100,300,1000"), "clients"),
    serviceSizes: list(values.services ?? (full ? "100,300,1000,3000,10000" : "100,300,1000"), "services"),
    modes,
    serviceModes: modes,
    servers,
    services: 200,
    endpoints: 10,
    servicesClients: list(values["services-clients"] ?? (full ? "1000" : "100"), "services-clients")[0]!,
    streamsPerConn: list(values["streams-per-conn"]!, "streams-per-conn")[0]!,
    workers: list(values.workers!, "workers")[0]!,
    out: values.out!,
    ...(values.peer ? { peerBinary: path.resolve(values.peer) } : {}),
  };
}

/** The soft limit on open files of this process (children inherit it), or Infinity if unknown. */
export function openFileLimit(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(fs.readFileSync("/proc/self/limits", "utf8"));
    return !m || m[1] === "unlimited" ? Infinity : Number(m[1]);
  } catch {
    return Infinity;
  }
}

export function availableMemoryBytes(): number {
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(fs.readFileSync("/proc/meminfo", "utf8"));
    return m ? Number(m[1]) * 1024 : os.freemem();
  } catch {
    return os.freemem();
  }
}

/**
 * Conservative memory for one run: the largest server plus the fleet. From the
 * measured runs (5,000 delta clients: go-control-plane 1.25 GiB, mini-pilot 0.8 GiB
 * peak; fleet workers ≈ 40 KiB a client) with room to spare: 300 KiB a client for
 * the server, 60 KiB a client for the fleet, 30 KiB an endpoint per process that
 * holds the mesh, 300 MiB fixed.
 */
export function estimateRunBytes(clients: number, services: number, endpoints: number): number {
  return clients * (300 + 60) * 1024 + services * endpoints * 30 * 1024 * 2 + 300 * 2 ** 20;
}

/** Why this run cannot be held by the machine, or undefined when it can. */
export function preflight(clients: number, services: number, endpoints: number, streamsPerConn: number, workers: number): string | undefined {
  const conns = Math.ceil(clients / streamsPerConn);
  // The server holds every connection; each worker holds its share; plus files, pipes and the HTTP API.
  const needFds = conns + Math.ceil(conns / workers) + 256;
  const limit = openFileLimit();
  if (needFds > limit)
    return `needs about ${needFds} open files per process (${conns} HTTP/2 connections of ${streamsPerConn} streams) but the limit is ${limit}: raise it (ulimit -n) or use --streams-per-conn ${Math.ceil(clients / (limit - 300))}`;
  const need = estimateRunBytes(clients, services, endpoints);
  const have = availableMemoryBytes();
  if (need > have) return `needs about ${round(need / 2 ** 30, 1)} GiB of memory (server + fleet) but ${round(have / 2 ** 30, 1)} GiB is available`;
  return undefined;
}

const log = (line: string) => process.stderr.write(line + "\n");

async function sweep(o: ScaleOptions, kind: "clients" | "services", points: ScalePoint[], missing: Missing[], save: () => void): Promise<void> {
  const sizes = kind === "clients" ? o.clientSizes : o.serviceSizes;
  for (const mode of kind === "clients" ? o.modes : o.serviceModes) {
    for (const size of sizes) {
      const clients = kind === "clients" ? size : o.servicesClients;
      const services = kind === "clients" ? o.services : size;
      const where = `${kind} sweep, ${clients} ${mode} clients, ${services} services`;
      const why = preflight(clients, services, o.endpoints, o.streamsPerConn, o.workers);
      if (why) {
        log(`${where}: not measured: ${why}`);
        for (const server of o.servers) missing.push({ sweep: kind, clients, services, mode, server, reason: why });
        continue;
      }
      log(`${where}: measuring ${o.servers.join(", ")}`);
      const opts: BenchOptions = {
        scenarios: ["route"],
        servers: o.servers,
        clients,
        services,
        endpoints: o.endpoints,
        routes: Math.min(20, services),
        mode,
        churnIntervalMs: 500,
        durationS: 1,
        workers: o.workers,
        streamsPerConn: o.streamsPerConn,
        timeoutS: Math.max(60, Math.ceil(clients / 100) + Math.ceil(services / 50)),
        pin: false,
        retries: 0,
        ...(o.peerBinary ? { peerBinary: o.peerBinary } : {}),
      };
      const report = await runBench(opts, (line, transient) => {
        if (!transient) log(`  ${line}`);
      });
      for (const r of report.results) {
        if (r.error || !Number.isFinite(r.convergenceMs)) {
          missing.push({
            sweep: kind,
            clients,
            services,
            mode,
            server: r.server,
            reason: r.error ?? `${r.missed} of ${clients} clients did not get the change within ${opts.timeoutS} s`,
          });
          if (r.error) continue;
        }
        points.push({
          sweep: kind,
          clients,
          services,
          mode,
          server: r.server,
          convergenceMs: r.convergenceMs,
          p50: r.latency.p50,
          p99: r.latency.p99,
          peakRssBytes: r.peakRssBytes,
          serverCpuMs: r.serverCpuMs,
          missed: r.missed,
          otherCpuPct: r.otherCpuPct,
        });
      }
      save();
    }
  }
}

function series(points: ScalePoint[], kind: "clients" | "services", y: (p: ScalePoint) => number): LineSeries[] {
  const mine = points.filter((p) => p.sweep === kind);
  const keys = [...new Set(mine.map((p) => `${p.server} ${p.mode}`))];
  return keys.map((name) => ({
    name,
    dash: name.endsWith("sotw"),
    points: mine.filter((p) => `${p.server} ${p.mode}` === name).map((p) => ({ x: kind === "clients" ? p.clients : p.services, y: round(y(p), 1) })),
  }));
}

export function charts(points: ScalePoint[], o: Pick<ScaleOptions, "services" | "endpoints" | "servicesClients">, when: string): Record<string, string> {
  const cpus = `${os.cpus().length} CPUs`;
  const sub = `log axes; route change; one point per run; a missing point did not converge (see the JSON) — ${when}`;
  const mib = (p: ScalePoint) => p.peakRssBytes / 2 ** 20;
  return {
    "clients-latency": lineChart({
      title: `Route change: slowest client's ACK as the fleet grows (${o.services} services × ${o.endpoints} endpoints, ${cpus})`,
      subtitle: sub,
      xLabel: "clients",
      yLabel: "convergence (ms)",
      target: { y: TARGET.convergenceMs, label: "target: 3 s at 10,000 delta" },
      series: series(points, "clients", (p) => p.convergenceMs),
    }),
    "clients-memory": lineChart({
      title: `Server peak RSS as the fleet grows (${o.services} services × ${o.endpoints} endpoints, ${cpus})`,
      subtitle: sub,
      xLabel: "clients",
      yLabel: "peak RSS (MiB)",
      target: { y: TARGET.rssBytes / 2 ** 20, label: "target: 2 GiB" },
      series: series(points, "clients", mib),
    }),
    "services-latency": lineChart({
      title: `Route change: slowest client's ACK as the mesh grows (${o.servicesClients} clients, ${o.endpoints} endpoints a service, ${cpus})`,
      subtitle: sub,
      xLabel: "services",
      yLabel: "convergence (ms)",
      series: series(points, "services", (p) => p.convergenceMs),
    }),
    "services-memory": lineChart({
      title: `Server peak RSS as the mesh grows (${o.servicesClients} clients, ${o.endpoints} endpoints a service, ${cpus})`,
      subtitle: sub,
      xLabel: "services",
      yLabel: "peak RSS (MiB)",
      series: series(points, "services", mib),
    }),
  };
}

export function scaleTable(points: ScalePoint[], missing: Missing[]): string {
  const f = (n: number, d = 0) => (Number.isFinite(n) ? String(round(n, d)) : "—");
  const rows = points.map(
    (p) =>
      `| ${p.sweep} | ${p.clients} | ${p.services} | ${p.mode} | ${p.server} | ${f(p.convergenceMs)} | ${f(p.p99)} | ${f(p.peakRssBytes / 2 ** 20)} | ${f(p.serverCpuMs)} | ${p.missed} | ${f(p.otherCpuPct)} |`,
  );
  let out = [
    "| sweep | clients | services | mode | server | converge ms | p99 ms | peak RSS MiB | srv CPU ms | missed | other % |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...rows,
  ].join("\n");
  if (missing.length)
    out +=
      "\n\nMissing from these results:\n" +
      missing.map((m) => `  ${m.sweep} sweep, ${m.clients} ${m.mode} clients, ${m.services} services, ${m.server}: ${m.reason}`).join("\n");
  const t = points.find((p) => p.sweep === "clients" && p.clients === TARGET.clients && p.mode === TARGET.mode && p.server === "mini-pilot");
  out += t
    ? `\n\nTarget (10,000 delta clients converge < 3 s with < 2 GiB RSS): ${f(t.convergenceMs)} ms, ${f(t.peakRssBytes / 2 ** 20)} MiB — ${t.convergenceMs < TARGET.convergenceMs && t.peakRssBytes < TARGET.rssBytes ? "met" : "missed"}`
    : "\n\nTarget (10,000 delta clients < 3 s, < 2 GiB): not measured in this run (npm run bench:scale -- --full)";
  return out + "\n";
}

function writeScaleOutputs(o: ScaleOptions, stamp: string, startedAt: string, points: ScalePoint[], missing: Missing[]): string[] {
  fs.mkdirSync(o.out, { recursive: true });
  const json = path.join(o.out, `${stamp}.json`);
  fs.writeFileSync(
    json,
    JSON.stringify({ startedAt, options: o, machine: { cpus: os.cpus().length, node: process.version }, points, missing }, (_k, v: unknown) =>
      typeof v === "number" && !Number.isFinite(v) ? null : v,
    ) + "\n",
  );
  const files = [json];
  for (const [name, svg] of Object.entries(charts(points, o, startedAt))) {
    const f = path.join(o.out, `${stamp}-${name}.svg`);
    fs.writeFileSync(f, svg);
    files.push(f);
  }
  return files;
}

async function main(): Promise<number> {
  let o: ScaleOptions;
  try {
    o = parse(process.argv.slice(2));
  } catch (e) {
    log(`bench:scale: ${(e as Error).message}`);
    return 2;
  }
  const lo = o.peerBinary ? { peerBinary: o.peerBinary } : { ...(cachedPeerBinary() ? { peerBinary: cachedPeerBinary()! } : {}) };
  try {
    await checkPeers(o.servers, lo);
  } catch (e) {
    log(`bench:scale: ${(e as Error).message}`);
    return 2;
  }
  if (lo.peerBinary) o.peerBinary = lo.peerBinary;
  const startedAt = new Date().toISOString();
  log(`bench:scale: open-file limit ${openFileLimit()}, ${round(availableMemoryBytes() / 2 ** 30, 1)} GiB available, ${os.cpus().length} CPUs`);
  const points: ScalePoint[] = [];
  const missing: Missing[] = [];
  const stamp = `scale-${startedAt.replace(/[:.]/g, "-")}`;
  // The JSON and charts are rewritten after every size, so a run that is stopped keeps what it measured.
  const save = () => writeScaleOutputs(o, stamp, startedAt, points, missing);
  await sweep(o, "clients", points, missing, save);
  await sweep(o, "services", points, missing, save);
  const files = save();
  process.stdout.write("\n" + scaleTable(points, missing) + "\nwrote " + files.join("\n      ") + "\n");
  return missing.length ? 1 : 0;
}

if (require.main === module)
  void main().then(
    (code) => process.exit(code),
    (e: Error) => {
      log(`bench:scale: ${e.stack ?? e.message}`);
      process.exit(1);
    },
  );
