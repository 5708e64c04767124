/**
 * The Sidecar resource as istiod applies it: which Sidecar a proxy gets
 * (workload selector, then namespace default, then the root namespace's),
 * what its egress hosts import (services, VirtualServices and the services
 * they route to), outboundTrafficPolicy overriding the mesh's, gateways left
 * alone, fewer clusters and endpoints, shared views, and the analyzer
 * diagnostics. Through buildMesh and generate, as the server runs them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { objectsFromManifests } from "../../src/cli/translate";
import { buildMesh, type Mesh } from "../../src/model/mesh";
import { parseProxy, type ProxyView } from "../../src/model/proxy";
import { formatDiagnostic } from "../../src/model/types";
import { generate, generateEndpoints } from "../../src/generate";
import { sidecarScope } from "../../src/generate/scope";
import { ViewIndex } from "../../src/generate/view-key";

const svc = (name: string, ns: string, ip: string, ports = "[{name: http, port: 80}]") => `
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${ns}}
spec: {clusterIP: ${ip}, selector: {app: ${name}}, ports: ${ports}}
---`;
const slice = (name: string, ns: string, ip: string) => `
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ${name}-1, namespace: ${ns}, labels: {kubernetes.io/service-name: ${name}}}
addressType: IPv4
ports: [{name: http, port: 80}]
endpoints: [{addresses: [${ip}], conditions: {ready: true}}]
---`;
const pod = (name: string, ns: string, labels: string) => `
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${ns}, labels: ${labels}}
spec: {nodeName: n1}
status: {podIP: 10.244.0.1, phase: Running}
---`;
const sidecar = (name: string, ns: string, spec: string, created = "2024-01-01T00:00:00Z") => `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: ${name}, namespace: ${ns}, creationTimestamp: "${created}"}
spec: ${spec}
---`;

const BASE = [
  svc("web", "a", "10.96.0.1"),
  svc("api", "a", "10.96.0.2"),
  svc("db", "b", "10.96.0.3"),
  svc("cache", "b", "10.96.0.4"),
  svc("mail", "c", "10.96.0.5", "[{name: http, port: 80}, {name: grpc, port: 9090}]"),
  slice("api", "a", "10.244.1.2"),
  slice("db", "b", "10.244.2.3"),
  slice("cache", "b", "10.244.2.4"),
  `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: c}
spec: {hosts: [api.example.com], resolution: DNS, ports: [{number: 443, name: tls, protocol: TLS}]}
---`,
  pod("web-1", "a", "{app: web}"),
].join("");

function mesh(extra: string, options: Parameters<typeof buildMesh>[1] = {}): { mesh: Mesh; diagnostics: string[] } {
  const loaded = objectsFromManifests([{ file: "in.yaml", text: BASE + extra }]);
  assert.deepEqual(loaded.diagnostics.filter((d) => d.severity === "error").map(formatDiagnostic), []);
  const built = buildMesh(loaded.objects, options);
  return { mesh: built.mesh, diagnostics: built.diagnostics.filter((d) => d.kind === "Sidecar").map(formatDiagnostic) };
}

function proxy(ns: string, labels: Record<string, string>, kind = "sidecar"): ProxyView {
  const r = parseProxy(`${kind}~10.244.0.1~p.${ns}~${ns}.svc.cluster.local`, { NAMESPACE: ns, LABELS: labels });
  if (!r.ok) throw new Error(r.error);
  return r.proxy;
}

const hosts = (m: Mesh, p: ProxyView) => sidecarScope(m, p).services.map((s) => `${s.host}:${s.ports.map((x) => x.port).join(",")}`);
const clusters = (m: Mesh, p: ProxyView) =>
  generate(m, p)
    .clusters.map((c) => String(c.name))
    .filter((n) => n.startsWith("outbound|"));

const ALL = [
  "api.a.svc.cluster.local:80",
  "api.example.com:443",
  "cache.b.svc.cluster.local:80",
  "db.b.svc.cluster.local:80",
  "mail.c.svc.cluster.local:80,9090",
  "web.a.svc.cluster.local:80",
];

/** The cluster of virtualOutbound's catch-all chain: where traffic no listener takes goes. */
function catchAllCluster(listeners: readonly { name?: unknown }[]): string | undefined {
  const vo = listeners.find((l) => l.name === "virtualOutbound") as { filter_chains: { name?: string; filters: { typed_config: { cluster: string } }[] }[] };
  return vo.filter_chains.find((c) => c.name === "virtualOutbound-catchall-tcp")?.filters[0]?.typed_config.cluster;
}

test("no Sidecar: everything exported to the namespace", () => {
  assert.deepEqual(hosts(mesh("").mesh, proxy("a", { app: "web" })), ALL);
});

test("./* imports the proxy's own namespace only", () => {
  const m = mesh(sidecar("default", "a", "{egress: [{hosts: [./*]}]}")).mesh;
  assert.deepEqual(hosts(m, proxy("a", { app: "web" })), ["api.a.svc.cluster.local:80", "web.a.svc.cluster.local:80"]);
  assert.deepEqual(clusters(m, proxy("a", { app: "web" })), ["outbound|80||api.a.svc.cluster.local", "outbound|80||web.a.svc.cluster.local"]);
  // Other namespaces are untouched.
  assert.deepEqual(hosts(m, proxy("b", {})), ALL);
});

test("ns/*, */host, ns/wildcard host and ~ exclusions", () => {
  const cases: [string, string[]][] = [
    ["[b/*]", ["cache.b.svc.cluster.local:80", "db.b.svc.cluster.local:80"]],
    ["['*/api.example.com']", ["api.example.com:443"]],
    ["['*/*.example.com']", ["api.example.com:443"]],
    ["['c/*.example.com']", ["api.example.com:443"]],
    ["['a/*.example.com']", []],
    ["['b/db.b.svc.cluster.local']", ["db.b.svc.cluster.local:80"]],
    ["['a/db.b.svc.cluster.local']", []],
    ["['*/*', '~b/db.b.svc.cluster.local']", ALL.filter((h) => !h.startsWith("db."))],
    ["['b/*', '~/cache.b.svc.cluster.local']", ["db.b.svc.cluster.local:80"]],
    ["['~/*']", []],
    ["['*/*.b.svc.cluster.local']", ["cache.b.svc.cluster.local:80", "db.b.svc.cluster.local:80"]],
  ];
  for (const [h, want] of cases) {
    const m = mesh(sidecar("default", "a", `{egress: [{hosts: ${h}}]}`)).mesh;
    assert.deepEqual(hosts(m, proxy("a", {})), want, h);
  }
});

test("a port-specific egress listener keeps only that port; listeners merge by host", () => {
  const m = mesh(
    sidecar("default", "a", "{egress: [{port: {number: 9090, protocol: GRPC, name: grpc}, hosts: ['c/*']}, {hosts: [./*, c/mail.c.svc.cluster.local]}]}"),
  ).mesh;
  assert.deepEqual(hosts(m, proxy("a", {})), ["api.a.svc.cluster.local:80", "mail.c.svc.cluster.local:9090,80", "web.a.svc.cluster.local:80"]);
  const m2 = mesh(sidecar("default", "a", "{egress: [{port: {number: 9090, protocol: GRPC, name: grpc}, hosts: ['*/*']}]}")).mesh;
  assert.deepEqual(hosts(m2, proxy("a", {})), ["mail.c.svc.cluster.local:9090"]);
});

test("precedence: workload selector, then namespace default, then root default", () => {
  const extra = [
    sidecar("root", "istio-system", "{egress: [{hosts: [./*]}]}"),
    sidecar("ns-default", "b", "{egress: [{hosts: ['a/*']}]}"),
    sidecar("for-db", "b", "{workloadSelector: {labels: {app: db}}, egress: [{hosts: ['c/*']}]}", "2024-03-01T00:00:00Z"),
    sidecar("for-db-newer", "b", "{workloadSelector: {labels: {app: db}}, egress: [{hosts: ['*/api.example.com']}]}", "2024-04-01T00:00:00Z"),
  ].join("");
  const { mesh: m, diagnostics } = mesh(extra + pod("db-1", "b", "{app: db}"));
  // Oldest matching selector wins (c/* holds the ServiceEntry too).
  assert.deepEqual(hosts(m, proxy("b", { app: "db" })), ["api.example.com:443", "mail.c.svc.cluster.local:80,9090"]);
  assert.equal(sidecarScope(m, proxy("b", { app: "db" })).sidecar?.metadata.name, "for-db");
  // Namespace default for the rest of b.
  assert.deepEqual(hosts(m, proxy("b", { app: "cache" })), ["api.a.svc.cluster.local:80", "web.a.svc.cluster.local:80"]);
  // Root default in a namespace without its own: "." is the proxy's namespace.
  assert.deepEqual(hosts(m, proxy("c", {})), ["api.example.com:443", "mail.c.svc.cluster.local:80,9090"]);
  // Gateways never get a Sidecar.
  assert.deepEqual(hosts(m, proxy("c", {}, "router")), ALL);
  assert.deepEqual(diagnostics, [
    'in.yaml:69 Sidecar b/for-db spec.workloadSelector: IST0110 The Sidecars [for-db for-db-newer] in namespace "b" select the same workload pod "db-1", which can lead to undefined behavior; istiod applies the oldest, for-db',
    'in.yaml:74 Sidecar b/for-db-newer spec.workloadSelector: IST0110 The Sidecars [for-db for-db-newer] in namespace "b" select the same workload pod "db-1", which can lead to undefined behavior; istiod applies the oldest, for-db',
  ]);
});

test("VirtualServices: selected by egress hosts of their namespace; their destinations become visible", () => {
  const vs = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: a}
spec:
  hosts: [api]
  http:
  - match: [{uri: {prefix: /mail}}]
    route: [{destination: {host: mail.c.svc.cluster.local, port: {number: 9090}}}]
  - match: [{sourceNamespace: other}]
    route: [{destination: {host: db.b.svc.cluster.local}}]
  - route: [{destination: {host: api}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: cache, namespace: b}
spec:
  hosts: [cache]
  http: [{route: [{destination: {host: cache}}], timeout: 2s}]
---`;
  const m = mesh(vs + sidecar("default", "a", "{egress: [{hosts: [./*]}]}")).mesh;
  const p = proxy("a", {});
  assert.deepEqual(hosts(m, p), ["api.a.svc.cluster.local:80", "mail.c.svc.cluster.local:9090", "web.a.svc.cluster.local:80"]);
  assert.deepEqual(
    [...sidecarScope(m, p).virtualServices.entries()].map(([h, v]) => `${h}=${v.vs.metadata.name}`),
    ["api.a.svc.cluster.local=api"],
  );
  // b/cache imported: its VirtualService (in b) is selected by the b entry.
  const m2 = mesh(vs + sidecar("default", "a", "{egress: [{hosts: ['b/cache.b.svc.cluster.local']}]}")).mesh;
  assert.deepEqual([...sidecarScope(m2, p).virtualServices.keys()], ["cache.b.svc.cluster.local"]);
  // An entry of another namespace does not select it.
  const m3 = mesh(vs + sidecar("default", "a", "{egress: [{hosts: ['a/cache.b.svc.cluster.local']}]}")).mesh;
  assert.deepEqual([...sidecarScope(m3, p).virtualServices.keys()], []);
});

test("outboundTrafficPolicy of the Sidecar overrides the mesh's", () => {
  const catchAll = (m: Mesh, p: ProxyView) => {
    const out = generate(m, p);
    const route = out.routes.find((r) => r.name === "80");
    const vhosts = (route?.virtual_hosts ?? []) as { name: string }[];
    type Chain = { name?: string; filters: { typed_config: { cluster: string } }[] };
    const vo = out.listeners.find((l) => l.name === "virtualOutbound") as { filter_chains: Chain[] };
    const catchAllChain = vo.filter_chains.find((c) => c.name === "virtualOutbound-catchall-tcp");
    // The HTTP port's fallback (what its HTTP inspector does not recognise) follows the same policy.
    const http = out.listeners.find((l) => l.name === "0.0.0.0_80") as { default_filter_chain?: Chain } | undefined;
    const fallback = catchAllChain?.filters[0]?.typed_config.cluster;
    if (http) assert.equal(http.default_filter_chain?.filters[0]?.typed_config.cluster, fallback, "0.0.0.0_80's fallback chain");
    return [vhosts[vhosts.length - 1]?.name, fallback];
  };
  const blocked = mesh(sidecar("default", "a", "{outboundTrafficPolicy: {mode: REGISTRY_ONLY}}")).mesh;
  assert.deepEqual(catchAll(blocked, proxy("a", {})), ["block_all", "BlackHoleCluster"]);
  assert.deepEqual(catchAll(blocked, proxy("b", {})), ["allow_any", "PassthroughCluster"]);
  // Present without a mode: the API's default, REGISTRY_ONLY.
  assert.deepEqual(catchAll(mesh(sidecar("default", "a", "{outboundTrafficPolicy: {}}")).mesh, proxy("a", {})), ["block_all", "BlackHoleCluster"]);
  const open = mesh(sidecar("default", "a", "{egress: [{hosts: [./*]}], outboundTrafficPolicy: {mode: ALLOW_ANY}}"), {
    outboundTrafficPolicy: "REGISTRY_ONLY",
  }).mesh;
  assert.deepEqual(catchAll(open, proxy("a", {})), ["allow_any", "PassthroughCluster"]);
  // Without outboundTrafficPolicy the mesh's applies.
  const meshWide = mesh(sidecar("default", "a", "{egress: [{hosts: [./*]}]}"), { outboundTrafficPolicy: "REGISTRY_ONLY" }).mesh;
  assert.deepEqual(catchAll(meshWide, proxy("a", {})), ["block_all", "BlackHoleCluster"]);
});

test("egressProxy: under ALLOW_ANY unknown traffic goes to its cluster, not PassthroughCluster", () => {
  const m = mesh(
    sidecar(
      "default",
      "a",
      "{egress: [{hosts: [./*, c/mail.c.svc.cluster.local]}], outboundTrafficPolicy: {mode: ALLOW_ANY, egressProxy: {host: mail.c.svc.cluster.local, port: {number: 80}}}}",
    ),
  ).mesh;
  const out = generate(m, proxy("a", {}));
  assert.equal(catchAllCluster(out.listeners), "outbound|80||mail.c.svc.cluster.local");
  const vhosts = (out.routes.find((r) => r.name === "80")?.virtual_hosts ?? []) as { name: string; routes: { route: { cluster: string } }[] }[];
  assert.deepEqual([vhosts.at(-1)?.name, vhosts.at(-1)?.routes[0]?.route.cluster], ["allow_any", "outbound|80||mail.c.svc.cluster.local"]);
  assert.ok(out.clusters.some((c) => c.name === "outbound|80||mail.c.svc.cluster.local"));
});

test("inbound connection pools: an ingress listener's for its port, else inboundConnectionPool, on service ports too", () => {
  const m = mesh(
    sidecar(
      "default",
      "a",
      "{inboundConnectionPool: {tcp: {maxConnections: 7, connectTimeout: 3s}}, ingress: [{port: {number: 9080, protocol: HTTP, name: http}, defaultEndpoint: '127.0.0.1:8080', connectionPool: {http: {http2MaxRequests: 11, maxRequestsPerConnection: 2}}}, {port: {number: 9000, protocol: TCP, name: tcp}}]}",
    ),
  ).mesh;
  const byName = new Map(generate(m, proxy("a", { app: "web" })).clusters.map((c) => [String(c.name), c as Record<string, unknown>]));
  const limits = (n: string) => {
    const c = byName.get(n) as { connect_timeout: string; circuit_breakers: { thresholds: { max_connections: number; max_requests: number }[] } };
    return [c.connect_timeout, c.circuit_breakers.thresholds[0]!.max_connections, c.circuit_breakers.thresholds[0]!.max_requests];
  };
  assert.deepEqual(limits("inbound|9080||"), ["10s", 4294967295, 11]);
  assert.deepEqual(limits("inbound|9000||"), ["3s", 7, 4294967295]);
  const http = byName.get("inbound|9080||") as { typed_extension_protocol_options?: Record<string, { common_http_protocol_options?: unknown }> };
  assert.deepEqual(Object.values(http.typed_extension_protocol_options ?? {})[0]?.common_http_protocol_options, { max_requests_per_connection: 2 });
  // Without ingress listeners the service ports keep their clusters and get inboundConnectionPool.
  const m2 = mesh(sidecar("default", "a", "{inboundConnectionPool: {tcp: {maxConnections: 5}}, egress: [{hosts: [./*]}]}")).mesh;
  const svcPort = generate(m2, proxy("a", { app: "web" })).clusters.find((c) => c.name === "inbound|80||") as {
    circuit_breakers: { thresholds: { max_connections: number }[] };
  };
  assert.equal(svcPort.circuit_breakers.thresholds[0]!.max_connections, 5);
});

test("endpoints follow the visible services", () => {
  const m = mesh(sidecar("default", "a", "{egress: [{hosts: [./*]}]}")).mesh;
  const names = (p: ProxyView) => generateEndpoints(m, p).map((e) => e.cluster_name);
  assert.deepEqual(names(proxy("a", {})), ["outbound|80||api.a.svc.cluster.local", "outbound|80||web.a.svc.cluster.local"]);
  assert.equal(names(proxy("b", {})).length, 6);
  assert.deepEqual(generateEndpoints(m, proxy("a", {}), ["outbound|80||db.b.svc.cluster.local"]), []);
});

test("proxies with the same effective Sidecar share a view; a different one does not", () => {
  const extra =
    sidecar("default", "a", "{egress: [{hosts: [./*]}]}") + sidecar("for-web", "a", "{workloadSelector: {labels: {app: web}}, egress: [{hosts: ['b/*']}]}");
  const m = mesh(extra).mesh;
  const index = new ViewIndex<string>();
  const gen = (v: ProxyView) => JSON.stringify(generate(m, v));
  const ps = [
    proxy("a", { app: "api", version: "v1" }),
    proxy("a", { app: "api", version: "v2" }),
    proxy("a", { app: "other" }),
    proxy("a", { app: "web" }),
    proxy("a", { app: "web", version: "v2" }),
  ];
  for (const p of ps) assert.equal(index.get(p, gen), gen(p));
  // Namespace default (3 proxies) and for-web (2 proxies); inbound differs for api/web/other only through services they back.
  const distinct = new Set(ps.map(gen)).size;
  assert.equal(index.size, distinct);
  assert.ok(index.size <= 4, `views: ${index.size}`);
  assert.notEqual(gen(ps[2]!), gen(ps[3]!));
});

test("analyzer diagnostics: selector matching no pod, several selector-less Sidecars, egress hosts importing nothing", () => {
  const extra = [
    sidecar("nobody", "a", "{workloadSelector: {labels: {app: ghost}}, egress: [{hosts: [./*]}]}"),
    sidecar("first", "b", "{egress: [{hosts: [./*]}]}", "2024-01-01T00:00:00Z"),
    sidecar("second", "b", "{egress: [{hosts: ['zzz/*', 'c/typo.c.svc.cluster.local', '*/api.example.com']}]}", "2024-02-01T00:00:00Z"),
  ].join("");
  const { mesh: m, diagnostics } = mesh(extra);
  assert.deepEqual(diagnostics, [
    'in.yaml:59 Sidecar a/nobody spec.workloadSelector.labels: IST0101 Referenced selector not found: "app=ghost" (no pod in namespace a has these labels)',
    'in.yaml:64 Sidecar b/first IST0111 The Sidecars [first second] in namespace "b" have no workload selector, which can lead to undefined behavior; istiod applies the oldest, first',
    'in.yaml:69 Sidecar b/second IST0111 The Sidecars [first second] in namespace "b" have no workload selector, which can lead to undefined behavior; istiod applies the oldest, first',
    'in.yaml:69 Sidecar b/second spec.egress[0].hosts[0]: egress host "zzz/*" imports nothing: no service in namespace zzz is visible to namespace b',
    'in.yaml:69 Sidecar b/second spec.egress[0].hosts[1]: egress host "c/typo.c.svc.cluster.local" imports nothing: it matches no service visible to the Sidecar\'s namespace',
  ]);
  // The mesh keeps serving; the oldest selector-less Sidecar applies.
  assert.deepEqual(hosts(m, proxy("b", {})), ["cache.b.svc.cluster.local:80", "db.b.svc.cluster.local:80"]);
});
