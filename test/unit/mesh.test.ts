import { test } from "node:test";
import assert from "node:assert/strict";
import { buildMesh, destinationRuleFor, sidecarVirtualServices, visibleServices } from "../../src/model/mesh";
import type { DestinationRule, EndpointSlice, Endpoints, MeshObject, Node, Pod, Service, VirtualService } from "../../src/model/types";
import { servicePortProtocol } from "../../src/model/mesh-protocol";
import { resolveHost } from "../../src/model/mesh-hosts";

const meta = (name: string, namespace = "default", extra: Record<string, unknown> = {}) => ({ name, namespace, ...extra });

function svc(
  name: string,
  namespace: string,
  ports: Service["spec"]["ports"],
  extra: Partial<Service["spec"]> = {},
  annotations?: Record<string, string>,
): Service {
  return {
    kind: "Service",
    apiVersion: "v1",
    metadata: { ...meta(name, namespace), ...(annotations ? { annotations } : {}) },
    spec: { clusterIP: "10.96.0.1", selector: { app: name }, ports, ...extra },
  };
}
function pod(name: string, ip: string, labels: Record<string, string>, nodeName?: string): Pod {
  return {
    kind: "Pod",
    apiVersion: "v1",
    metadata: { name, namespace: "default", labels },
    spec: { podIP: ip, ...(nodeName ? { nodeName } : {}), containers: [{ name: "c", ports: [{ name: "web", containerPort: 8080 }] }] },
  };
}
function slice(name: string, service: string, endpoints: EndpointSlice["spec"]["endpoints"]): EndpointSlice {
  return {
    kind: "EndpointSlice",
    apiVersion: "discovery.k8s.io/v1",
    metadata: meta(name),
    spec: { addressType: "IPv4", endpoints, ports: [{ name: "http", port: 8080 }], serviceName: service },
  };
}
function dr(name: string, namespace: string, host: string, spec: Partial<DestinationRule["spec"]> = {}, created?: string): DestinationRule {
  return {
    kind: "DestinationRule",
    apiVersion: "networking.istio.io/v1",
    metadata: { ...meta(name, namespace), ...(created ? { creationTimestamp: created } : {}) },
    spec: { host, ...spec },
  };
}
function vs(name: string, namespace: string, hosts: string[], created: string, spec: Partial<VirtualService["spec"]> = {}): VirtualService {
  return {
    kind: "VirtualService",
    apiVersion: "networking.istio.io/v1",
    metadata: { ...meta(name, namespace), creationTimestamp: created },
    spec: { hosts, http: [{ route: [{ destination: { host: hosts[0]! } }] }], ...spec },
  };
}

test("protocol: appProtocol first, then the name prefix; unknown is AUTO (sniffed) with a warning", () => {
  assert.equal(servicePortProtocol({ name: "tcp-x", appProtocol: "grpc", port: 1 } as never).protocol, "GRPC");
  assert.equal(servicePortProtocol({ name: "HTTP2-api" }).protocol, "HTTP2");
  assert.equal(servicePortProtocol({ name: "grpc-web" }).protocol, "GRPC-WEB");
  assert.equal(servicePortProtocol({ name: "dns", protocol: "UDP" }).protocol, "UDP");
  assert.deepEqual(servicePortProtocol({ name: "metrics" }), { protocol: "AUTO", known: false });
  assert.deepEqual(servicePortProtocol({}), { protocol: "AUTO", known: false });
  const { mesh, diagnostics } = buildMesh([svc("a", "default", [{ name: "metrics", port: 9090 }])]);
  assert.equal(mesh.services[0]!.ports[0]!.protocol, "AUTO");
  assert.equal(diagnostics.length, 1);
  assert.equal(diagnostics[0]!.severity, "warning");
  assert.equal(diagnostics[0]!.field, "spec.ports[0]");
});

test("short hosts resolve against the namespace; dotted names are taken as written", () => {
  assert.equal(resolveHost("reviews", "default", "cluster.local"), "reviews.default.svc.cluster.local");
  assert.equal(resolveHost("reviews.default", "x", "cluster.local"), "reviews.default");
  assert.equal(resolveHost("*", "x", "cluster.local"), "*");
});

test("endpoints: slices win over Endpoints; istiod's health rules; pod labels and node locality attached", () => {
  const node: Node = {
    kind: "Node",
    apiVersion: "v1",
    metadata: { name: "n1", namespace: "", labels: { "topology.kubernetes.io/region": "r", "topology.kubernetes.io/zone": "z" } },
    spec: {},
  };
  const legacy: Endpoints = {
    kind: "Endpoints",
    apiVersion: "v1",
    metadata: meta("web"),
    spec: { subsets: [{ addresses: [{ ip: "10.0.0.99" }], ports: [{ name: "http", port: 8080 }] }] },
  };
  const objects: MeshObject[] = [
    svc("web", "default", [{ name: "http", port: 80, targetPort: "web" }]),
    pod("web-1", "10.0.0.1", { app: "web", version: "v1" }, "n1"),
    node,
    legacy,
    slice("web-a", "web", [
      // not ready, terminating unset: istiod counts it as terminating and leaves it out
      { addresses: ["10.0.0.2"], conditions: { ready: false } },
      { addresses: ["10.0.0.1"], targetRef: { kind: "Pod", name: "web-1" } },
      // ready wins over terminating (Kubernetes never writes this pair, istiod says healthy)
      { addresses: ["10.0.0.3"], conditions: { ready: true, terminating: true } },
      // a pod starting up: sent as UNHEALTHY
      { addresses: ["10.0.0.4"], conditions: { ready: false, serving: false, terminating: false } },
      // serving but terminating: left out (no persistent sessions)
      { addresses: ["10.0.0.5"], conditions: { ready: false, serving: true, terminating: true } },
    ]),
  ];
  const { mesh } = buildMesh(objects);
  const eps = mesh.endpoints.get("web.default.svc.cluster.local")!.get(80)!;
  assert.deepEqual(
    eps.map((e) => [e.address, e.health]),
    [
      ["10.0.0.1", "HEALTHY"],
      ["10.0.0.3", "HEALTHY"],
      ["10.0.0.4", "UNHEALTHY"],
    ],
  );
  assert.deepEqual(eps[0]!.labels, { app: "web", version: "v1" });
  assert.deepEqual(eps[0]!.locality, { region: "r", zone: "z", subzone: "" });
  assert.equal(eps[0]!.port, 8080);
  assert.equal(
    eps[0]!.istioWorkload,
    "web-1;default;web;v1;Kubernetes",
    "istio.workload: pod name (no controller), canonical name and revision from app/version",
  );
  assert.equal(eps[1]!.istioWorkload, ";;;;Kubernetes", "an address without a pod has no workload");
  assert.equal(mesh.services[0]!.ports[0]!.targetPort, 8080, "the named targetPort resolves through the endpoints");

  const readyOnly = buildMesh(objects, { includeNotReadyEndpoints: false }).mesh.endpoints.get("web.default.svc.cluster.local")!.get(80)!;
  assert.deepEqual(
    readyOnly.map((e) => e.address),
    ["10.0.0.1", "10.0.0.3"],
  );

  const onlyLegacy = buildMesh(objects.filter((o) => o.kind !== "EndpointSlice")).mesh;
  assert.deepEqual(
    onlyLegacy.endpoints
      .get("web.default.svc.cluster.local")!
      .get(80)!
      .map((e) => e.address),
    ["10.0.0.99"],
  );
});

test("DestinationRule lookup: client namespace, then the service's, then the root; same-host rules merge", () => {
  const objects: MeshObject[] = [
    svc("api", "shop", [{ name: "http", port: 80 }]),
    dr("root", "istio-system", "api.shop.svc.cluster.local", { trafficPolicy: { loadBalancer: { simple: "RANDOM" } } }),
    dr("owner", "shop", "api", { subsets: [{ name: "v1", labels: { version: "v1" } }] }, "2024-01-01T00:00:00Z"),
    dr(
      "owner-2",
      "shop",
      "api",
      {
        subsets: [
          { name: "v1", labels: { version: "x" } },
          { name: "v2", labels: { version: "v2" } },
        ],
        trafficPolicy: { loadBalancer: { simple: "ROUND_ROBIN" } },
      },
      "2024-02-01T00:00:00Z",
    ),
    dr("private", "shop", "api", { exportTo: ["."], trafficPolicy: { loadBalancer: { simple: "LEAST_REQUEST" } } }, "2024-03-01T00:00:00Z"),
    dr("client", "web", "api.shop.svc.cluster.local", { trafficPolicy: { connectionPool: { tcp: { maxConnections: 1 } } } }),
  ];
  const { mesh } = buildMesh(objects);
  const api = mesh.services[0]!;
  assert.equal(destinationRuleFor(mesh, { namespace: "web", labels: {} }, api)!.sources[0]!.metadata.name, "client");
  const fromOther = destinationRuleFor(mesh, { namespace: "other", labels: {} }, api)!;
  assert.deepEqual(
    fromOther.sources.map((s) => s.metadata.name),
    ["owner", "owner-2"],
    "the shop-private rule is not visible from other",
  );
  assert.deepEqual(
    fromOther.subsets.map((s) => [s.name, s.labels!.version]),
    [
      ["v1", "v1"],
      ["v2", "v2"],
    ],
    "first subset of a name wins",
  );
  assert.equal(fromOther.trafficPolicy!.loadBalancer!.simple, "ROUND_ROBIN");
  const noOwner = buildMesh(objects.filter((o) => o.metadata.namespace !== "shop" || o.kind === "Service")).mesh;
  assert.equal(destinationRuleFor(noOwner, { namespace: "other", labels: {} }, noOwner.services[0]!)!.sources[0]!.metadata.name, "root");
});

test("VirtualService binding: exact host beats wildcard, then the oldest wins; losers and dangling references are diagnosed", () => {
  const objects: MeshObject[] = [
    svc("api", "default", [{ name: "http", port: 80 }]),
    vs("new", "default", ["api"], "2024-03-01T00:00:00Z"),
    vs("old", "default", ["api.default.svc.cluster.local"], "2024-02-01T00:00:00Z"),
    vs("wild", "default", ["*.svc.cluster.local"], "2024-01-01T00:00:00Z"),
    vs("subset", "default", ["other"], "2024-01-01T00:00:00Z", { http: [{ route: [{ destination: { host: "api", subset: "v9" } }] }] }),
  ];
  const { mesh, diagnostics } = buildMesh(objects);
  const bound = sidecarVirtualServices(mesh, "default", visibleServices(mesh, "default"));
  assert.equal(bound.get("api.default.svc.cluster.local")!.vs.metadata.name, "old");
  const messages = diagnostics.map((d) => `${d.name} ${d.field}: ${d.message}`);
  assert.ok(
    messages.some((m) => m.startsWith("new spec.hosts: ignored for host api.default.svc.cluster.local wherever VirtualService default/old")),
    messages.join("\n"),
  );
  assert.ok(
    messages.some((m) => m.startsWith('subset spec.http[0].route[0].destination.subset: subset "v9"')),
    messages.join("\n"),
  );
  assert.ok(
    messages.some((m) => m.startsWith("subset spec.hosts[0]: host other.default.svc.cluster.local matches no service")),
    messages.join("\n"),
  );
});

test("exportTo: '.' hides a service from other namespaces", () => {
  const { mesh } = buildMesh([
    svc("hidden", "a", [{ name: "http", port: 80 }], {}, { "networking.istio.io/exportTo": "." }),
    svc("shown", "a", [{ name: "http", port: 80 }]),
  ]);
  assert.deepEqual(
    visibleServices(mesh, "b").map((s) => s.name),
    ["shown"],
  );
  assert.deepEqual(
    visibleServices(mesh, "a").map((s) => s.name),
    ["hidden", "shown"],
  );
});
