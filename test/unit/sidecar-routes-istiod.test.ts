/**
 * Sidecar outbound routes as istiod 1.31 builds them (found by the fidelity harness, test/fidelity): consistent-hash
 * policies of every destination of a split route, a port-less destination on the listener's port, and a virtual
 * host for every VirtualService host in the route configs istiod puts it in.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildMesh } from "../../src/model/mesh";
import { parseProxy } from "../../src/model/proxy";
import type { MeshObject } from "../../src/model/types";
import { generate } from "../../src/generate";
import type { RouteConfiguration, VirtualHost } from "../../src/generate/envoy";

const NODE = "sidecar~10.0.0.9~sleep-1.default~default.svc.cluster.local";

function svc(name: string, ip: string, ports: { name: string; port: number }[], extra: Record<string, unknown> = {}): MeshObject {
  return {
    kind: "Service",
    apiVersion: "v1",
    metadata: { name, namespace: "default" },
    spec: { clusterIP: ip, selector: { app: name }, ports: ports.map((p) => ({ ...p, targetPort: p.port })), ...extra },
  } as MeshObject;
}
const vs = (name: string, spec: Record<string, unknown>, ts = "2024-01-01T00:00:00Z"): MeshObject =>
  ({
    kind: "VirtualService",
    apiVersion: "networking.istio.io/v1",
    metadata: { name, namespace: "default", creationTimestamp: ts },
    spec,
  }) as unknown as MeshObject;
const dr = (name: string, spec: Record<string, unknown>): MeshObject =>
  ({ kind: "DestinationRule", apiVersion: "networking.istio.io/v1", metadata: { name, namespace: "default" }, spec }) as unknown as MeshObject;

const base: MeshObject[] = [svc("httpbin", "10.96.0.20", [{ name: "http", port: 8000 }]), svc("sleep", "10.96.0.30", [{ name: "http", port: 80 }])];

function routes(objects: MeshObject[]): Map<string, RouteConfiguration> {
  const p = parseProxy(NODE, { LABELS: { app: "sleep" } });
  if (!p.ok) throw new Error(p.error);
  const built = buildMesh(objects, {});
  return new Map(generate(built.mesh, p.proxy).routes.map((r) => [String(r.name), r]));
}
function vhost(rc: RouteConfiguration | undefined, name: string): VirtualHost | undefined {
  return rc?.virtual_hosts?.find((v) => v.name === name);
}

test("a split over subsets that hash differently carries each destination's hash policy, in destination order", () => {
  const rcs = routes([
    ...base,
    dr("h", {
      host: "httpbin",
      trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: "x-user" } } },
      subsets: [
        { name: "v1", labels: { v: "1" }, trafficPolicy: { loadBalancer: { consistentHash: { httpCookie: { name: "s", ttl: "30s" } } } } },
        { name: "v2", labels: { v: "2" } },
      ],
    }),
    vs("h", {
      hosts: ["httpbin"],
      http: [
        {
          route: [
            { destination: { host: "httpbin", subset: "v1" }, weight: 50 },
            { destination: { host: "httpbin", subset: "v2" }, weight: 50 },
          ],
        },
      ],
    }),
  ]);
  const r = vhost(rcs.get("8000"), "httpbin.default.svc.cluster.local:8000")!.routes![0]!;
  assert.deepEqual(r.route!.hash_policy, [{ cookie: { name: "s", ttl: "30s" } }, { header: { header_name: "x-user" } }]);
  assert.ok(
    r.route!.retry_policy!.retry_host_predicate,
    "a split route keeps the previous-hosts predicate, as istiod (hashing counts for one destination only)",
  );
});

test("port-level consistent hashing counts only for a port written on the destination; the default route takes it for its port", () => {
  const rule = dr("h", {
    host: "httpbin",
    trafficPolicy: {
      loadBalancer: { consistentHash: { httpHeaderName: "x-top" } },
      portLevelSettings: [{ port: { number: 8000 }, loadBalancer: { consistentHash: { httpQueryParameterName: "q" } } }],
    },
  });
  const dflt = routes([...base, rule]);
  assert.deepEqual(vhost(dflt.get("8000"), "httpbin.default.svc.cluster.local:8000")!.routes![0]!.route!.hash_policy, [{ query_parameter: { name: "q" } }]);
  const portless = routes([...base, rule, vs("h", { hosts: ["httpbin"], http: [{ route: [{ destination: { host: "httpbin" } }] }] })]);
  assert.deepEqual(vhost(portless.get("8000"), "httpbin.default.svc.cluster.local:8000")!.routes![0]!.route!.hash_policy, [
    { header: { header_name: "x-top" } },
  ]);
  const explicit = routes([...base, rule, vs("h", { hosts: ["httpbin"], http: [{ route: [{ destination: { host: "httpbin", port: { number: 8000 } } }] }] })]);
  assert.deepEqual(vhost(explicit.get("8000"), "httpbin.default.svc.cluster.local:8000")!.routes![0]!.route!.hash_policy, [{ query_parameter: { name: "q" } }]);
});

test("a port-less destination takes the listener's port in a sidecar route, even when its service has one other port", () => {
  const rcs = routes([...base, vs("h", { hosts: ["httpbin"], http: [{ route: [{ destination: { host: "sleep" } }], mirror: { host: "sleep" } }] })]);
  const r = vhost(rcs.get("8000"), "httpbin.default.svc.cluster.local:8000")!.routes![0]!;
  assert.equal(r.route!.cluster, "outbound|8000||sleep.default.svc.cluster.local");
  assert.equal(r.route!.request_mirror_policies![0]!.cluster, "outbound|8000||sleep.default.svc.cluster.local");
});

test("route config 80 gets a virtual host for every VirtualService host that is no service on port 80, matching the host alone", () => {
  const rcs = routes([
    ...base,
    vs("h", { hosts: ["httpbin"], http: [{ route: [{ destination: { host: "httpbin", port: { number: 8000 } } }] }] }),
    vs("ext", { hosts: ["api.example.com"], http: [{ route: [{ destination: { host: "sleep" } }] }] }, "2024-01-02T00:00:00Z"),
  ]);
  const rc80 = rcs.get("80")!;
  assert.deepEqual(
    rc80.virtual_hosts!.map((v) => v.name),
    ["api.example.com:80", "httpbin.default.svc.cluster.local:80", "sleep.default.svc.cluster.local:80", "allow_any"],
  );
  assert.deepEqual(vhost(rc80, "httpbin.default.svc.cluster.local:80")!.domains, ["httpbin.default.svc.cluster.local"]);
  assert.equal(vhost(rc80, "httpbin.default.svc.cluster.local:80")!.routes![0]!.route!.cluster, "outbound|8000||httpbin.default.svc.cluster.local");
  assert.equal(vhost(rc80, "api.example.com:80")!.routes![0]!.route!.cluster, "outbound|80||sleep.default.svc.cluster.local");
  // On another port only VirtualServices with a service on that port count: api.example.com is not in route config 8000.
  assert.deepEqual(
    rcs.get("8000")!.virtual_hosts!.map((v) => v.name),
    ["httpbin.default.svc.cluster.local:8000", "allow_any"],
  );
});

test("on a port other than 80, a VirtualService with a service on the port brings its other hosts along", () => {
  const rcs = routes([...base, vs("h", { hosts: ["httpbin", "httpbin.example.com", "sleep"], http: [{ route: [{ destination: { host: "httpbin" } }] }] })]);
  assert.deepEqual(
    rcs.get("8000")!.virtual_hosts!.map((v) => [v.name, v.domains]),
    [
      [
        "httpbin.default.svc.cluster.local:8000",
        ["httpbin.default.svc.cluster.local", "httpbin.default.svc.cluster.local.", "httpbin", "httpbin.default.svc", "httpbin.default", "10.96.0.20"],
      ],
      ["httpbin.example.com:8000", ["httpbin.example.com"]],
      ["sleep.default.svc.cluster.local:8000", ["sleep.default.svc.cluster.local"]],
      ["allow_any", ["*"]],
    ],
  );
  // sleep is a service on 80: there it is the VirtualService's (not the default route), with the service's domains.
  const sleep80 = vhost(rcs.get("80"), "sleep.default.svc.cluster.local:80")!;
  assert.equal(sleep80.routes![0]!.route!.cluster, "outbound|80||httpbin.default.svc.cluster.local");
  assert.ok(sleep80.domains!.includes("sleep"));
});

test("a VirtualService with no route for this proxy leaves its service the default route", () => {
  const rcs = routes([
    ...base,
    vs("h", { hosts: ["httpbin"], http: [{ match: [{ sourceLabels: { app: "other" } }], route: [{ destination: { host: "httpbin", subset: "v1" } }] }] }),
  ]);
  const r = vhost(rcs.get("8000"), "httpbin.default.svc.cluster.local:8000")!.routes!;
  assert.deepEqual(
    r.map((x) => [x.name, x.route?.cluster]),
    [["default", "outbound|8000||httpbin.default.svc.cluster.local"]],
  );
});

test("an ExternalName Service is an alias: no cluster or virtual host of its own, its names on the service it names", () => {
  const alias = svc("hb-alias", "", [{ name: "http", port: 8000 }], {
    type: "ExternalName",
    externalName: "httpbin.default.svc.cluster.local",
    clusterIP: undefined,
  });
  const p = parseProxy(NODE, { LABELS: { app: "sleep" } });
  if (!p.ok) throw new Error(p.error);
  const out = generate(
    buildMesh([...base, alias, vs("s", { hosts: ["sleep"], http: [{ route: [{ destination: { host: "hb-alias" } }] }] })], {}).mesh,
    p.proxy,
  );
  assert.ok(!out.clusters.some((c) => String(c.name).includes("hb-alias")), "no cluster for the alias");
  const rc8000 = out.routes.find((r) => r.name === "8000")!;
  assert.deepEqual(
    rc8000.virtual_hosts!.map((v) => v.name),
    ["httpbin.default.svc.cluster.local:8000", "allow_any"],
  );
  assert.ok(vhost(rc8000, "httpbin.default.svc.cluster.local:8000")!.domains!.includes("hb-alias.default.svc.cluster.local"));
  assert.ok(vhost(rc8000, "httpbin.default.svc.cluster.local:8000")!.domains!.includes("hb-alias"));
  // On route config 80 the alias has no port 80, so istiod does not find it: the destination keeps its own name.
  assert.equal(
    vhost(
      out.routes.find((r) => r.name === "80"),
      "sleep.default.svc.cluster.local:80",
    )!.routes![0]!.route!.cluster,
    "outbound|80||hb-alias.default.svc.cluster.local",
  );
});
