/**
 * Sidecar egress listeners with an address of their own (bind / captureMode
 * NONE) and proxyless gRPC under a Sidecar, as istiod builds them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildMesh } from "../../src/model/mesh";
import { parseProxy } from "../../src/model/proxy";
import { objectsFromManifests } from "../../src/cli/translate";
import { generate } from "../../src/generate";

type J = any;

const SERVICES = `
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: shop}
spec: {clusterIP: 10.96.6.2, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: shop}
spec: {clusterIP: 10.96.6.5, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec: {clusterIP: 10.96.6.3, ports: [{name: tcp-postgres, port: 5432}]}
---
apiVersion: v1
kind: Service
metadata: {name: far, namespace: other}
spec: {clusterIP: 10.96.7.3, ports: [{name: grpc, port: 7070}]}
`;

function gen(sidecarSpec: string, metadata: Record<string, unknown> = {}): J {
  const text = `${SERVICES}---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: shop}
spec:
${sidecarSpec}`;
  const loaded = objectsFromManifests([{ file: "input.yaml", text }]);
  assert.deepEqual(
    loaded.diagnostics.filter((d) => d.severity === "error"),
    [],
  );
  const { mesh } = buildMesh(loaded.objects, { tracing: false });
  const p = parseProxy("sidecar~10.244.6.1~web-1.shop~shop.svc.cluster.local", { NAMESPACE: "shop", ...metadata });
  assert.ok(p.ok);
  return generate(mesh, p.proxy);
}

const names = (xs: J[]): string[] => xs.map((x) => x.name).sort();

test("captureMode NONE with a bind: Envoy binds the address; only that listener's hosts are in route config <port>", () => {
  const g = gen(`  egress:
    - port: {number: 9080, protocol: HTTP, name: http}
      bind: 127.0.0.2
      captureMode: NONE
      hosts: [./reviews.shop.svc.cluster.local]
    - hosts: [./*]`);
  const l = g.listeners.find((x: J) => x.name === "127.0.0.2_9080");
  assert.ok(l, names(g.listeners).join(","));
  assert.equal(l.bind_to_port, undefined, "Envoy's default: bind the port");
  assert.deepEqual(l.address.socket_address, { address: "127.0.0.2", port_value: 9080 });
  assert.equal(l.filter_chains.length, 1);
  assert.equal(l.filter_chains[0].filters[0].typed_config.rds.route_config_name, "9080");
  // istiod's GetEgressListenerForRDS: route config 9080 comes from the first egress listener with port 9080.
  const rc = g.routes.find((r: J) => r.name === "9080");
  assert.deepEqual(
    rc.virtual_hosts.map((v: J) => v.name),
    ["reviews.shop.svc.cluster.local:9080", "allow_any"],
  );
  // The catch-all still builds the ordinary listener for its services (ratings on 0.0.0.0_9080).
  assert.ok(g.listeners.some((x: J) => x.name === "0.0.0.0_9080"));
  assert.ok(g.clusters.some((c: J) => c.name === "outbound|9080||ratings.shop.svc.cluster.local"));
});

test("captureMode NONE without a bind listens on 127.0.0.1; a TCP egress port proxies to its service; DEFAULT capture with a bind is captured", () => {
  const g = gen(`  egress:
    - port: {number: 5432, protocol: TCP, name: tcp}
      captureMode: NONE
      hosts: [./db.shop.svc.cluster.local]
    - port: {number: 9080, protocol: HTTP, name: http}
      bind: 10.10.0.1
      hosts: [./reviews.shop.svc.cluster.local]`);
  const db = g.listeners.find((x: J) => x.name === "127.0.0.1_5432");
  assert.ok(db, names(g.listeners).join(","));
  assert.equal(db.filter_chains[0].filters[0].typed_config.cluster, "outbound|5432||db.shop.svc.cluster.local");
  assert.equal(db.bind_to_port, undefined);
  const captured = g.listeners.find((x: J) => x.name === "10.10.0.1_9080");
  assert.equal(captured.bind_to_port, false, "iptables hands it over through virtualOutbound");
  // No catch-all: the services of bound listeners get no ordinary listeners (istiod builds those per egress listener).
  assert.deepEqual(
    names(g.listeners).filter((n) => !n.startsWith("virtual")),
    ["10.10.0.1_9080", "127.0.0.1_5432"],
  );
});

test("an egress listener with a bind but no imported service gets no listener", () => {
  const g = gen(`  egress:
    - port: {number: 9080, protocol: HTTP, name: http}
      bind: 127.0.0.2
      captureMode: NONE
      hosts: [other/*]
    - hosts: [./*]`);
  assert.ok(!g.listeners.some((x: J) => x.name === "127.0.0.2_9080"));
});

test("proxyless gRPC: the Sidecar's egress hosts scope the listeners and clusters (istiod's grpcgen walks SidecarScope.Services())", () => {
  const scoped = gen(`  egress: [{hosts: [./*]}]`, { GENERATOR: "grpc" });
  assert.ok(!scoped.listeners.some((l: J) => l.name.startsWith("far.")), names(scoped.listeners).join(","));
  assert.ok(scoped.listeners.some((l: J) => l.name === "reviews.shop.svc.cluster.local:9080"));
  assert.ok(!scoped.clusters.some((c: J) => c.name.includes("far.other")));
  const wide = gen(`  egress: [{hosts: ["*/*"]}]`, { GENERATOR: "grpc" });
  assert.ok(wide.listeners.some((l: J) => l.name === "far.other.svc.cluster.local:7070"));
});
