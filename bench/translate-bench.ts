/**
 * Translation benchmark (`npm run bench:translate`): how long the pure stages
 * take on a large synthetic mesh, built in memory as validated objects:
 * 5,000 Services over 20 namespaces (ports 80/8080/9080 HTTP, 9090 gRPC,
 * 3306 TCP), 50,000 endpoints (10 pods each, versions v1/v2), 1,000
 * VirtualServices (header match + 90/10 split, 100 of them also bound to an
 * ingress gateway) and 1,000 DestinationRules (subsets v1/v2, a traffic
 * policy).
 *
 * Measured: buildMesh; generate for one sidecar view; then, as the push
 * pipeline does, every distinct view (48 sidecar views - namespaces x labels -,
 * one gateway, one proxyless gRPC client: 50 proxyViewKeys) generated and its
 * resources encoded through one shared EncodeCache (hit rate per type:
 * identical resources across views are encoded once; the time to build the
 * cache keys, each resource's JSON text, is shown apart), once cold and once
 * more on the same mesh; an endpoint change (10 services scale by one pod):
 * buildMesh again, generateEndpoints for the changed clusters of every view,
 * encode.
 *
 * Flags: --services N (5000), --views N (48 sidecar views), --runs N (3; the
 * median is reported).
 */
import { performance } from "node:perf_hooks";
import { buildMesh, Mesh } from "../src/model/mesh";
import type { ProxyView } from "../src/model/proxy";
import { Shape, host, objects, portOf, routed, views } from "./synthetic-mesh";
import { generate, generateEndpoints, GeneratedResources } from "../src/generate";
import { outboundClusterName } from "../src/generate/names";
import { EncodeCache } from "../src/xds/encode-cache";
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, XdsTypeUrl } from "../src/xds/types";

const TYPES: [XdsTypeUrl, keyof GeneratedResources][] = [
  [LISTENER, "listeners"],
  [ROUTE, "routes"],
  [CLUSTER, "clusters"],
  [ENDPOINT, "endpoints"],
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function time<T>(runs: number, f: () => T): { ms: number; value: T } {
  const ms: number[] = [];
  let value!: T;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    value = f();
    ms.push(performance.now() - t0);
  }
  return { ms: median(ms), value };
}

const count = (g: GeneratedResources) => g.listeners.length + g.routes.length + g.clusters.length + g.endpoints.length;

interface TypeTally {
  type: keyof GeneratedResources;
  calls: number;
  encoded: number;
}

/** One pass over every view the way the push pipeline works: generate, then encode through the shared cache. */
interface Pass {
  generateMs: Map<string, number[]>;
  encodeMs: number;
  /** Of encodeMs: building the cache keys (JSON text of each resource). */
  keyMs: number;
  resources: number;
  tallies: TypeTally[];
}

function kindOf(v: ProxyView): string {
  return v.generator === "grpc" ? "grpc" : v.kind;
}

function pass(all: ProxyView[], cache: EncodeCache, gen: (v: ProxyView) => GeneratedResources): Pass {
  const p: Pass = { generateMs: new Map(), encodeMs: 0, keyMs: 0, resources: 0, tallies: TYPES.map(([, type]) => ({ type, calls: 0, encoded: 0 })) };
  for (const v of all) {
    const t0 = performance.now();
    const out = gen(v);
    const ms = performance.now() - t0;
    p.generateMs.set(kindOf(v), [...(p.generateMs.get(kindOf(v)) ?? []), ms]);
    p.resources += count(out);
    TYPES.forEach(([url, key], i) => {
      const t = p.tallies[i]!;
      const k0 = performance.now();
      for (const r of out[key]) JSON.stringify(r);
      const k1 = performance.now();
      const before = cache.encodes;
      for (const r of out[key]) cache.encode(url, r);
      p.encodeMs += performance.now() - k1;
      p.keyMs += k1 - k0;
      t.calls += out[key].length;
      t.encoded += cache.encodes - before;
    });
  }
  return p;
}

function row(cells: (string | number)[], widths: number[]): string {
  return cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]!) : String(c).padStart(widths[i]!))).join("  ");
}

function flag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? Number(args[i + 1]) : fallback;
}

const total = (ms: Map<string, number[]>) => [...ms.values()].flat().reduce((a, b) => a + b, 0);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function main(): void {
  const args = process.argv.slice(2);
  const shape: Shape = {
    services: flag(args, "services", 5000),
    namespaces: 20,
    podsPerService: 10,
    virtualServices: 1000,
    destinationRules: 1000,
    sidecarViews: flag(args, "views", 48),
    runs: flag(args, "runs", 3),
  };
  const objs = objects(shape);
  const built = time(shape.runs, () => buildMesh(objs));
  const mesh: Mesh = built.value.mesh;
  const all = views(shape);
  const one = time(shape.runs, () => generate(mesh, all[0]!));

  const cache = new EncodeCache(2_000_000);
  const cold = pass(all, cache, (v) => generate(mesh, v));
  const warm = pass(all, cache, (v) => generate(mesh, v));

  // Endpoint change: 10 services gain a pod. Rebuild the mesh, regenerate EDS of the changed clusters only.
  const changed = routed(shape).slice(0, 10);
  const changedObjs = objects(shape, new Set(changed));
  const rebuilt = time(1, () => buildMesh(changedObjs));
  const mesh2 = rebuilt.value.mesh;
  const names = changed.flatMap((i) => ["", "v1", "v2"].map((s) => outboundClusterName(portOf(i).port, s || undefined, host(shape, i))));
  const eds = pass(all, cache, (v) => ({ listeners: [], routes: [], clusters: [], endpoints: generateEndpoints(mesh2, v, names) }));

  const w = [52, 10, 12];
  const lines = [
    `translate-bench: ${shape.services} services, ${shape.services * shape.podsPerService} endpoints, ${shape.virtualServices} VirtualServices, ${shape.destinationRules} DestinationRules, ${shape.namespaces} namespaces; ${all.length} distinct views (${shape.sidecarViews} sidecar, 1 gateway, 1 gRPC)`,
    row(["stage", "ms", "resources"], w),
    row([`buildMesh (median of ${shape.runs})`, built.ms.toFixed(1), `${objs.length} objs`], w),
    row([`generate, one sidecar view (median of ${shape.runs})`, one.ms.toFixed(1), count(one.value)], w),
    row([`generate, all ${all.length} views`, total(cold.generateMs).toFixed(1), cold.resources], w),
  ];
  for (const [kind, ms] of cold.generateMs) lines.push(row([`  per ${kind} view (mean of ${ms.length})`, mean(ms).toFixed(1), ""], w));
  lines.push(row(["encode all views, cold EncodeCache", cold.encodeMs.toFixed(1), sum(cold.tallies).calls], w));
  for (const t of cold.tallies) lines.push(row([`  ${t.type}: ${t.encoded} encoded, hit rate ${pct(t)}`, "", t.calls], w));
  lines.push(row(["  (JSON text of every resource, the cache key)", cold.keyMs.toFixed(1), ""], w));
  lines.push(row([`generate all views again (same mesh)`, total(warm.generateMs).toFixed(1), warm.resources], w));
  lines.push(row([`encode again: hit rate ${pct(sum(warm.tallies))}`, warm.encodeMs.toFixed(1), sum(warm.tallies).calls], w));
  lines.push(row([`endpoint change (${changed.length} services): buildMesh`, rebuilt.ms.toFixed(1), ""], w));
  lines.push(row([`  generateEndpoints, ${names.length} clusters x ${all.length} views`, total(eds.generateMs).toFixed(1), eds.resources], w));
  lines.push(row([`  encode: ${sum(eds.tallies).encoded} new, hit rate ${pct(sum(eds.tallies))}`, eds.encodeMs.toFixed(1), sum(eds.tallies).calls], w));
  lines.push(`heap used ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB; EncodeCache entries ${cache.size}`);
  process.stdout.write(lines.join("\n") + "\n");
}

function sum(ts: TypeTally[]): { calls: number; encoded: number } {
  return ts.reduce((a, t) => ({ calls: a.calls + t.calls, encoded: a.encoded + t.encoded }), { calls: 0, encoded: 0 });
}

function pct(t: { calls: number; encoded: number }): string {
  return t.calls === 0 ? "-" : `${(((t.calls - t.encoded) / t.calls) * 100).toFixed(1)}%`;
}

main();
