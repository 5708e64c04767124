/**
 * The catch-all clusters as istiod builds them (found by the fidelity harness,
 * test/fidelity): the mesh connectTimeout on BlackHole, passthrough and inbound
 * clusters, and a 5-minute idle timeout on the passthrough clusters' upstream
 * HTTP connections.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildMesh } from "../../src/model/mesh";
import { parseProxy } from "../../src/model/proxy";
import type { MeshObject } from "../../src/model/types";
import { generate } from "../../src/generate";

type Json = Record<string, unknown>;

const objects: MeshObject[] = [
  {
    kind: "Service",
    apiVersion: "v1",
    metadata: { name: "web", namespace: "default" },
    spec: { clusterIP: "10.96.0.10", selector: { app: "web" }, ports: [{ name: "http", port: 80, targetPort: 8080 }] },
  },
  { kind: "Pod", apiVersion: "v1", metadata: { name: "web-1", namespace: "default", labels: { app: "web" } }, spec: { podIP: "10.0.0.1" } },
];

function clusters(connectTimeoutMs?: number): Map<string, Json> {
  const p = parseProxy("sidecar~10.0.0.1~web-1.default~default.svc.cluster.local", { LABELS: { app: "web" } });
  if (!p.ok) throw new Error(p.error);
  const mesh = buildMesh(objects, connectTimeoutMs === undefined ? {} : { connectTimeoutMs }).mesh;
  return new Map(generate(mesh, p.proxy).clusters.map((c) => [c.name!, c as unknown as Json]));
}

test("BlackHole, passthrough and inbound clusters take the mesh connectTimeout", () => {
  const names = ["BlackHoleCluster", "PassthroughCluster", "InboundPassthroughCluster", "inbound|8080||", "outbound|80||web.default.svc.cluster.local"];
  const custom = clusters(3000);
  for (const n of names) assert.equal(custom.get(n)?.connect_timeout, "3s", n);
  const dflt = clusters();
  for (const n of names) assert.equal(dflt.get(n)?.connect_timeout, "10s", n);
});

test("passthrough clusters close idle upstream HTTP connections after 300s, as istiod", () => {
  const cs = clusters();
  for (const n of ["PassthroughCluster", "InboundPassthroughCluster"]) {
    const opts = (cs.get(n)!.typed_extension_protocol_options as Json)["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"] as Json;
    assert.deepEqual(opts.common_http_protocol_options, { idle_timeout: "300s" }, n);
    assert.ok(opts.use_downstream_protocol_config, `${n} still follows the downstream protocol`);
  }
});
