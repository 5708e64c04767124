/**
 * Locality load balancing through the push pipeline, as `serve` runs it:
 * proxies resolved from their Envoy node (locality included) get EDS made
 * relative to their locality; proxies of one locality share one encoded
 * ClusterLoadAssignment (the same bytes object); a Node relabelled moves
 * endpoints between priorities with an EDS-only push.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Snapshot } from "../../src/cache/snapshot";
import type { NodeInfo } from "../../src/cache/snapshot-cache";
import { ENDPOINT, messageName } from "../../src/xds/types";
import { decodeToJson } from "../../src/xds/json";
import { messageType } from "../../src/xds/protos";
import { meshObjects as objects, pipelineOn } from "../support/push-harness";

const CLA = "outbound|80||api.default.svc.cluster.local";

const node = (name: string, region: string, zone: string) => `
apiVersion: v1
kind: Node
metadata: {name: ${name}, labels: {topology.kubernetes.io/region: ${region}, topology.kubernetes.io/zone: ${zone}}}
`;

const MESH = `
apiVersion: v1
kind: Service
metadata: {name: api, namespace: default}
spec:
  clusterIP: 10.96.0.20
  selector: {app: api}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: api-1, namespace: default, labels: {kubernetes.io/service-name: api}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
  - {addresses: [10.244.1.1], nodeName: node-a}
  - {addresses: [10.244.2.1], nodeName: node-b}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api, namespace: default}
spec:
  host: api
  trafficPolicy: {outlierDetection: {consecutive5xxErrors: 3}}
---${node("node-a", "r1", "r1-a")}---${node("node-b", "r1", "r1-b")}`;

function sidecar(i: number, zone: string | undefined): NodeInfo {
  return {
    id: `sidecar~10.244.9.${i}~sleep-${i}.default~default.svc.cluster.local`,
    cluster: "sleep",
    metadata: { NAMESPACE: "default", LABELS: { app: "sleep", "pod-template-hash": `h${i}` } },
    ...(zone ? { locality: { region: "r1", zone } } : {}),
  };
}

function setUp() {
  const { clock, store, pipeline, pushes } = pipelineOn(MESH, { afterMs: 10, maxMs: 100 });
  const latest = new Map<string, Snapshot>();
  const join = (n: NodeInfo): string => {
    const r = pipeline.cache.resolve(n);
    assert.ok(r.ok);
    pipeline.cache.watch(r.group, (s) => latest.set(n.id, s), n.id);
    return r.group;
  };
  return { clock, store, pipeline, pushes, latest, join };
}

function priorities(s: Snapshot): Record<string, number> {
  const r = s.types[ENDPOINT].resources.get(CLA);
  assert.ok(r);
  const cla = decodeToJson(messageType(messageName(ENDPOINT)), r.bytes) as {
    endpoints: { priority?: number; lb_endpoints: { endpoint: { address: { socket_address: { address: string } } } }[] }[];
  };
  return Object.fromEntries(cla.endpoints.flatMap((e) => e.lb_endpoints.map((lb) => [lb.endpoint.address.socket_address.address, e.priority ?? 0])));
}

test("EDS per locality: each proxy's own priorities; one encoded assignment per locality; a Node change is an EDS-only push", () => {
  const h = setUp();
  const a1 = sidecar(1, "r1-a");
  const a2 = sidecar(2, "r1-a");
  const b1 = sidecar(3, "r1-b");
  const groups = [h.join(a1), h.join(a2), h.join(b1)];
  assert.equal(new Set(groups).size, 3, "distinct label sets: three groups");
  assert.deepEqual(priorities(h.latest.get(a1.id)!), { "10.244.1.1": 0, "10.244.2.1": 1 });
  assert.deepEqual(priorities(h.latest.get(b1.id)!), { "10.244.1.1": 1, "10.244.2.1": 0 });
  const bytes = (n: NodeInfo) => h.latest.get(n.id)!.types[ENDPOINT].resources.get(CLA)!;
  assert.equal(bytes(a1), bytes(a2), "same locality: the very same encoded resource");
  assert.notEqual(bytes(a1).version, bytes(b1).version);

  // node-b moves to zone r1-a: both endpoints are now local for a1 and remote for b1, pushed as EDS only.
  h.store.apply(objects(node("node-b", "r1", "r1-a")));
  h.clock.advance(10);
  assert.equal(h.pushes.length, 1);
  assert.equal(h.pushes[0]!.full, false, "a Node change regenerates EDS only");
  assert.deepEqual(priorities(h.latest.get(a1.id)!), { "10.244.1.1": 0, "10.244.2.1": 0 });
  assert.deepEqual(priorities(h.latest.get(b1.id)!), { "10.244.1.1": 0, "10.244.2.1": 0 }, "b1: one remote zone, renumbered from 0");
  h.pipeline.stop();
});

test("a proxy whose Pod is known takes its locality from the Pod's Node (as istiod), over what its Envoy node says", () => {
  const h = setUp();
  h.store.apply(
    objects(`
apiVersion: v1
kind: Pod
metadata: {name: sleep-9, namespace: default, labels: {app: sleep}}
spec: {nodeName: node-b, containers: [{name: sleep, image: sleep}]}
status: {phase: Running, podIP: 10.244.9.9}
`),
  );
  h.clock.advance(10);
  const onNodeB = sidecar(9, "r1-a"); // its Envoy claims r1-a; its Pod runs on node-b (r1-b)
  h.join(onNodeB);
  assert.deepEqual(priorities(h.latest.get(onNodeB.id)!), { "10.244.1.1": 1, "10.244.2.1": 0 });
  const unknownPod = sidecar(8, "r1-a");
  h.join(unknownPod);
  assert.deepEqual(priorities(h.latest.get(unknownPod.id)!), { "10.244.1.1": 0, "10.244.2.1": 1 }, "no Pod: the Envoy node's locality");
  h.pipeline.stop();
});
