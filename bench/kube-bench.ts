/**
 * `mini-pilot bench --servers mini-pilot-kube,istiod`: mini-pilot and istiod
 * (pilot-discovery) each watch the SAME test kube-apiserver
 * (test/kube/cluster.ts) holding the same Services, EndpointSlices, Pods,
 * DestinationRules and VirtualServices (kube-mesh.ts). The fleet speaks as
 * Istio sidecars of those pods. What is measured is the path both share: T0 is
 * taken right before the change is written to the API server (an EndpointSlice
 * patched, a VirtualService's weights edited); each client records when it
 * ACKs the first response carrying it. Watch, debounce, translation and push
 * are all inside the window, for both servers alike.
 *
 * The servers run one after another (never together: 2 cores); the API server
 * is put back to the same state before each run.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Fleet } from "./fleet/fleet";
import type { Mode } from "./fleet/client";
import { CLUSTER, ENDPOINT, ROUTE } from "./fleet/messages";
import type { ChangeSpec } from "./fleet/protocol";
import { Summary, round, summarize } from "./stats";
import * as mesh from "./kube-mesh";
import { installIstioCrds, kubeRequest, startKube, type KubeCluster } from "../test/kube/cluster";
import { findPilotDiscoveryBinary, startIstiod } from "../test/istiod/istiod";
import { startServe } from "../test/support/serve-process";
import { monotonicMicros, type ProfileWindow } from "./profile-summary";

export type KubeServerKind = "mini-pilot-kube" | "istiod";
export const KUBE_SERVERS: Record<KubeServerKind, string> = {
  "mini-pilot-kube": "mini-pilot serve --kubeconfig (the test kube-apiserver), --debounce-after/--debounce-max as given",
  istiod: "istiod (pilot-discovery, test/istiod/setup.sh) on the same kube-apiserver, PILOT_DEBOUNCE_AFTER/MAX as given, plaintext xDS",
};
export const KUBE_SERVER_KINDS = Object.keys(KUBE_SERVERS) as KubeServerKind[];
export type KubeScenario = "endpoint" | "route" | "new-service";
export const KUBE_SCENARIOS: readonly KubeScenario[] = ["endpoint", "route", "new-service"];

export interface KubeBenchOptions {
  servers: KubeServerKind[];
  scenarios: KubeScenario[];
  clients: number;
  services: number;
  endpoints: number;
  routes: number;
  mode: Mode;
  workers: number;
  streamsPerConn: number;
  timeoutS: number;
  debounceAfterMs: number;
  debounceMaxMs: number;
  settleMs?: number;
  /** Run mini-pilot serve under `--cpu-prof` into this folder and cut each measured window out of its profile. */
  cpuProfDir?: string;
}

export interface KubeResult {
  scenario: KubeScenario;
  server: KubeServerKind;
  mode: Mode;
  clients: number;
  /** ms from the API-server write to each client's ACK. */
  latency: Summary;
  missed: number;
  /** Time for the whole fleet to get full config on connect (ms). */
  connectMs: number;
  /** How long the API server took to answer the write (ms; inside the latency). */
  writeMs: number;
  bytes: number;
  responses: number;
  nacks: number;
  disconnects: number;
  serverCpuMs: number;
  peakRssBytes: number;
  error?: string;
}

export interface KubeBenchReport {
  startedAt: string;
  options: KubeBenchOptions;
  machine: { cpus: number; cpuModel: string; node: string; istiod: string };
  results: KubeResult[];
}

type Progress = (line: string, transient?: boolean) => void;
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Checks that need no cluster: the mesh can hold the fleet, pilot-discovery exists. Throws a readable Error. */
export function checkKubeBench(o: KubeBenchOptions): void {
  if (o.clients > o.services * o.endpoints)
    throw new Error(`the fleet is the services' pods: --clients (${o.clients}) cannot exceed --services × --endpoints (${o.services * o.endpoints})`);
  if (o.routes < 1 && o.scenarios.includes("route")) throw new Error("the route scenario needs --routes of at least 1");
  if (o.routes > o.services) throw new Error(`--routes (${o.routes}) cannot exceed --services (${o.services})`);
  if (o.servers.includes("istiod")) {
    try {
      findPilotDiscoveryBinary();
    } catch (e) {
      throw new Error(`istiod cannot run: ${(e as Error).message}\n(run without it: --servers mini-pilot-kube)`);
    }
  }
}

export async function runKubeBench(o: KubeBenchOptions, progress: Progress = () => {}): Promise<KubeBenchReport> {
  checkKubeBench(o);
  const shape: mesh.KubeMeshShape = { services: o.services, endpoints: o.endpoints, routes: o.routes, namespaces: Math.min(2, o.services) };
  const report: KubeBenchReport = {
    startedAt: new Date().toISOString(),
    options: o,
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? "?", node: process.version, istiod: istiodVersion(o) },
    results: [],
  };
  progress(`starting etcd + kube-apiserver`);
  const kube = await startKube();
  try {
    // Istio kinds istiod lists that the default CRD file lacks (Sidecar), as the fidelity harness does.
    await installIstioCrds(kube, { file: path.resolve(__dirname, "../../test/fidelity/crds/extra-istio-crds.yaml") });
    const all = mesh.pods(shape);
    const t0 = now();
    await putMesh(kube, shape, all);
    progress(`mesh in the API server: ${o.services} services, ${all.length} pods, ${o.routes} VirtualServices (${round(now() - t0, 0)} ms)`);
    const fleetSpecs = mesh.clientSpecs(all.slice(0, o.clients));
    let run = 0;
    for (const scenario of o.scenarios) {
      for (const server of o.servers) {
        run++;
        progress(`[${scenario}] ${server}: ${o.clients} ${o.mode} sidecars, ${o.services} services × ${o.endpoints} pods`);
        let r: KubeResult;
        try {
          r = await measure(kube, shape, scenario, server, fleetSpecs, run, o, progress);
        } catch (e) {
          r = failed(scenario, server, o, (e as Error).message);
        }
        report.results.push(r);
        progress(`[${scenario}] ${server}: ${oneLine(r)}`);
      }
    }
  } finally {
    await kube.stop();
  }
  return report;
}

function istiodVersion(o: KubeBenchOptions): string {
  if (!o.servers.includes("istiod")) return "—";
  const dir = path.dirname(findPilotDiscoveryBinary());
  return path.basename(dir);
}

// ------------------------------------------------------------- API server

type Cluster = Pick<KubeCluster, "server" | "token" | "caPem">;
/** An API object as read back: only its resourceVersion is looked at. */
type KubeObj = Record<string, unknown> & { metadata?: { resourceVersion?: string } };

async function must(kube: Cluster, method: string, url: string, body?: unknown, ok = [200, 201]): Promise<KubeObj> {
  const res = await kubeRequest(kube, method, url, body as object, method === "PATCH" ? "application/merge-patch+json" : "application/json");
  if (!ok.includes(res.status)) throw new Error(`${method} ${url}: HTTP ${res.status}: ${res.body.slice(0, 400)}`);
  return res.body ? (JSON.parse(res.body) as KubeObj) : {};
}

const podsUrl = (ns: string) => `/api/v1/namespaces/${ns}/pods`;
const sliceUrl = (svc: number, shape: mesh.KubeMeshShape) =>
  `/apis/discovery.k8s.io/v1/namespaces/${mesh.nsOf(svc, shape)}/endpointslices/${mesh.svcName(svc)}-bench`;
const vsUrl = (svc: number, shape: mesh.KubeMeshShape) =>
  `/apis/networking.istio.io/v1/namespaces/${mesh.nsOf(svc, shape)}/virtualservices/${mesh.svcName(svc)}`;

async function createPod(kube: Cluster, p: mesh.PodInfo): Promise<void> {
  const created = await must(kube, "POST", podsUrl(p.namespace), mesh.podObject(p), [201]);
  created.status = mesh.podStatus(p);
  await must(kube, "PUT", `${podsUrl(p.namespace)}/${p.name}/status`, created, [200]);
}

/** Run `fn` over items, `limit` at a time (the API server takes a few requests in parallel). */
async function eachLimited<T>(items: T[], limit: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function putMesh(kube: Cluster, shape: mesh.KubeMeshShape, all: mesh.PodInfo[]): Promise<void> {
  for (const ns of ["istio-system", ...new Set(all.map((p) => p.namespace))])
    await must(kube, "POST", "/api/v1/namespaces", { metadata: { name: ns } }, [201, 409]);
  const svcs = Array.from({ length: shape.services }, (_, i) => i);
  await eachLimited(all, 8, (p) => createPod(kube, p));
  await eachLimited(svcs, 8, async (s) => {
    const ns = mesh.nsOf(s, shape);
    await must(kube, "POST", `/api/v1/namespaces/${ns}/services`, mesh.serviceObject(s, shape), [201]);
    const members = all.filter((p) => p.svc === s);
    await must(kube, "POST", `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, mesh.endpointSliceObject(s, shape, members), [201]);
    if (s < shape.routes) {
      await must(kube, "POST", `/apis/networking.istio.io/v1/namespaces/${ns}/destinationrules`, mesh.destinationRuleObject(s, shape), [201]);
      await must(kube, "POST", `/apis/networking.istio.io/v1/namespaces/${ns}/virtualservices`, mesh.virtualServiceObject(s, shape, 50), [201]);
    }
  });
}

/**
 * One change, prepared before the server starts (a scale-up's new pod exists
 * first, as the EndpointSlice controller only lists pods that exist), applied
 * at T0, and undone after the run so the next server starts from the same state.
 */
interface PlannedKubeChange {
  spec: ChangeSpec;
  prepare(): Promise<void>;
  apply(): Promise<void>;
  undo(): Promise<void>;
}

function planChange(kube: Cluster, shape: mesh.KubeMeshShape, scenario: KubeScenario, run: number): PlannedKubeChange {
  const svc = 0;
  if (scenario === "endpoint") {
    // Scale svc-0 up by one pod: a fresh IP per run, so each run has its own marker.
    const p = mesh.podInfo(svc, shape.endpoints + run, shape, mesh.podIp(run, 220));
    return {
      spec: { id: run, track: "endpoint", markers: { [ENDPOINT]: mesh.addressMarker(p.ip) } },
      prepare: () => createPod(kube, p),
      apply: async () => {
        // One merge patch, nothing read first: the write is the only API call inside the measured window.
        const members = mesh.pods(shape).filter((x) => x.svc === svc);
        const eps = (mesh.endpointSliceObject(svc, shape, [...members, p]) as { endpoints: unknown[] }).endpoints;
        await must(kube, "PATCH", sliceUrl(svc, shape), { endpoints: eps });
      },
      undo: async () => {
        const members = mesh.pods(shape).filter((x) => x.svc === svc);
        await must(kube, "PATCH", sliceUrl(svc, shape), { endpoints: (mesh.endpointSliceObject(svc, shape, members) as { endpoints: unknown[] }).endpoints });
        await must(kube, "DELETE", `${podsUrl(p.namespace)}/${p.name}?gracePeriodSeconds=0`, undefined, [200, 202, 404]);
      },
    };
  }
  if (scenario === "new-service") return newService(kube, shape, run);
  // route: the v1 weight moves from 50 to a value unique to the run (51..99).
  const w = 51 + ((run - 1) % 49);
  return {
    spec: { id: run, track: "route", markers: { [ROUTE]: mesh.clusterWeightMarker(mesh.subsetCluster(svc, shape, "v1"), w) } },
    prepare: async () => {},
    apply: async () => {
      await must(kube, "PATCH", vsUrl(svc, shape), { spec: (mesh.virtualServiceObject(svc, shape, w) as { spec: unknown }).spec });
    },
    undo: async () => {
      await must(kube, "PATCH", vsUrl(svc, shape), { spec: (mesh.virtualServiceObject(svc, shape, 50) as { spec: unknown }).spec });
    },
  };
}

/**
 * A new Service (its own name per run) with two pods: the pods exist before the
 * server starts; at T0 the Service and then its EndpointSlice are written, as
 * a deployment's Service and the EndpointSlice controller would. Every client
 * must get its cluster (CDS), its endpoints (EDS) and its virtual host (RDS).
 */
function newService(kube: Cluster, shape: mesh.KubeMeshShape, run: number): PlannedKubeChange {
  const svc = shape.services + run; // outside the mesh's range: a name no other object uses
  const ns = mesh.nsOf(svc, shape);
  const members = [0, 1].map((r) => mesh.podInfo(svc, r, shape, mesh.podIp(run * 2 + r, 230)));
  const host = mesh.hostOf(svc, shape);
  return {
    spec: {
      id: run,
      track: "new-service",
      markers: { [CLUSTER]: `outbound|${mesh.PORT}||${host}`, [ENDPOINT]: mesh.addressMarker(members[0]!.ip), [ROUTE]: host },
    },
    prepare: async () => {
      for (const p of members) await createPod(kube, p);
    },
    apply: async () => {
      await must(kube, "POST", `/api/v1/namespaces/${ns}/services`, mesh.serviceObject(svc, shape), [201]);
      await must(kube, "POST", `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, mesh.endpointSliceObject(svc, shape, members), [201]);
    },
    undo: async () => {
      await must(kube, "DELETE", sliceUrl(svc, shape), undefined, [200, 404]);
      await must(kube, "DELETE", `/api/v1/namespaces/${ns}/services/${mesh.svcName(svc)}`, undefined, [200, 404]);
      for (const p of members) await must(kube, "DELETE", `${podsUrl(p.namespace)}/${p.name}?gracePeriodSeconds=0`, undefined, [200, 202, 404]);
    },
  };
}

// ------------------------------------------------------------- servers

interface KubeServer {
  xds: string;
  pid: number;
  stop(): Promise<void>;
}

async function startKubeServer(kind: KubeServerKind, kube: KubeCluster, o: KubeBenchOptions, profileName?: string): Promise<KubeServer> {
  if (kind === "istiod") {
    const istiod = await startIstiod(kube.kubeconfigPath, {
      // The same debounce as mini-pilot's flags (istiod's defaults are 100ms / 10s, mini-pilot's too).
      PILOT_DEBOUNCE_AFTER: `${o.debounceAfterMs}ms`,
      PILOT_DEBOUNCE_MAX: `${o.debounceMaxMs}ms`,
    });
    return { xds: istiod.xdsAddress, pid: istiod.pid, stop: () => istiod.stop() };
  }
  const serve = await startServe(
    ["--kubeconfig", kube.kubeconfigPath, "--debounce-after", `${o.debounceAfterMs}ms`, "--debounce-max", `${o.debounceMaxMs}ms`],
    { LOG_LEVEL: "warn" },
    // serve has no profiling flag of its own: node profiles the whole process, written when it exits on SIGTERM.
    o.cpuProfDir && profileName ? { nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${o.cpuProfDir}`, `--cpu-prof-name=${profileName}`] } : {},
  );
  return {
    xds: `127.0.0.1:${serve.xdsPort}`,
    pid: serve.child.pid!,
    stop: async () => {
      await serve.stop();
    },
  };
}

/** utime + stime of a process, ms (from /proc; clock ticks are 100 Hz on Linux). */
function cpuMs(pid: number): number {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return NaN;
  }
}

function peakRss(pid: number): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

// ------------------------------------------------------------- measuring

async function measure(
  kube: KubeCluster,
  shape: mesh.KubeMeshShape,
  scenario: KubeScenario,
  kind: KubeServerKind,
  clients: ReturnType<typeof mesh.clientSpecs>,
  run: number,
  o: KubeBenchOptions,
  progress: Progress,
): Promise<KubeResult> {
  const change = planChange(kube, shape, scenario, run);
  await change.prepare();
  let server: KubeServer | undefined;
  let fleet: Fleet | undefined;
  try {
    const profileName = kind === "mini-pilot-kube" && o.cpuProfDir ? `serve-${scenario}-${o.mode}-run${run}.cpuprofile` : undefined;
    server = await startKubeServer(kind, kube, o, profileName);
    fleet = await Fleet.create({ target: server.xds, mode: o.mode, clients, workers: o.workers, streamsPerConn: o.streamsPerConn });
    const n = clients.length;
    const c0 = now();
    fleet.connect();
    const ok = await fleet.waitFor(
      (s) => s.configured >= n,
      o.timeoutS * 1000,
      (s) => progress(`[${scenario}] ${kind}: ${s.configured}/${n} configured`, true),
    );
    if (!ok) throw new Error(`only ${fleet.status().configured}/${n} sidecars got full config within ${o.timeoutS} s`);
    const connectMs = now() - c0;
    // Quiet time: pushes caused by the fleet connecting (or the prepared pod) are over.
    await sleep(o.settleMs ?? Math.max(1000, o.debounceAfterMs * 5));
    const before = await fleet.collect();
    const cpu0 = cpuMs(server.pid);
    await fleet.arm(change.spec);
    const window0 = monotonicMicros();
    const t0 = now();
    await change.apply();
    const writeMs = now() - t0;
    await fleet.waitFor(
      (s) => (s.done[change.spec.id] ?? 0) >= n,
      o.timeoutS * 1000,
      (s) => progress(`[${scenario}] ${kind}: ${s.done[change.spec.id] ?? 0}/${n} have the change`, true),
    );
    const cpu1 = cpuMs(server.pid);
    if (profileName) {
      const w: ProfileWindow = { profile: profileName, startUs: window0, endUs: monotonicMicros() };
      fs.writeFileSync(path.join(o.cpuProfDir!, `${scenario}-${o.mode}-${kind}-run${run}.window.json`), JSON.stringify(w));
    }
    const after = await fleet.collect();
    const times = after.changes[change.spec.id] ?? [];
    const samples = times.filter((t): t is number => t !== null && t !== undefined).map((t) => t - t0);
    return {
      scenario,
      server: kind,
      mode: o.mode,
      clients: n,
      latency: summarize(samples),
      missed: n - samples.length,
      connectMs,
      writeMs,
      bytes: after.counters.bytes - before.counters.bytes,
      responses: after.counters.responses - before.counters.responses,
      nacks: after.counters.nacks - before.counters.nacks,
      disconnects: after.counters.disconnects - before.counters.disconnects,
      serverCpuMs: cpu1 - cpu0,
      peakRssBytes: peakRss(server.pid),
    };
  } finally {
    await fleet?.stop().catch(() => {});
    await server?.stop();
    await change.undo();
  }
}

function failed(scenario: KubeScenario, server: KubeServerKind, o: KubeBenchOptions, error: string): KubeResult {
  return {
    scenario,
    server,
    mode: o.mode,
    clients: o.clients,
    latency: summarize([]),
    missed: NaN,
    connectMs: NaN,
    writeMs: NaN,
    bytes: 0,
    responses: 0,
    nacks: 0,
    disconnects: 0,
    serverCpuMs: NaN,
    peakRssBytes: NaN,
    error,
  };
}

const fmt = (n: number, d = 1) => (Number.isFinite(n) ? String(round(n, d)) : "—");

function oneLine(r: KubeResult): string {
  if (r.error) return `error: ${r.error}`;
  return `p50 ${fmt(r.latency.p50)} ms, p99 ${fmt(r.latency.p99)} ms, max ${fmt(r.latency.max)} ms, missed ${r.missed}, NACKs ${r.nacks}, server CPU ${fmt(r.serverCpuMs, 0)} ms`;
}

/** Markdown table of a report (the CLI prints it; docs/BENCHMARKS.md quotes one). */
export function kubeTable(report: KubeBenchReport): string {
  const head = [
    "scenario",
    "server",
    "clients",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "max ms",
    "missed",
    "KiB rx",
    "responses",
    "srv CPU ms",
    "peak RSS MiB",
    "connect ms",
  ];
  const rows = report.results.map((r) =>
    r.error
      ? [r.scenario, r.server, String(r.clients), "error (below)"]
      : [
          r.scenario,
          r.server,
          String(r.clients),
          fmt(r.latency.p50),
          fmt(r.latency.p90),
          fmt(r.latency.p99),
          fmt(r.latency.max),
          String(r.missed),
          fmt(r.bytes / 1024),
          String(r.responses),
          fmt(r.serverCpuMs, 0),
          fmt(r.peakRssBytes / 2 ** 20),
          fmt(r.connectMs, 0),
        ],
  );
  const line = (c: string[]) => `| ${c.join(" | ")} |`;
  const errors = report.results.filter((r) => r.error).map((r) => `  ${r.scenario}/${r.server}: ${r.error}`);
  return [line(head), line(head.map(() => "---")), ...rows.map(line), ...(errors.length ? ["", "errors:", ...errors] : [])].join("\n") + "\n";
}

export function writeKubeReport(report: KubeBenchReport, outDir: string): string {
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `bench-kube-${report.startedAt.replace(/[:.]/g, "-")}.json`);
  fs.writeFileSync(file, JSON.stringify(report, null, 2) + "\n");
  return file;
}
