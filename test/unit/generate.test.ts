import { test } from "node:test";
import assert from "node:assert/strict";
import { buildMesh } from "../../src/model/mesh";
import type { MeshObject, Service } from "../../src/model/types";
import { generate, generateEndpoints } from "../../src/generate";
import { vhostDomains } from "../../src/generate/sidecar-virtual-hosts";
import { retryPolicy } from "../../src/generate/route-action";
import { parseClusterName, outboundClusterName } from "../../src/generate/names";
import { endpointSlice, proxy } from "../support/mesh-fixtures";

const SLEEP = proxy("sidecar~10.0.0.9~sleep-1.default~default.svc.cluster.local", { app: "sleep" });

function objects(): MeshObject[] {
  const svc = (name: string, ns: string, ip: string): Service => ({
    kind: "Service",
    apiVersion: "v1",
    metadata: { name, namespace: ns },
    spec: { clusterIP: ip, selector: { app: name }, ports: [{ name: "http", port: 80, targetPort: 8080 }] },
  });
  return [
    svc("sleep", "default", "10.96.0.9"),
    svc("api", "default", "10.96.0.10"),
    svc("api", "prod", "10.96.0.11"),
    endpointSlice("api", 8080, [{ addresses: ["10.0.0.2"] }, { addresses: ["10.0.0.1"] }]),
    {
      kind: "DestinationRule",
      apiVersion: "networking.istio.io/v1",
      metadata: { name: "api", namespace: "default" },
      spec: { host: "api", subsets: [{ name: "v1", labels: { version: "v1" } }] },
    },
    {
      kind: "VirtualService",
      apiVersion: "networking.istio.io/v1",
      metadata: { name: "api", namespace: "default" },
      spec: { hosts: ["api"], http: [{ route: [{ destination: { host: "api", subset: "v7" } }] }] },
    },
  ];
}

const names = (xs: object[], key = "name") => xs.map((x) => (x as Record<string, string>)[key]);

test("generation is deterministic whatever the input order", () => {
  const a = generate(buildMesh(objects()).mesh, SLEEP);
  const b = generate(buildMesh([...objects()].reverse()).mesh, SLEEP);
  assert.deepEqual(a, b);
  for (const list of [a.listeners, a.routes, a.clusters]) assert.deepEqual(names(list), [...names(list)].sort());
  assert.deepEqual(names(a.endpoints, "cluster_name"), [...names(a.endpoints, "cluster_name")].sort());
});

test("a route to an undefined subset keeps the subset cluster name (as Istio) while no such cluster is sent", () => {
  const out = generate(buildMesh(objects()).mesh, SLEEP);
  const route80 = out.routes.find((r) => (r as { name: string }).name === "80") as {
    virtual_hosts: { name: string; routes: { route?: { cluster?: string } }[] }[];
  };
  const apiHost = route80.virtual_hosts.find((v) => v.name === "api.default.svc.cluster.local:80")!;
  const target = outboundClusterName(80, "v7", "api.default.svc.cluster.local");
  assert.equal(apiHost.routes[0]!.route!.cluster, target);
  assert.ok(!names(out.clusters).includes(target));
  assert.ok(names(out.clusters).includes(outboundClusterName(80, "v1", "api.default.svc.cluster.local")));
});

test("generateEndpoints gives the same assignments as generate, optionally only for named clusters", () => {
  const mesh = buildMesh(objects()).mesh;
  const all = generate(mesh, SLEEP).endpoints;
  assert.deepEqual(generateEndpoints(mesh, SLEEP), all);
  const wanted = "outbound|80||api.default.svc.cluster.local";
  const only = generateEndpoints(mesh, SLEEP, [wanted, "outbound|80||nope.default.svc.cluster.local"]);
  assert.deepEqual(names(only, "cluster_name"), [wanted]);
  const lb = (only[0] as { endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { address: string } } } }[] }[] }).endpoints[0]!.lb_endpoints;
  assert.deepEqual(
    lb.map((e) => e.endpoint.address.socket_address.address),
    ["10.0.0.1", "10.0.0.2"],
  );
});

test("routers with no Gateway get the outbound clusters (and BlackHoleCluster) but no listeners", () => {
  const mesh = buildMesh(objects()).mesh;
  const router = proxy("router~10.0.0.5~gw-1.istio-system~istio-system.svc.cluster.local", { istio: "ingressgateway" });
  const out = generate(mesh, router);
  assert.deepEqual(out.listeners, []);
  assert.deepEqual(out.routes, []);
  assert.ok(names(out.clusters).every((n) => n.startsWith("outbound|") || n === "BlackHoleCluster"));
  assert.ok(out.endpoints.length > 0);
});

test("vhost domains: short names follow the DNS search path of the proxy's namespace", () => {
  const mesh = buildMesh(objects()).mesh;
  const prodApi = mesh.services.find((s) => s.namespace === "prod")!;
  assert.deepEqual(vhostDomains(prodApi, "default.svc.cluster.local"), [
    "api.prod.svc.cluster.local",
    "api.prod.svc.cluster.local.",
    "api.prod",
    "api.prod.svc",
    "10.96.0.11",
  ]);
  assert.deepEqual(vhostDomains(prodApi, "prod.svc.cluster.local").slice(2, 5), ["api", "api.prod.svc", "api.prod"]);
});

test("retries: unset is Istio's default, attempts 0 disables, numeric retryOn tokens become status codes", () => {
  assert.equal((retryPolicy(undefined, false) as { num_retries: number }).num_retries, 2);
  assert.equal(retryPolicy({ attempts: 0 }, false), undefined);
  const p = retryPolicy({ attempts: 3, retryOn: "5xx,429" }, true) as Record<string, unknown>;
  assert.equal(p.retry_on, "5xx,retriable-status-codes");
  assert.deepEqual(p.retriable_status_codes, [429]);
  assert.equal(p.retry_host_predicate, undefined, "consistent hashing must not steer retries to other hosts");
});

test("cluster names round-trip", () => {
  assert.deepEqual(parseClusterName("outbound|9999|v2|bill-service.default.svc.cluster.local"), {
    direction: "outbound",
    port: 9999,
    subset: "v2",
    host: "bill-service.default.svc.cluster.local",
  });
  assert.deepEqual(parseClusterName("inbound|8080||"), { direction: "inbound", port: 8080, subset: "", host: "" });
  assert.equal(parseClusterName("PassthroughCluster"), undefined);
});
