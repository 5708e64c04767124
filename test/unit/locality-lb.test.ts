/**
 * Locality load balancing as istiod does it: endpoint locality from the Node
 * (or the pod's locality label), the proxy's own locality, priorities with
 * outlier detection, distribute weights, failover rules, failoverPriority
 * labels, `enabled`, the mesh default, and per-locality sharing of EDS.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildMesh, BuildMeshOptions, Mesh } from "../../src/model/mesh";
import { parseProxy, ProxyView, NodeLocality, proxyViewKey } from "../../src/model/proxy";
import type { MeshObject } from "../../src/model/types";
import { generate, generateEndpoints } from "../../src/generate";
import { ViewIndex } from "../../src/generate/view-key";
import type { ClusterLoadAssignment } from "../../src/generate/envoy";
import { endpointSlice } from "../support/mesh-fixtures";

const CLUSTER = "outbound|80||api.default.svc.cluster.local";

function node(name: string, labels: Record<string, string>): MeshObject {
  return { kind: "Node", apiVersion: "v1", metadata: { name, labels } } as MeshObject;
}

function pod(name: string, ip: string, nodeName: string, labels: Record<string, string> = {}): MeshObject {
  return {
    kind: "Pod",
    apiVersion: "v1",
    metadata: { name, namespace: "default", labels: { app: "api", ...labels } },
    spec: { nodeName, podIP: ip, containers: [] },
  } as unknown as MeshObject;
}

/** api: one pod per node; the slice's zone hints are wrong on purpose (istiod never reads them). */
function objects(trafficPolicy?: Record<string, unknown>): MeshObject[] {
  const out: MeshObject[] = [
    node("node-a", { "topology.kubernetes.io/region": "r1", "topology.kubernetes.io/zone": "r1-a" }),
    node("node-b", { "topology.kubernetes.io/region": "r1", "topology.kubernetes.io/zone": "r1-b" }),
    node("node-c", { "topology.kubernetes.io/region": "r2", "topology.kubernetes.io/zone": "r2-a", "topology.istio.io/subzone": "rack1" }),
    node("node-old", { "failure-domain.beta.kubernetes.io/region": "r3", "failure-domain.beta.kubernetes.io/zone": "r3-a" }),
    pod("api-a", "10.0.0.1", "node-a", { tier: "gold" }),
    pod("api-b", "10.0.0.2", "node-b"),
    pod("api-c", "10.0.0.3", "node-c", { tier: "gold" }),
    pod("api-d", "10.0.0.4", "node-old"),
    // The pod's own label wins over its Node; "." stands for "/" (Kubernetes labels cannot hold "/").
    pod("api-e", "10.0.0.5", "node-a", { "istio-locality": "r4.r4-a" }),
    {
      kind: "Service",
      apiVersion: "v1",
      metadata: { name: "api", namespace: "default" },
      spec: { clusterIP: "10.96.0.10", selector: { app: "api" }, ports: [{ name: "http", port: 80, targetPort: 8080 }] },
    },
    endpointSlice(
      "api",
      8080,
      ["a", "b", "c", "d", "e"].map((s, i) => ({
        addresses: [`10.0.0.${i + 1}`],
        zone: "hint-zone",
        targetRef: { kind: "Pod", name: `api-${s}`, namespace: "default" },
      })),
    ),
  ];
  if (trafficPolicy) {
    out.push({
      kind: "DestinationRule",
      apiVersion: "networking.istio.io/v1",
      metadata: { name: "api", namespace: "default" },
      spec: { host: "api", trafficPolicy },
    } as MeshObject);
  }
  return out;
}

function meshOf(trafficPolicy?: Record<string, unknown>, options: BuildMeshOptions = {}): Mesh {
  const { mesh, diagnostics } = buildMesh(objects(trafficPolicy), options);
  assert.deepEqual(
    diagnostics.filter((d) => d.severity === "error"),
    [],
  );
  return mesh;
}

function proxy(labels: Record<string, string> = {}, nodeLocality?: NodeLocality, i = 1): ProxyView {
  const r = parseProxy(`sidecar~10.1.0.${i}~sleep-${i}.default~default.svc.cluster.local`, { LABELS: labels }, nodeLocality);
  assert.ok(r.ok);
  return r.proxy;
}

const IN_R1A = proxy({}, { region: "r1", zone: "r1-a" });

function cla(mesh: Mesh, p: ProxyView): ClusterLoadAssignment {
  const found = generateEndpoints(mesh, p).find((c) => c.cluster_name === CLUSTER);
  assert.ok(found);
  return found;
}

/** "locality: priority weight [addresses]" per LocalityLbEndpoints. */
function summary(c: ClusterLoadAssignment): string[] {
  return (c.endpoints ?? []).map((e) => {
    const l = e.locality ? [e.locality.region, e.locality.zone, e.locality.sub_zone].filter((x) => x !== undefined).join("/") : "-";
    const addrs = (e.lb_endpoints ?? []).map((lb) => lb.endpoint?.address?.socket_address?.address).join(",");
    return `${l}: p${e.priority ?? 0} w${e.load_balancing_weight} [${addrs}]`;
  });
}

const OUTLIER = { outlierDetection: { consecutive5xxErrors: 1, interval: "1s", baseEjectionTime: "30s" } };

test("endpoint locality comes from the Node (GA labels, then beta ones) or the pod's istio-locality label, never the slice's zone hint", () => {
  assert.deepEqual(summary(cla(meshOf(), IN_R1A)), [
    "r1/r1-a: p0 w1 [10.0.0.1]",
    "r1/r1-b: p0 w1 [10.0.0.2]",
    "r2/r2-a/rack1: p0 w1 [10.0.0.3]",
    "r3/r3-a: p0 w1 [10.0.0.4]",
    "r4/r4-a: p0 w1 [10.0.0.5]",
  ]);
});

test("an endpoint whose Node is unknown has no locality (not the zone hint)", () => {
  const objs = objects().filter((o) => !(o.kind === "Node" && o.metadata.name === "node-b"));
  const c = generateEndpoints(buildMesh(objs).mesh, IN_R1A).find((x) => x.cluster_name === CLUSTER)!;
  assert.deepEqual(summary(c)[0], "-: p0 w1 [10.0.0.2]");
});

test("the proxy's locality: topology labels, else its locality label, else the Envoy node's", () => {
  assert.deepEqual(proxy({ "topology.kubernetes.io/region": "r9", "topology.kubernetes.io/zone": "z9" }, { region: "r1" }).locality, {
    region: "r9",
    zone: "z9",
    subzone: "",
  });
  assert.deepEqual(proxy({ "istio-locality": "r8.z8.s8" }, { region: "r1" }).locality, { region: "r8", zone: "z8", subzone: "s8" });
  assert.deepEqual(proxy({ "topology.istio.io/locality": "r7/z7" }).locality, { region: "r7", zone: "z7", subzone: "" });
  assert.deepEqual(proxy({}, { region: "r1", zone: "r1-a", sub_zone: "s" }).locality, { region: "r1", zone: "r1-a", subzone: "s" });
  assert.deepEqual(proxy().locality, { region: "", zone: "", subzone: "" });
  assert.notEqual(proxyViewKey(proxy({}, { region: "r1" })), proxyViewKey(proxy({}, { region: "r2" })), "proxies in two localities are two groups");
});

test("without outlier detection nothing depends on the proxy: one shared assignment, no priorities", () => {
  const mesh = meshOf({ connectionPool: { tcp: { maxConnections: 10 } } });
  const a = cla(mesh, IN_R1A);
  assert.equal(a, cla(mesh, proxy({}, { region: "r2" }, 2)), "the very same object for every proxy");
  assert.ok(summary(a).every((s) => s.includes(": p0 ")));
});

test("outlier detection (mesh default enabled): priorities by subzone, zone, region relative to the proxy", () => {
  const mesh = meshOf(OUTLIER);
  assert.deepEqual(summary(cla(mesh, IN_R1A)), [
    "r1/r1-a: p0 w1 [10.0.0.1]",
    "r1/r1-b: p1 w1 [10.0.0.2]",
    "r2/r2-a/rack1: p2 w1 [10.0.0.3]",
    "r3/r3-a: p2 w1 [10.0.0.4]",
    "r4/r4-a: p2 w1 [10.0.0.5]",
  ]);
  // Same zone, other subzone: 1; the priorities are made contiguous.
  assert.deepEqual(summary(cla(mesh, proxy({}, { region: "r2", zone: "r2-a", sub_zone: "rack2" }, 3))), [
    "r1/r1-a: p1 w1 [10.0.0.1]",
    "r1/r1-b: p1 w1 [10.0.0.2]",
    "r2/r2-a/rack1: p0 w1 [10.0.0.3]",
    "r3/r3-a: p1 w1 [10.0.0.4]",
    "r4/r4-a: p1 w1 [10.0.0.5]",
  ]);
});

test("failover rules: the named region comes next, other regions after it", () => {
  const mesh = meshOf({ ...OUTLIER, loadBalancer: { localityLbSetting: { failover: [{ from: "r1", to: "r3" }] } } });
  assert.deepEqual(summary(cla(mesh, IN_R1A)), [
    "r1/r1-a: p0 w1 [10.0.0.1]",
    "r1/r1-b: p1 w1 [10.0.0.2]",
    "r2/r2-a/rack1: p3 w1 [10.0.0.3]",
    "r3/r3-a: p2 w1 [10.0.0.4]",
    "r4/r4-a: p3 w1 [10.0.0.5]",
  ]);
  const cluster = generate(mesh, IN_R1A).clusters.find((c) => c.name === CLUSTER)!;
  assert.deepEqual(cluster.common_lb_config?.locality_weighted_lb_config, {}, "failover with outlier detection sets locality_weighted_lb_config");
});

test("failover without outlier detection changes nothing (Envoy would never fail over)", () => {
  const mesh = meshOf({ loadBalancer: { localityLbSetting: { failover: [{ from: "r1", to: "r3" }] } } });
  assert.ok(summary(cla(mesh, IN_R1A)).every((s) => s.includes(": p0 ")));
  const cluster = generate(mesh, IN_R1A).clusters.find((c) => c.name === CLUSTER)!;
  assert.equal(cluster.common_lb_config?.locality_weighted_lb_config, undefined);
});

test("distribute: weights per locality for proxies its `from` matches; unnamed localities get no endpoints", () => {
  const mesh = meshOf({
    loadBalancer: { localityLbSetting: { distribute: [{ from: "r1/r1-a/*", to: { "r1/r1-a": 70, "r1/*": 20, "r2/r2-a/rack1": 10 } }] } },
  });
  assert.deepEqual(summary(cla(mesh, IN_R1A)), [
    "r1/r1-a: p0 w70 [10.0.0.1]",
    "r1/r1-b: p0 w20 [10.0.0.2]",
    "r2/r2-a/rack1: p0 w10 [10.0.0.3]",
    "r3/r3-a: p0 w1 []",
    "r4/r4-a: p0 w1 []",
  ]);
  // A proxy no `from` matches keeps the plain weights.
  assert.deepEqual(summary(cla(mesh, proxy({}, { region: "r2" }, 4)))[0], "r1/r1-a: p0 w1 [10.0.0.1]");
  const cluster = generate(mesh, IN_R1A).clusters.find((c) => c.name === CLUSTER)!;
  assert.deepEqual(cluster.common_lb_config?.locality_weighted_lb_config, {}, "distribute sets locality_weighted_lb_config, outlier detection or not");
});

test("a wildcard `to` shares its weight among the localities it matches, by their own weights, rounded up", () => {
  const mesh = meshOf({ loadBalancer: { localityLbSetting: { distribute: [{ from: "*", to: { "r1/*": 75, "r2/*": 25 } }] } } });
  assert.deepEqual(summary(cla(mesh, IN_R1A)).slice(0, 3), ["r1/r1-a: p0 w38 [10.0.0.1]", "r1/r1-b: p0 w38 [10.0.0.2]", "r2/r2-a/rack1: p0 w25 [10.0.0.3]"]);
});

test("failoverPriority: endpoints split by how many labels (in order) match the proxy's; topology labels come from localities", () => {
  const mesh = meshOf({ ...OUTLIER, loadBalancer: { localityLbSetting: { failoverPriority: ["topology.kubernetes.io/region", "tier"] } } });
  // The proxy is in r1 (its node locality) with tier=gold: api-a (r1, gold) 0, api-b (r1) 1, the others 2.
  assert.deepEqual(summary(cla(mesh, proxy({ tier: "gold" }, { region: "r1", zone: "r1-b" }, 5))), [
    "r1/r1-a: p0 w1 [10.0.0.1]",
    "r1/r1-b: p1 w1 [10.0.0.2]",
    "r2/r2-a/rack1: p2 w1 [10.0.0.3]",
    "r3/r3-a: p2 w1 [10.0.0.4]",
    "r4/r4-a: p2 w1 [10.0.0.5]",
  ]);
  // "key=value" compares with the value written, not the proxy's.
  const fixed = meshOf({ ...OUTLIER, loadBalancer: { localityLbSetting: { failoverPriority: ["tier=gold"] } } });
  assert.deepEqual(summary(cla(fixed, proxy({}, { region: "r9" }, 6))), [
    "r1/r1-a: p0 w1 [10.0.0.1]",
    "r1/r1-b: p1 w1 [10.0.0.2]",
    "r2/r2-a/rack1: p0 w1 [10.0.0.3]",
    "r3/r3-a: p1 w1 [10.0.0.4]",
    "r4/r4-a: p1 w1 [10.0.0.5]",
  ]);
});

test("enabled: false in the rule, or in the mesh config, turns locality load balancing off", () => {
  const off = meshOf({ ...OUTLIER, loadBalancer: { localityLbSetting: { enabled: false } } });
  assert.ok(summary(cla(off, IN_R1A)).every((s) => s.includes(": p0 ")));
  const meshOff = meshOf(OUTLIER, { localityLbSetting: { enabled: false } });
  assert.ok(summary(cla(meshOff, IN_R1A)).every((s) => s.includes(": p0 ")));
  // The mesh config's own failover rules apply where a rule sets none.
  const meshFailover = meshOf(OUTLIER, { localityLbSetting: { failover: [{ from: "r1", to: "r4" }] } });
  assert.deepEqual(summary(cla(meshFailover, IN_R1A)).slice(2), ["r2/r2-a/rack1: p3 w1 [10.0.0.3]", "r3/r3-a: p3 w1 [10.0.0.4]", "r4/r4-a: p2 w1 [10.0.0.5]"]);
});

test("proxies in one locality share one assignment; another locality gets its own", () => {
  const mesh = meshOf(OUTLIER);
  const index = new ViewIndex<ClusterLoadAssignment[]>();
  const eds = (v: ProxyView) => generateEndpoints(mesh, v);
  const first = index.get(proxy({ app: "sleep" }, { region: "r1", zone: "r1-a" }, 10), eds);
  const sameLocality = proxy({ app: "other" }, { region: "r1", zone: "r1-a" }, 11);
  assert.equal(index.find(sameLocality)?.value, first, "same locality: the recorded generation is reused");
  const elsewhere = proxy({ app: "sleep" }, { region: "r2", zone: "r2-a" }, 12);
  assert.equal(index.find(elsewhere), undefined, "another locality: its own generation");
  // Even generated apart, the per-locality assignment is the same object (cached per base assignment and locality).
  assert.equal(cla(mesh, proxy({}, { region: "r1", zone: "r1-a" }, 13)), cla(mesh, proxy({ x: "y" }, { region: "r1", zone: "r1-a" }, 14)));
});

test("DNS clusters: their own load_assignment gets the proxy's priorities too", () => {
  const entry: MeshObject = {
    kind: "ServiceEntry",
    apiVersion: "networking.istio.io/v1",
    metadata: { name: "ext", namespace: "default" },
    spec: {
      hosts: ["ext.example.com"],
      ports: [{ number: 80, name: "http", protocol: "HTTP" }],
      resolution: "DNS",
      endpoints: [
        { address: "a.ext.example.com", locality: "r1/r1-a" },
        { address: "b.ext.example.com", locality: "r2/r2-a" },
      ],
    },
  } as MeshObject;
  const dr: MeshObject = {
    kind: "DestinationRule",
    apiVersion: "networking.istio.io/v1",
    metadata: { name: "ext", namespace: "default" },
    spec: { host: "ext.example.com", trafficPolicy: OUTLIER },
  } as MeshObject;
  const mesh = buildMesh([entry, dr]).mesh;
  const c = generate(mesh, IN_R1A).clusters.find((x) => x.name === "outbound|80||ext.example.com")!;
  assert.deepEqual(summary(c.load_assignment!), ["r1/r1-a: p0 w1 [a.ext.example.com]", "r2/r2-a: p1 w1 [b.ext.example.com]"]);
});

test("proxyless gRPC clients get the same priorities (istiod's EDS is one for both)", () => {
  const mesh = meshOf(OUTLIER);
  const r = parseProxy(
    "sidecar~10.1.0.50~grpc-1.default~default.svc.cluster.local",
    { GENERATOR: "grpc", NAMESPACE: "default" },
    { region: "r1", zone: "r1-a" },
  );
  assert.ok(r.ok);
  assert.deepEqual(summary(cla(mesh, r.proxy)), [
    "r1/r1-a: p0 w1 [10.0.0.1]",
    "r1/r1-b: p1 w1 [10.0.0.2]",
    "r2/r2-a/rack1: p2 w1 [10.0.0.3]",
    "r3/r3-a: p2 w1 [10.0.0.4]",
    "r4/r4-a: p2 w1 [10.0.0.5]",
  ]);
});
