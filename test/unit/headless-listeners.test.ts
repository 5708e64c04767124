/**
 * Headless Services as istiod 1.31 treats them (listener.go, Resolution Passthrough; checked against istiod by
 * the fidelity harness, golden case headless-statefulset): TCP and sniffed ports get one listener per endpoint
 * IP except the proxy's own, none without endpoints; virtual hosts also match the pods' own DNS names.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildMesh } from "../../src/model/mesh";
import { parseProxy } from "../../src/model/proxy";
import type { MeshObject } from "../../src/model/types";
import { generate } from "../../src/generate";
import type { Snapshot } from "../../src/cache/snapshot";
import { LISTENER } from "../../src/xds/types";
import { meshObjects as objects, pipelineOn } from "../support/push-harness";

const obj = (o: Record<string, unknown>) => o as unknown as MeshObject;
const db = obj({
  kind: "Service",
  apiVersion: "v1",
  metadata: { name: "db", namespace: "default" },
  spec: {
    clusterIP: "None",
    selector: { app: "db" },
    ports: [
      { name: "tcp-sql", port: 5432 },
      { name: "gossip", port: 7000 },
      { name: "http-admin", port: 8080 },
    ],
  },
});
const slice = (ips: string[]) =>
  obj({
    kind: "EndpointSlice",
    apiVersion: "discovery.k8s.io/v1",
    metadata: { name: "db-x", namespace: "default" },
    spec: {
      serviceName: "db",
      addressType: "IPv4",
      ports: [
        { name: "tcp-sql", port: 5432 },
        { name: "gossip", port: 7000 },
        { name: "http-admin", port: 8080 },
      ],
      endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
    },
  });

function listenerNames(objects: MeshObject[], node: string, labels: Record<string, string>): string[] {
  const p = parseProxy(node, { LABELS: labels });
  if (!p.ok) throw new Error(p.error);
  return generate(buildMesh(objects, {}).mesh, p.proxy)
    .listeners.map((l) => String(l.name))
    .filter((n) => !n.startsWith("virtual"));
}

test("a headless Service's TCP and sniffed ports get a listener per endpoint IP; its HTTP port the wildcard listener", () => {
  const names = listenerNames([db, slice(["10.1.0.1", "10.1.0.2"])], "sidecar~10.9.0.1~c.default~default.svc.cluster.local", { app: "client" });
  assert.deepEqual(names, ["0.0.0.0_8080", "10.1.0.1_5432", "10.1.0.1_7000", "10.1.0.2_5432", "10.1.0.2_7000"]);
});

test("a pod of the Service gets no listener for its own IP; without endpoints there is none at all", () => {
  const own = listenerNames([db, slice(["10.1.0.1", "10.1.0.2"])], "sidecar~10.1.0.1~db-0.default~default.svc.cluster.local", { app: "db" });
  assert.deepEqual(own, ["0.0.0.0_8080", "10.1.0.2_5432", "10.1.0.2_7000"]);
  assert.deepEqual(listenerNames([db], "sidecar~10.9.0.1~c.default~default.svc.cluster.local", { app: "client" }), ["0.0.0.0_8080"]);
});

test("the virtual host of a headless Service also matches its pods' DNS names", () => {
  const p = parseProxy("sidecar~10.9.0.1~c.default~default.svc.cluster.local", { LABELS: { app: "client" } });
  if (!p.ok) throw new Error(p.error);
  const rc = generate(buildMesh([db], {}).mesh, p.proxy).routes.find((r) => r.name === "8080")!;
  assert.deepEqual(rc.virtual_hosts![0]!.domains, [
    "db.default.svc.cluster.local",
    "db.default.svc.cluster.local.",
    "db",
    "db.default.svc",
    "db.default",
    "*.db.default.svc.cluster.local",
    "*.db.default.svc.cluster.local.",
    "*.db",
    "*.db.default.svc",
    "*.db.default",
  ]);
});

test("a new endpoint of a headless Service pushes its listener (an endpoint change that reaches LDS is a full push)", () => {
  const service = `
apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec: {clusterIP: None, selector: {app: db}, ports: [{name: tcp-sql, port: 5432}]}
`;
  const slice = (ips: string[]) => `
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: db-x1, namespace: default, labels: {kubernetes.io/service-name: db}}
addressType: IPv4
ports: [{name: tcp-sql, port: 5432}]
endpoints: [${ips.map((ip) => `{addresses: [${ip}]}`).join(", ")}]
`;
  const { clock, store, pipeline, pushes } = pipelineOn(service + "---" + slice(["10.1.0.1"]), { afterMs: 100, maxMs: 1000 });
  const r = pipeline.cache.resolve({
    id: "sidecar~10.9.0.1~c-1.default~default.svc.cluster.local",
    cluster: "c",
    metadata: { NAMESPACE: "default", LABELS: { app: "c" } },
  });
  assert.ok(r.ok);
  const seen: Snapshot[] = [];
  pipeline.cache.watch(r.group, (s) => seen.push(s));
  const names = () => [...seen[seen.length - 1]!.types[LISTENER].resources.keys()].filter((n) => !n.startsWith("virtual"));
  assert.deepEqual(names(), ["10.1.0.1_5432"]);
  store.apply(objects(slice(["10.1.0.1", "10.1.0.2"])));
  clock.advance(100);
  assert.equal(pushes.at(-1)!.full, true);
  assert.deepEqual(names(), ["10.1.0.1_5432", "10.1.0.2_5432"]);
  pipeline.stop();
});
