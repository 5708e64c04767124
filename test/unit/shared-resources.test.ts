/**
 * Resources shared across views and kept across changes (generate/shared.ts,
 * push/incremental.ts): two views get the very same cluster object; a
 * VirtualService edit rebuilds only the route configs that read it; an
 * endpoint change only its assignments; a DestinationRule edit exactly its
 * clusters. Every case also checks that the output equals a from-scratch
 * generation (generate() on a mesh built anew, which shares nothing).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildMesh, type Mesh } from "../../src/model/mesh";
import { parseProxy, type ProxyView } from "../../src/model/proxy";
import type { DestinationRule, EndpointSlice, MeshObject, VirtualService } from "../../src/model/types";
import { generate, generateEndpoints } from "../../src/generate";
import { unitBuilds } from "../../src/generate/shared";
import { carrySharedResources } from "../../src/push/incremental";
import type { PushRequest } from "../../src/push/request";
import { type Shape, host, objects, routed, svcName } from "../../bench/synthetic-mesh";

const SHAPE: Shape = { services: 40, namespaces: 4, podsPerService: 3, virtualServices: 10, destinationRules: 10, sidecarViews: 0, runs: 1 };

function sidecar(ns: string, app: string, sds = true): ProxyView {
  const r = parseProxy(`sidecar~10.9.0.1~${app}-0.${ns}~${ns}.svc.cluster.local`, { LABELS: { app, version: "v1" }, ...(sds ? { SDS: "true" } : {}) });
  assert.ok(r.ok);
  return r.proxy;
}

const VIEWS = [sidecar("ns-00", "svc-0"), sidecar("ns-00", "svc-4"), sidecar("ns-01", "svc-1"), sidecar("ns-02", "svc-2", false)];

/** The next mesh after `req`, keeping what the change allows of `prev`'s shared resources (as a push does). */
function next(prev: Mesh, objs: MeshObject[], req: PushRequest): Mesh {
  const mesh = buildMesh(objs).mesh;
  carrySharedResources(prev, mesh, req, false);
  return mesh;
}

function builds(run: () => void): Record<string, number> {
  unitBuilds.clear();
  run();
  return Object.fromEntries([...unitBuilds].sort());
}

function sameAsFromScratch(mesh: Mesh, objs: MeshObject[]): void {
  const fresh = buildMesh(objs).mesh;
  for (const v of VIEWS) assert.equal(JSON.stringify(generate(mesh, v)), JSON.stringify(generate(fresh, v)), `view ${v.id}`);
}

function replace(objs: MeshObject[], o: MeshObject): MeshObject[] {
  return objs.map((x) => (x.kind === o.kind && x.metadata.namespace === o.metadata.namespace && x.metadata.name === o.metadata.name ? o : x));
}

const clusterOf = (mesh: Mesh, v: ProxyView, name: string) => generate(mesh, v).clusters.find((c) => c.name === name)!;

test("views share the very same objects: clusters across namespaces, route configs and EDS within one", () => {
  const mesh = buildMesh(objects(SHAPE)).mesh;
  const [a, b, c] = VIEWS.map((v) => generate(mesh, v));
  const name = `outbound|80||${host(SHAPE, 0)}`;
  assert.ok(a!.clusters.some((x) => x.name === name));
  assert.equal(clusterOf(mesh, VIEWS[0]!, name), clusterOf(mesh, VIEWS[2]!, name), "two namespaces, one cluster object");
  assert.equal(a!.routes[0], b!.routes[0], "same namespace, different app: one route config object");
  assert.equal(a!.endpoints, b!.endpoints, "one EDS list");
  assert.notEqual(a!.routes[0], c!.routes[0], "another namespace has its own short host names");
  // Shared inside, per view outside: each view's own inbound side differs.
  assert.notEqual(JSON.stringify(a!.listeners), JSON.stringify(b!.listeners));
});

test("a VirtualService edit rebuilds only the route configs that read it; clusters, listeners and EDS stay the same objects", () => {
  const objs = objects(SHAPE);
  const mesh = buildMesh(objs).mesh;
  const before = VIEWS.map((v) => generate(mesh, v));
  const target = routed(SHAPE)[0]!;
  const vs = objs.find((o) => o.kind === "VirtualService" && o.metadata.name === svcName(target)) as VirtualService;
  const edited = replace(objs, {
    ...vs,
    spec: { ...vs.spec, http: [{ route: [{ destination: { host: svcName(target), subset: "v2" } }], timeout: "7s" }] },
  } as VirtualService);
  const mesh2 = next(mesh, edited, { full: true, reasons: { VirtualService: 1 } });
  let after: ReturnType<typeof generate>[] = [];
  const built = builds(() => (after = VIEWS.map((v) => generate(mesh2, v))));
  // In each of the 3 namespaces the views are in: the route config list, the port-80 route config, the edited VirtualService's routes.
  assert.deepEqual(built, { routes: 3, "route-port": 3, "vs-routes": 3 }, "nothing else is rebuilt");
  for (let i = 0; i < VIEWS.length; i++) {
    assert.equal(after[i]!.endpoints, before[i]!.endpoints);
    // (BlackHole, passthrough and inbound clusters are the view's own, made with each generation.)
    after[i]!.clusters.forEach((c, k) => String(c.name).startsWith("outbound|") && assert.equal(c, before[i]!.clusters[k], `${c.name} is the same object`));
    const changed = after[i]!.routes.filter((r, k) => r !== before[i]!.routes[k]).map((r) => r.name);
    assert.deepEqual(changed, ["80"], "only the route config of the VirtualService's port is new");
  }
  assert.match(JSON.stringify(after[0]!.routes[0]), /"timeout":"7s"/);
  sameAsFromScratch(mesh2, edited);
});

test("an endpoint change makes new assignments only for the endpoints that changed", () => {
  const objs = objects(SHAPE);
  const mesh = buildMesh(objs).mesh;
  const before = generateEndpoints(mesh, VIEWS[0]!);
  const target = routed(SHAPE)[1]!;
  const slice = objs.find((o) => o.kind === "EndpointSlice" && o.metadata.name === `${svcName(target)}-abc`) as EndpointSlice;
  const grown = replace(objs, {
    ...slice,
    spec: { ...slice.spec, endpoints: [...slice.spec.endpoints, { addresses: ["10.200.0.9"], conditions: { ready: true } }] },
  } as EndpointSlice);
  const mesh2 = next(mesh, grown, { full: false, reasons: { EndpointSlice: 1 } });
  let after: ReturnType<typeof generateEndpoints> = [];
  const built = builds(() => (after = generateEndpoints(mesh2, VIEWS[0]!)));
  assert.deepEqual(built, { "outbound-endpoints": 1 });
  const changed = after.filter((cla, k) => cla !== before[k]).map((cla) => cla.cluster_name);
  assert.deepEqual(
    changed,
    ["v1", "v2", ""].map((s) => `outbound|8080|${s}|${host(SHAPE, target)}`),
    "the service's three assignments (its endpoint list changed; the new endpoint has no labels, so only the first holds it)",
  );
  assert.match(JSON.stringify(after.find((c) => c.cluster_name === changed[2])), /10\.200\.0\.9/);
  assert.equal(JSON.stringify(after), JSON.stringify(generateEndpoints(buildMesh(grown).mesh, VIEWS[0]!)));
  sameAsFromScratch(mesh2, grown);
});

test("a DestinationRule edit makes new clusters exactly for the service it applies to", () => {
  const objs = objects(SHAPE);
  const mesh = buildMesh(objs).mesh;
  const before = generate(mesh, VIEWS[0]!).clusters;
  const target = routed(SHAPE)[2]!;
  const dr = objs.find((o) => o.kind === "DestinationRule" && o.metadata.name === svcName(target)) as DestinationRule;
  const edited = replace(objs, {
    ...dr,
    spec: { ...dr.spec, trafficPolicy: { outlierDetection: { consecutive5xxErrors: 9, interval: "3s" } } },
  } as DestinationRule);
  const mesh2 = next(mesh, edited, { full: true, reasons: { DestinationRule: 1 } });
  const after = generate(mesh2, VIEWS[0]!).clusters;
  assert.equal(after.length, before.length);
  const changed = after.filter((c, k) => c !== before[k]).map((c) => c.name);
  const own = ["", "v1", "v2"].map((s) => `outbound|9080|${s}|${host(SHAPE, target)}`);
  const perView = ["inbound|8000||", "BlackHoleCluster", "InboundPassthroughCluster", "PassthroughCluster"];
  assert.deepEqual(changed.sort(), [...own, ...perView].sort(), "its three clusters, and the per-view ones every generation makes");
  assert.match(JSON.stringify(after.find((c) => c.name === own[0])), /"consecutive_5xx":9/);
  sameAsFromScratch(mesh2, edited);
});
