/**
 * Endpoint changes that change a service's identities (the SANs its clients
 * check) reach clusters: the push becomes a full push, as Istio escalates an
 * EDS update when service accounts change. Same SA: endpoints only.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Snapshot } from "../../src/cache/snapshot";
import { CLUSTER, messageName } from "../../src/xds/types";
import { decodeToJson } from "../../src/xds/json";
import { messageType } from "../../src/xds/protos";
import { meshObjects as objects, pipelineOn } from "../support/push-harness";

const SERVICE = `
apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: default}
spec:
  clusterIP: 10.96.0.20
  selector: {app: httpbin}
  ports: [{name: http, port: 8000, targetPort: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: httpbin-x1, namespace: default, labels: {kubernetes.io/service-name: httpbin}}
addressType: IPv4
ports: [{name: http, port: 80}]
endpoints: [{addresses: [10.244.1.10]}, {addresses: [10.244.1.11]}]
`;

const pod = (name: string, ip: string, sa: string) => `
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: default, labels: {app: httpbin, security.istio.io/tlsMode: istio}}
spec: {serviceAccountName: ${sa}}
status: {phase: Running, podIP: ${ip}}
`;

test("a pod with a new service account makes a full push; the client's SANs follow it", () => {
  const { clock, store, pipeline, pushes } = pipelineOn(SERVICE + "---" + pod("httpbin-1", "10.244.1.10", "httpbin"), { afterMs: 100, maxMs: 1000 });
  const r = pipeline.cache.resolve({
    id: "sidecar~10.244.1.30~sleep-1.default~default.svc.cluster.local",
    cluster: "sleep",
    metadata: { NAMESPACE: "default", LABELS: { app: "sleep" }, SDS: "true" },
  });
  assert.ok(r.ok);
  const seen: Snapshot[] = [];
  pipeline.cache.watch(r.group, (s) => seen.push(s));
  const sans = () => {
    const res = seen[seen.length - 1]!.types[CLUSTER].resources.get("outbound|8000||httpbin.default.svc.cluster.local")!;
    return [...JSON.stringify(decodeToJson(messageType(messageName(CLUSTER)), res.bytes)).matchAll(/"exact":"(spiffe:[^"]+)"/g)].map((m) => m[1]);
  };
  assert.deepEqual(sans(), ["spiffe://cluster.local/ns/default/sa/httpbin"]);

  // A second pod with the same account: endpoints only.
  store.apply(objects(pod("httpbin-2", "10.244.1.11", "httpbin")));
  clock.advance(100);
  assert.equal(pushes.at(-1)!.full, false);

  // The same pod moves to another account (a Pod change, normally EDS only): clusters are rebuilt.
  store.apply(objects(pod("httpbin-2", "10.244.1.11", "httpbin-v2")));
  clock.advance(100);
  assert.equal(pushes.at(-1)!.full, true);
  assert.deepEqual(sans(), ["spiffe://cluster.local/ns/default/sa/httpbin", "spiffe://cluster.local/ns/default/sa/httpbin-v2"]);
  pipeline.stop();
});
