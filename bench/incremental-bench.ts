/**
 * Incremental translation benchmark (`npm run bench:incremental`): the real
 * PushPipeline over the synthetic mesh of synthetic-mesh.ts (5,000 services,
 * 50,000 endpoints, 1,000 VirtualServices, 1,000 DestinationRules by default)
 * with `--views` distinct sidecar views connected (one proxy each, SDS on, as
 * pilot-agent's sidecars), pushes run in one go (no slicing) so each is timed
 * whole. Measured, each with wall ms and process CPU ms:
 *
 * - build: the mesh model (the pipeline's constructor), then every view's
 *   snapshot as its proxy connects (generate + encode + snapshot);
 * - a one-VirtualService change (its 90/10 split becomes 80/20) pushed to every
 *   view; then an endpoint change (one service gains a pod): the push's total,
 *   and apart the model build (buildMesh + what to keep), the rest being
 *   generation, encoding and publishing;
 * - memory: heap (after a full GC) per distinct view, and per extra proxy that
 *   joins an existing view (`--extra` proxies, default 1,000).
 *
 * Flags: --services N (5000), --views N (200), --extra N (1000), --changes N
 * (3: each change is made N times, the median is reported). Run with
 * `node --expose-gc` (the npm script does) for the heap numbers.
 */
import { performance } from "node:perf_hooks";
import { ConfigStore } from "../src/store";
import { PushPipeline, PushReport } from "../src/push/pipeline";
import type { NodeInfo } from "../src/cache/snapshot-cache";
import type { EndpointSlice, MeshObject, Pod, VirtualService } from "../src/model/types";
import { Shape, ns, objects, podIp, routed, svcName, withSplitWeight } from "./synthetic-mesh";

function flag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? Number(args[i + 1]) : fallback;
}

const gc = (globalThis as { gc?: () => void }).gc;
function heapMiB(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

interface Timed {
  ms: number;
  cpuMs: number;
}

function timed(f: () => void): Timed {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  f();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { ms, cpuMs: (c.user + c.system) / 1000 };
}

/** Sidecar `v` of view `view`: namespace and labels of service `view` (so views are distinct), its own pod name and IP. */
function sidecarNode(shape: Shape, view: number, replica: number): NodeInfo {
  const n = ns(shape, view);
  const ip = `10.${1 + (replica >> 16)}.${(replica >> 8) & 255}.${replica & 255}`;
  return {
    id: `sidecar~${ip}~${svcName(view)}-${replica}.${n}~${n}.svc.cluster.local`,
    cluster: svcName(view),
    metadata: { NAMESPACE: n, LABELS: { app: svcName(view), version: "v1" }, SDS: "true" },
  };
}

function connect(pipeline: PushPipeline, node: NodeInfo): void {
  const r = pipeline.cache.resolve(node);
  if (!r.ok) throw new Error(r.error);
  pipeline.cache.watch(r.group, () => undefined, node.id);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function main(): void {
  const args = process.argv.slice(2);
  const shape: Shape = {
    services: flag(args, "services", 5000),
    namespaces: 20,
    podsPerService: 10,
    virtualServices: 1000,
    destinationRules: 1000,
    sidecarViews: flag(args, "views", 200),
    runs: flag(args, "changes", 3),
  };
  const extra = flag(args, "extra", 1000);
  const objs = objects(shape);
  const store = new ConfigStore();
  store.apply(objs);
  const heap0 = heapMiB();
  const pushes: PushReport[] = [];
  let pipeline!: PushPipeline;
  const mesh = timed(() => {
    pipeline = new PushPipeline(store, { sliceAboveObjects: Infinity, onPush: (r) => pushes.push(r), debounceAfterMs: 1, debounceMaxMs: 1 });
  });
  const heapMesh = heapMiB();
  const build = timed(() => {
    for (let v = 0; v < shape.sidecarViews; v++) connect(pipeline, sidecarNode(shape, v, 0));
  });
  if (pipeline.groupCount() !== shape.sidecarViews) throw new Error(`expected ${shape.sidecarViews} groups, got ${pipeline.groupCount()}`);
  const heapViews = heapMiB();
  const join = timed(() => {
    for (let k = 0; k < extra; k++) connect(pipeline, sidecarNode(shape, k % shape.sidecarViews, 1 + k));
  });
  const heapJoined = heapMiB();

  const target = routed(shape)[0]!;
  const vs = objs.find((o) => o.kind === "VirtualService" && o.metadata.name === svcName(target)) as VirtualService;
  const vsRuns: { t: Timed; r: PushReport }[] = [];
  for (let k = 0; k < shape.runs; k++) {
    const w = 80 - k; // a new split each time
    store.apply([withSplitWeight(vs, w)]);
    const t = timed(() => pipeline.flush());
    vsRuns.push({ t, r: pushes[pushes.length - 1]! });
  }
  const epRuns: { t: Timed; r: PushReport }[] = [];
  for (let k = 0; k < shape.runs; k++) {
    store.apply(grownService(shape, objs, target, k + 1));
    const t = timed(() => pipeline.flush());
    epRuns.push({ t, r: pushes[pushes.length - 1]! });
  }
  const row = (label: string, t: Timed, extraText = "") => `${label.padEnd(58)}${t.ms.toFixed(1).padStart(10)}${t.cpuMs.toFixed(0).padStart(10)}  ${extraText}`;
  const pushRow = (label: string, runs: { t: Timed; r: PushReport }[]) => {
    const pick = runs.find((x) => x.t.ms === median(runs.map((y) => y.t.ms)))!;
    const c = pick.r.carried;
    return [
      row(`${label} (median of ${runs.length}): whole push`, pick.t, `changed groups ${pick.r.changedGroups}, encodes ${pick.r.encodes}`),
      row(`  of which model (buildMesh, what to keep)`, { ms: pick.r.meshMs, cpuMs: pick.r.meshCpuMs }, `units kept ${c.unitsKept}, dropped ${c.unitsDropped}`),
      row(`  of which generate + encode + snapshots, ${pipeline.groupCount()} views`, {
        ms: pick.r.ms - pick.r.meshMs,
        cpuMs: pick.r.cpuMs - pick.r.meshCpuMs,
      }),
    ];
  };
  const lines = [
    `incremental-bench: ${shape.services} services, ${shape.services * shape.podsPerService} endpoints, ${shape.virtualServices} VirtualServices, ${shape.destinationRules} DestinationRules; ${shape.sidecarViews} distinct sidecar views (+${extra} proxies joining them)`,
    `${"stage".padEnd(58)}${"ms".padStart(10)}${"cpu ms".padStart(10)}`,
    row("model (buildMesh of the pipeline's first mesh)", mesh),
    row(`full build: every view's snapshot (${shape.sidecarViews} views)`, build),
    row(`${extra} more proxies join existing views`, join),
    ...pushRow("one-VirtualService change", vsRuns),
    ...pushRow("endpoint change (one service +1 pod)", epRuns),
    gc
      ? `heap: store ${heap0.toFixed(0)} MiB; + mesh ${(heapMesh - heap0).toFixed(0)} MiB; + ${shape.sidecarViews} views ${(heapViews - heapMesh).toFixed(0)} MiB = ${(((heapViews - heapMesh) * 1024) / shape.sidecarViews).toFixed(0)} KiB per distinct view; + ${extra} proxies in existing views ${(heapJoined - heapViews).toFixed(1)} MiB = ${(((heapJoined - heapViews) * 1024) / Math.max(1, extra)).toFixed(1)} KiB per proxy`
      : "heap: run with node --expose-gc for the memory numbers",
  ];
  process.stdout.write(lines.join("\n") + "\n");
  pipeline.stop();
}

/** The EndpointSlice of service `i` with `more` extra pods, and those pods. */
function grownService(shape: Shape, objs: MeshObject[], i: number, more: number): MeshObject[] {
  const slice = objs.find((o) => o.kind === "EndpointSlice" && o.metadata.name === `${svcName(i)}-abc`) as EndpointSlice;
  const out: MeshObject[] = [];
  const endpoints = [...slice.spec.endpoints];
  for (let k = 0; k < more; k++) {
    const pod = `${svcName(i)}-extra-${k}`;
    const addr = podIp(i * 16 + shape.podsPerService + k);
    out.push({
      kind: "Pod",
      apiVersion: "v1",
      metadata: { name: pod, namespace: ns(shape, i), labels: { app: svcName(i), version: "v1" } },
      spec: { podIP: addr, phase: "Running", ready: true },
    } as Pod);
    endpoints.push({ addresses: [addr], conditions: { ready: true }, targetRef: { kind: "Pod", name: pod, namespace: ns(shape, i) } });
  }
  out.push({ ...slice, spec: { ...slice.spec, endpoints } } as EndpointSlice);
  return out;
}

main();
