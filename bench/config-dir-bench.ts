/**
 * How long from a YAML edit to every connected client ACKing the change:
 * `mini-pilot serve --config-dir` as a user runs it, the benchmark fleet (real
 * SotW ADS clients in worker processes), the bill-service VirtualService edited
 * on disk. Usage: node dist/bench/config-dir-bench.js [clients...] (default 1 100 1000)
 *
 * The time includes the file watch and the debounce (--debounce-after 100ms,
 * the default), because a user editing a file waits for both. Each row also
 * has serve's CPU per edit (/proc, 10 ms ticks) and the load average; with
 * BENCH_CPU_PROF_DIR=DIR serve runs under `node --cpu-prof` and each edit's
 * window is written next to its profile (`node dist/bench/profile-summary.js DIR`).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startServe } from "../test/support/serve-process";
import { Fleet, makeClientSpecs } from "./fleet/fleet";
import { now } from "./fleet/client";
import { ROUTE } from "../src/xds/types";
import { monotonicMicros, type ProfileWindow } from "./profile-summary";

/** utime + stime of a process, ms (10 ms ticks). */
function cpuMs(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
}

const EXAMPLES = path.join(__dirname, "..", "..", "examples", "bill-service");
const SERVICES = 50;

/** The seed scenario plus SERVICES more HTTP services with 10 endpoints each, all visible mesh-wide. */
function writeMesh(dir: string): void {
  for (const f of fs.readdirSync(EXAMPLES)) if (f !== "virtual-service.yaml") fs.copyFileSync(path.join(EXAMPLES, f), path.join(dir, f));
  const docs: string[] = [];
  for (let i = 0; i < SERVICES; i++) {
    docs.push(`apiVersion: v1
kind: Service
metadata: {name: svc-${i}, namespace: default}
spec: {clusterIP: 10.97.${i >> 8}.${i & 255}, selector: {app: svc-${i}}, ports: [{name: http, port: ${9000 + (i % 5)}, targetPort: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: svc-${i}-x, namespace: default, labels: {kubernetes.io/service-name: svc-${i}}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
${Array.from({ length: 10 }, (_, j) => `  - {addresses: ["10.${100 + (i >> 8)}.${i & 255}.${j + 1}"], conditions: {ready: true}}`).join("\n")}`);
  }
  fs.writeFileSync(path.join(dir, "services.gen.yaml"), docs.join("\n---\n") + "\n");
  writeVirtualService(dir, "edit-0");
}

/** The 90/10 VirtualService; the marker lands in RDS as a request header value. */
function writeVirtualService(dir: string, marker: string): void {
  fs.writeFileSync(
    path.join(dir, "virtual-service.yaml"),
    `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bill-service-route, namespace: default}
spec:
  hosts: [bill-service]
  http:
    - headers: {request: {set: {x-edit: ${marker}}}}
      route:
        - {destination: {host: bill-service, subset: v1}, weight: 90}
        - {destination: {host: bill-service, subset: v2}, weight: 10}
`,
  );
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function measure(clients: number): Promise<object> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mp-edit-bench-"));
  writeMesh(dir);
  const profDir = process.env.BENCH_CPU_PROF_DIR;
  const profile = `serve-config-dir-${clients}.cpuprofile`;
  if (profDir) fs.mkdirSync(profDir, { recursive: true });
  const serve = await startServe(
    ["--config-dir", dir],
    {},
    profDir ? { nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${profile}`] } : {},
  );
  const fleet = await Fleet.create({ target: `127.0.0.1:${serve.xdsPort}`, mode: "sotw", clients: makeClientSpecs(clients), workers: 2, streamsPerConn: 10 });
  try {
    fleet.connect();
    if (!(await fleet.waitFor((s) => s.configured >= clients, 120_000))) throw new Error(`only ${fleet.status().configured}/${clients} configured`);
    const rounds: number[][] = [];
    const cpu: number[] = [];
    for (let round = 1; round <= 3; round++) {
      await new Promise((r) => setTimeout(r, 500));
      const marker = `edit-${round}`;
      await fleet.arm({ id: round, track: "vs", markers: { [ROUTE]: marker } });
      const c0 = cpuMs(serve.child.pid!);
      const w0 = monotonicMicros();
      const t0 = now();
      writeVirtualService(dir, marker);
      if (!(await fleet.waitFor((s) => (s.done[round] ?? 0) >= clients, 60_000)))
        throw new Error(`edit ${round}: only ${fleet.status().done[round] ?? 0}/${clients} ACKed`);
      cpu.push(cpuMs(serve.child.pid!) - c0);
      const w: ProfileWindow = { profile, startUs: w0, endUs: monotonicMicros() };
      if (profDir) fs.writeFileSync(path.join(profDir, `edit-${round}-${clients}-clients.window.json`), JSON.stringify(w));
      const r = await fleet.collect();
      rounds.push(r.changes[round]!.map((t) => t! - t0).sort((a, b) => a - b));
    }
    const all = rounds.flat().sort((a, b) => a - b);
    const lastAcks = rounds.map((r) => r[r.length - 1]!);
    return {
      clients,
      edits: rounds.length,
      p50Ms: Math.round(percentile(all, 50)),
      p99Ms: Math.round(percentile(all, 99)),
      allAckedMs: lastAcks.map((x) => Math.round(x)),
      serveCpuMsPerEdit: cpu,
      loadAverage: os.loadavg()[0]!.toFixed(1),
    };
  } finally {
    await fleet.stop();
    await serve.stop();
  }
}

async function main(): Promise<void> {
  const sizes = process.argv.slice(2).map(Number);
  const rows = [];
  for (const n of sizes.length > 0 ? sizes : [1, 100, 1000]) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`client counts must be positive integers, got ${n}`);
    const row = await measure(n);
    process.stdout.write(JSON.stringify(row) + "\n");
    rows.push(row);
  }
  console.table(rows);
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
