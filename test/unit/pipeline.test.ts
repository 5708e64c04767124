/**
 * PushPipeline in process, on a fake clock: store changes are debounced and
 * merged into one push, endpoint-only changes regenerate EDS only, a failing
 * generation keeps the last good snapshot, and config changes reach watchers.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigStore } from "../../src/store";
import { parseManifests } from "../../src/model/parse";
import { objectKey, type MeshObject } from "../../src/model/types";
import { PushPipeline, PushReport } from "../../src/push/pipeline";
import type { Snapshot } from "../../src/cache/snapshot";
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, XdsTypeUrl, messageName } from "../../src/xds/types";
import { decodeToJson } from "../../src/xds/json";
import { messageType } from "../../src/xds/protos";
import { FakeClock } from "../support/fake-clock";
import { meshObjects as objects, pipelineOn } from "../support/push-harness";

const AFTER_MS = 100;
const MAX_MS = 1000;

/** Parsed but not validated: how a generator bug that validation misses reaches the pipeline. */
function unvalidated(yaml: string): MeshObject[] {
  const parsed = parseManifests(yaml, "test.yaml");
  assert.deepEqual(parsed.diagnostics, []);
  return parsed.objects.map(({ raw }) => raw as unknown as MeshObject);
}

const SERVICES = `
apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: default}
spec:
  clusterIP: 10.96.0.20
  selector: {app: httpbin}
  ports: [{name: http, port: 8000, targetPort: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: sleep, namespace: default}
spec:
  clusterIP: 10.96.0.30
  selector: {app: sleep}
  ports: [{name: http, port: 80, targetPort: 80}]
`;

function slice(...ips: string[]): string {
  return `
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: httpbin-x1, namespace: default, labels: {kubernetes.io/service-name: httpbin}}
addressType: IPv4
ports: [{name: http, port: 80}]
endpoints: [${ips.map((ip) => `{addresses: [${ip}]}`).join(", ")}]
`;
}

function virtualService(timeout: string): string {
  return `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin, namespace: default}
spec:
  hosts: [httpbin]
  http: [{timeout: ${timeout}, route: [{destination: {host: httpbin}}]}]
`;
}

interface Harness {
  clock: FakeClock;
  store: ConfigStore;
  pipeline: PushPipeline;
  pushes: PushReport[];
  errors: object[];
  /** Every snapshot the sleep proxy's watcher received after the first build, in order. */
  seen: Snapshot[];
  latest(): Snapshot;
}

function harness(): Harness {
  const errors: object[] = [];
  const { clock, store, pipeline, pushes } = pipelineOn(SERVICES + "---" + slice("10.244.1.10"), { afterMs: AFTER_MS, maxMs: MAX_MS }, (o) => errors.push(o));
  const node = {
    id: "sidecar~10.244.1.30~sleep-1.default~default.svc.cluster.local",
    cluster: "sleep",
    metadata: { NAMESPACE: "default", LABELS: { app: "sleep" } },
  };
  const r = pipeline.cache.resolve(node);
  assert.ok(r.ok);
  // The first watcher makes the pipeline build the group (the cache may hand it that snapshot twice).
  const first: Snapshot[] = [];
  pipeline.cache.watch(r.group, (s) => first.push(s));
  assert.ok(first.length >= 1, "the first watch builds and delivers a snapshot");
  // The observer joins an existing group: it gets the current snapshot once, then one call per change.
  const seen: Snapshot[] = [];
  pipeline.cache.watch(r.group, (s) => seen.push(s));
  assert.deepEqual(seen, [first[0]]);
  return { clock, store, pipeline, pushes, errors, seen, latest: () => seen[seen.length - 1]! };
}

function resourceJson(s: Snapshot, t: XdsTypeUrl, name: string): Record<string, unknown> {
  const r = s.types[t].resources.get(name);
  assert.ok(r, `${messageName(t)} ${name} is in the snapshot`);
  return decodeToJson(messageType(messageName(t)), r.bytes) as Record<string, unknown>;
}

test("a burst of changes is merged into one push after the quiet time", () => {
  const h = harness();
  h.store.apply(objects(virtualService("5s")));
  h.clock.advance(60);
  h.store.apply(objects(slice("10.244.1.10", "10.244.1.11")));
  h.clock.advance(60);
  h.store.apply(objects(virtualService("7s")));
  h.clock.advance(AFTER_MS - 1);
  assert.equal(h.pushes.length, 0, "nothing is pushed while changes keep coming");
  h.clock.advance(1);
  assert.equal(h.pushes.length, 1);
  assert.equal(h.pushes[0]!.full, true, "a VirtualService in the burst makes the merged push full");
  assert.deepEqual(h.pushes[0]!.reasons, { VirtualService: 2, EndpointSlice: 1 });
  const route = resourceJson(h.latest(), ROUTE, "8000");
  assert.match(JSON.stringify(route), /"timeout":"7s"/, "the last change of the burst wins");
  h.pipeline.stop();
});

test("a change stream that never goes quiet is pushed after the maximum wait", () => {
  const h = harness();
  for (let t = 0; t < 3 * MAX_MS; t += AFTER_MS / 2) {
    h.store.apply(objects(slice("10.244.1.10", `10.244.2.${(t / 50) % 250}`)));
    h.clock.advance(AFTER_MS / 2);
  }
  assert.equal(h.pushes.length, 3, `one push per ${MAX_MS} ms: ${JSON.stringify(h.pushes)}`);
  assert.ok(h.pushes.every((p) => !p.full));
  h.pipeline.stop();
});

test("an endpoint-only change regenerates EDS only", () => {
  const h = harness();
  const before = h.latest();
  h.store.apply(objects(slice("10.244.1.10", "10.244.1.11")));
  h.clock.advance(AFTER_MS);
  assert.equal(h.pushes.length, 1);
  assert.equal(h.pushes[0]!.full, false);
  assert.equal(h.pushes[0]!.encodes, 1, "only the changed ClusterLoadAssignment is encoded");
  const after = h.latest();
  assert.notEqual(after.version, before.version);
  for (const t of [LISTENER, ROUTE, CLUSTER] as const) assert.equal(after.types[t], before.types[t], `${messageName(t)} snapshot is kept as is`);
  assert.notEqual(after.types[ENDPOINT].version, before.types[ENDPOINT].version);
  const cla = JSON.stringify(resourceJson(after, ENDPOINT, "outbound|8000||httpbin.default.svc.cluster.local"));
  assert.match(cla, /10\.244\.1\.11/);
  h.pipeline.stop();
});

test("a failing generation keeps the last good snapshot, and the next good config is pushed", () => {
  const h = harness();
  const good = h.latest();
  // Validation refuses a maxConnections beyond int32; skipping it makes encoding the cluster throw.
  h.store.apply(
    unvalidated(`
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin, namespace: default}
spec:
  host: httpbin
  trafficPolicy: {connectionPool: {tcp: {maxConnections: 5000000000}}}
`),
  );
  h.clock.advance(AFTER_MS);
  assert.equal(h.pushes.length, 1);
  assert.equal(h.errors.length, 1, "the failed generation is logged (precondition: this config must fail to encode)");
  assert.match(JSON.stringify(h.errors[0]), /out of range for uint32/);
  assert.equal(h.pushes[0]!.changedGroups, 0);
  assert.equal(h.seen.length, 1, "watchers get nothing new");
  assert.equal(h.pipeline.cache.get(h.pipeline.cache.groups()[0]!), good, "the cache still holds the last good snapshot");

  h.store.apply(objects(virtualService("3s")));
  h.clock.advance(AFTER_MS);
  assert.equal(h.seen.length, 1, "still failing while the bad rule is there");
  h.store.delete([objectKey("DestinationRule", "default", "httpbin")]);
  h.clock.advance(AFTER_MS);
  assert.equal(h.seen.length, 2, "the next good config is pushed");
  assert.match(JSON.stringify(resourceJson(h.latest(), ROUTE, "8000")), /"timeout":"3s"/);
  h.pipeline.stop();
});

test("a config change reaches watchers; an unchanged one does not", () => {
  const h = harness();
  const before = h.latest();
  assert.doesNotMatch(JSON.stringify(resourceJson(before, ROUTE, "8000")), /"timeout":"9s"/);
  h.store.apply(objects(virtualService("9s")));
  h.clock.advance(AFTER_MS);
  assert.equal(h.seen.length, 2);
  const after = h.latest();
  assert.match(JSON.stringify(resourceJson(after, ROUTE, "8000")), /"timeout":"9s"/);
  assert.equal(after.types[CLUSTER].version, before.types[CLUSTER].version, "clusters did not change");
  // A change that does not alter this proxy's config (a Service in another namespace it cannot see) is pushed but not delivered.
  h.store.apply(
    objects(`
apiVersion: v1
kind: Service
metadata: {name: hidden, namespace: other, annotations: {networking.istio.io/exportTo: "."}}
spec:
  clusterIP: 10.96.0.99
  ports: [{name: http, port: 9000}]
`),
  );
  h.clock.advance(AFTER_MS);
  assert.equal(h.pushes.length, 2);
  assert.equal(h.pushes[1]!.changedGroups, 0);
  assert.equal(h.seen.length, 2, "watchers are not called for an unchanged snapshot");
  h.pipeline.stop();
});

test("groups that answer generation's questions alike share one generation", () => {
  const h = harness();
  const watch = (pod: string, labels: Record<string, string>) => {
    const r = h.pipeline.cache.resolve({
      id: `sidecar~10.244.3.1~${pod}.default~default.svc.cluster.local`,
      cluster: "",
      metadata: { NAMESPACE: "default", LABELS: labels },
    });
    assert.ok(r.ok);
    const got: Snapshot[] = [];
    h.pipeline.cache.watch(r.group, (s) => got.push(s));
    return got;
  };
  // Different groups (their labels differ) that no selector tells apart.
  const a = watch("sleep-a", { app: "sleep", "pod-template-hash": "aaaa" });
  const b = watch("sleep-b", { app: "sleep", "pod-template-hash": "bbbb" });
  const server = watch("httpbin-a", { app: "httpbin", version: "v1" });
  assert.equal(h.pipeline.groupCount(), 4);
  assert.equal(a.at(-1), h.latest(), "built once for the first group, reused");
  assert.equal(b.at(-1), h.latest());
  assert.notEqual(server.at(-1)!.types[LISTENER].version, h.latest().types[LISTENER].version, "httpbin's Service selects it: inbound listeners");

  h.store.apply(objects(virtualService("4s")));
  h.clock.advance(AFTER_MS);
  assert.equal(a.at(-1), h.latest(), "a full push shares too");
  assert.equal(b.at(-1), h.latest());
  h.store.apply(objects(slice("10.244.1.10", "10.244.1.12")));
  h.clock.advance(AFTER_MS);
  assert.equal(b.at(-1)!.types[ENDPOINT], h.latest().types[ENDPOINT], "an endpoint push shares the EDS snapshot");
  assert.equal(server.at(-1)!.types[ENDPOINT], h.latest().types[ENDPOINT], "the same EDS whatever the inbound side");
  h.pipeline.stop();
});
