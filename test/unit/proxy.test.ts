import { test } from "node:test";
import assert from "node:assert/strict";
import { parseProxy, proxyViewKey, ProxyView } from "../../src/model/proxy";

const ID = "sidecar~10.244.1.30~sleep-7f8d9c6b5-ccccc.default~default.svc.cluster.local";

function ok(id: string, meta: Record<string, unknown> = {}): ProxyView {
  const r = parseProxy(id, meta);
  if (!r.ok) throw new Error(r.error);
  return r.proxy;
}

test("a sidecar node id and metadata give kind, ip, pod, namespace, labels", () => {
  const p = ok(ID, { NAMESPACE: "default", LABELS: { app: "sleep" }, ISTIO_VERSION: "1.24.0", CLUSTER_ID: "Kubernetes", INSTANCE_IPS: "10.244.1.30,fd00::1e" });
  assert.equal(p.kind, "sidecar");
  assert.equal(p.ip, "10.244.1.30");
  assert.equal(p.podName, "sleep-7f8d9c6b5-ccccc");
  assert.equal(p.namespace, "default");
  assert.equal(p.dnsDomain, "default.svc.cluster.local");
  assert.deepEqual(p.labels, { app: "sleep" });
  assert.equal(p.istioVersion, "1.24.0");
  assert.equal(p.clusterId, "Kubernetes");
  assert.deepEqual(p.instanceIps, ["10.244.1.30", "fd00::1e"]);
  assert.equal(p.generator, undefined);
});

test("LABELS may be a JSON string; GENERATOR grpc is kept; the namespace falls back to the id", () => {
  const p = ok("router~10.0.0.5~ingress-1.istio-system~istio-system.svc.cluster.local", { LABELS: '{"istio":"ingressgateway"}', GENERATOR: "grpc" });
  assert.equal(p.kind, "router");
  assert.equal(p.namespace, "istio-system");
  assert.deepEqual(p.labels, { istio: "ingressgateway" });
  assert.equal(p.generator, "grpc");
  assert.deepEqual(p.instanceIps, ["10.0.0.5"]);
});

test("unparseable identities are refused with a reason, never a throw", () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ["sidecar~10.0.0.1~pod.ns", {}, /has 3 "~"-separated parts; want 4/],
    ["gateway~10.0.0.1~pod.ns~ns.svc.cluster.local", {}, /proxy type "gateway" is not one of sidecar, router/],
    ["sidecar~~pod.ns~ns.svc.cluster.local", {}, /IP part is empty/],
    ["sidecar~10.0.0.1~pod~", {}, /no namespace/],
    [ID, { LABELS: "{not json" }, /LABELS is a string but not JSON/],
    [ID, { LABELS: { app: 3 } }, /value of "app" must be a string/],
    [ID, { GENERATOR: "envoy-v2" }, /GENERATOR "envoy-v2" is not supported/],
  ];
  for (const [id, meta, re] of cases) {
    const r = parseProxy(id, meta);
    assert.equal(r.ok, false, id);
    if (!r.ok) assert.match(r.error, re);
  }
});

test("proxyViewKey: same kind/namespace/labels share a key whatever the pod or IP; anything output depends on splits it", () => {
  const a = ok(ID, { LABELS: { app: "sleep", version: "v1" } });
  const b = ok("sidecar~10.244.9.99~sleep-other.default~default.svc.cluster.local", { LABELS: { version: "v1", app: "sleep" } });
  assert.equal(proxyViewKey(a), proxyViewKey(b));
  const differing = [
    ok(ID, { LABELS: { app: "sleep", version: "v2" } }),
    ok(ID.replace("sidecar", "router"), { LABELS: { app: "sleep", version: "v1" } }),
    ok(ID, { LABELS: { app: "sleep", version: "v1" }, GENERATOR: "grpc" }),
    ok(ID, { LABELS: { app: "sleep", version: "v1" }, NAMESPACE: "prod" }),
  ];
  for (const d of differing) assert.notEqual(proxyViewKey(d), proxyViewKey(a));
});
