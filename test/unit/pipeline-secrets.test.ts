/**
 * SDS in the push pipeline, in process on a fake clock: a gateway proxy gets
 * the Secrets its credentialName servers name, from its own namespace only; a
 * Secret-only change rebuilds SDS alone (the other types keep their snapshot
 * objects); a missing or broken Secret is a diagnostic naming it, without key
 * bytes; a Secret nobody names changes nothing.
 */
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { ConfigStore } from "../../src/store";
import { formatDiagnostic, objectKey } from "../../src/model/types";
import { PushPipeline, PushReport } from "../../src/push/pipeline";
import type { Snapshot } from "../../src/cache/snapshot";
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET } from "../../src/xds/types";
import { resourceToJson } from "../../src/xds/resource";
import { FakeClock } from "../support/fake-clock";
import { secretYaml, testCa, testLeaf, type TestLeaf } from "../support/tls-certs";
import { meshObjects as objects } from "../support/push-harness";

const AFTER_MS = 100;

const CONFIG = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 443, name: https, protocol: HTTPS}
      hosts: [secure.example.com]
      tls: {mode: SIMPLE, credentialName: cred}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: istio-system}
spec:
  hosts: [secure.example.com]
  gateways: [gw]
  http: [{route: [{destination: {host: web.default.svc.cluster.local}}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.96.0.20
  ports: [{name: http, port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 80}]
endpoints: [{addresses: [10.244.1.10]}]
`;

let one: TestLeaf, two: TestLeaf, other: TestLeaf;
before(async () => {
  const ca = await testCa();
  [one, two, other] = await Promise.all([testLeaf(ca, ["secure.example.com"]), testLeaf(ca, ["secure.example.com"]), testLeaf(ca, ["x.example.com"])]);
});

function harness() {
  const clock = new FakeClock();
  const store = new ConfigStore();
  store.apply(objects(CONFIG + "---\n" + secretYaml("istio-system", "cred", "tls", { cert: one.certPem, key: one.keyPem })));
  const pushes: PushReport[] = [];
  const pipeline = new PushPipeline(store, { clock, debounceAfterMs: AFTER_MS, onPush: (r) => pushes.push(r) });
  const node = {
    id: "router~10.244.0.5~istio-ingressgateway-1.istio-system~istio-system.svc.cluster.local",
    cluster: "gw",
    metadata: { NAMESPACE: "istio-system", LABELS: { istio: "ingressgateway" } },
  };
  const r = pipeline.cache.resolve(node);
  assert.ok(r.ok);
  const seen: Snapshot[] = [];
  pipeline.cache.watch(r.group, (s) => seen.push(s));
  return { clock, store, pipeline, pushes, seen, latest: () => seen[seen.length - 1]! };
}

function secretJson(s: Snapshot, name: string): Record<string, any> | undefined {
  const r = s.types[SECRET].resources.get(name);
  return r && (resourceToJson(r) as Record<string, any>);
}

const b64 = (s: string) => Buffer.from(s).toString("base64");

test("a gateway gets kubernetes://<credentialName> from the Secret in its namespace", () => {
  const h = harness();
  const s = secretJson(h.latest(), "kubernetes://cred");
  assert.ok(s);
  assert.equal(s.tls_certificate.certificate_chain.inline_bytes, b64(one.certPem));
  assert.equal(s.tls_certificate.private_key.inline_bytes, b64(one.keyPem));
  assert.deepEqual([...h.latest().types[SECRET].resources.keys()], ["kubernetes://cred"]);
  assert.deepEqual(h.pipeline.diagnostics(), []);
  h.pipeline.stop();
});

test("a Secret-only change rebuilds SDS only: the other types keep their snapshot objects", () => {
  const h = harness();
  const before = h.latest();
  h.store.apply(objects(secretYaml("istio-system", "cred", "tls", { cert: two.certPem, key: two.keyPem })));
  h.clock.advance(AFTER_MS);
  assert.equal(h.pushes.length, 1);
  assert.equal(h.pushes[0]!.full, false, "a Secret change is not a full push");
  assert.deepEqual(h.pushes[0]!.reasons, { Secret: 1 });
  assert.equal(h.pushes[0]!.encodes, 1, "only the changed Secret resource is encoded");
  const after = h.latest();
  for (const t of [LISTENER, ROUTE, CLUSTER, ENDPOINT] as const) assert.equal(after.types[t], before.types[t]);
  assert.notEqual(after.types[SECRET].version, before.types[SECRET].version);
  assert.equal(secretJson(after, "kubernetes://cred")!.tls_certificate.certificate_chain.inline_bytes, b64(two.certPem));
  h.pipeline.stop();
});

test("Secret and endpoint changes in one push rebuild SDS and EDS, nothing else", () => {
  const h = harness();
  const before = h.latest();
  h.store.apply(objects(secretYaml("istio-system", "cred", "generic", { cert: two.certPem, key: two.keyPem })));
  h.store.apply(
    objects(`
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 80}]
endpoints: [{addresses: [10.244.1.11]}]
`),
  );
  h.clock.advance(AFTER_MS);
  assert.equal(h.pushes.length, 1);
  assert.equal(h.pushes[0]!.full, false);
  const after = h.latest();
  for (const t of [LISTENER, ROUTE, CLUSTER] as const) assert.equal(after.types[t], before.types[t]);
  assert.notEqual(after.types[ENDPOINT].version, before.types[ENDPOINT].version);
  assert.notEqual(after.types[SECRET].version, before.types[SECRET].version);
  h.pipeline.stop();
});

test("a Secret nobody names, or one in another namespace, changes nothing for the gateway", () => {
  const h = harness();
  const count = h.seen.length;
  h.store.apply(objects(secretYaml("istio-system", "unused", "tls", { cert: other.certPem, key: other.keyPem })));
  h.store.apply(objects(secretYaml("default", "cred", "tls", { cert: other.certPem, key: other.keyPem })));
  h.clock.advance(AFTER_MS);
  assert.equal(h.pushes.length, 1);
  assert.equal(h.seen.length, count, "the gateway's snapshot did not change");
  assert.equal(secretJson(h.latest(), "kubernetes://cred")!.tls_certificate.certificate_chain.inline_bytes, b64(one.certPem));
  h.pipeline.stop();
});

test("a deleted or broken Secret: left out of SDS, a diagnostic names it and why, no key bytes; listeners unchanged", () => {
  const h = harness();
  const before = h.latest();
  h.store.delete([objectKey("Secret", "istio-system", "cred")]);
  h.clock.advance(AFTER_MS);
  assert.equal(h.latest().types[SECRET].resources.size, 0);
  assert.equal(h.latest().types[LISTENER], before.types[LISTENER], "the listener keeps its SDS reference, as istiod's does");
  assert.deepEqual(h.pipeline.diagnostics().map(formatDiagnostic), [
    'Secret istio-system/cred not found; not served: the certificate of credentialName "cred" for proxies in namespace istio-system; TLS handshakes on it fail until this is fixed',
  ]);

  h.store.apply(objects(secretYaml("istio-system", "cred", "tls", { cert: one.certPem, key: two.keyPem })));
  h.clock.advance(AFTER_MS);
  assert.equal(h.latest().types[SECRET].resources.size, 0);
  const [d] = h.pipeline.diagnostics().map(formatDiagnostic);
  assert.match(d!, /^Secret istio-system\/cred "tls.key" does not match the certificate in "tls.crt"/);
  const text = JSON.stringify(h.pipeline.diagnostics());
  for (const pem of [one.keyPem, two.keyPem]) {
    assert.ok(!text.includes(b64(pem).slice(0, 40)));
    assert.ok(!text.includes(pem.split("\n")[1]!));
  }

  h.store.apply(objects(secretYaml("istio-system", "cred", "tls", { cert: one.certPem, key: one.keyPem })));
  h.clock.advance(AFTER_MS);
  assert.ok(secretJson(h.latest(), "kubernetes://cred"), "fixed: served again");
  assert.deepEqual(h.pipeline.diagnostics(), []);
  h.pipeline.stop();
});
