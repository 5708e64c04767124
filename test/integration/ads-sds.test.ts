/**
 * SDS on the xDS server (no Istio in sight): the Secret type over ADS SotW
 * and delta and over the per-type SecretDiscoveryService. SDS is not a
 * wildcard type: a client gets the secrets it names, nothing else; a changed
 * secret sends an SDS response and nothing for the other types.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { CLUSTER, LISTENER, SECRET } from "../../src/xds/types";
import { encodeResource } from "../../src/xds/resource";
import { TestDeltaStream, TestSotwStream, connect } from "../support/ads-client";
import { baseResources, startTestServer } from "../support/fixtures";

const quiet = async (s: { inbox: { drain(ms: number): Promise<unknown[]> } }, ms = 150) =>
  assert.deepEqual(await s.inbox.drain(ms), [], "expected no further response");

function secret(name: string, cert: string) {
  return encodeResource(SECRET, {
    name,
    tls_certificate: { certificate_chain: { inline_bytes: Buffer.from(cert).toString("base64") }, private_key: { inline_bytes: "a2V5" } },
  });
}

const withSecrets = (certA: string) => [...baseResources(), secret("kubernetes://a", certA), secret("kubernetes://b", "B")];

test("per-type SDS (StreamSecrets) serves exactly the named secrets", async () => {
  const ts = await startTestServer(withSecrets("A"));
  const s = new TestSotwStream(connect(ts.port), undefined, {}, "/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets");
  s.send({ typeUrl: SECRET, names: ["kubernetes://a"] });
  const r = await s.next();
  assert.equal(r.typeUrl, SECRET);
  assert.deepEqual(r.names, ["kubernetes://a"]);
  s.ack(r, ["kubernetes://a"]);
  await quiet(s);
  const wrong = new TestSotwStream(connect(ts.port), undefined, {}, "/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets");
  wrong.send({ typeUrl: CLUSTER });
  assert.match((await wrong.inbox.whenEnded(2000)).details, /unknown or unsupported type_url/);
  s.close();
  await ts.stop();
});

test("ADS SotW: a changed secret is one SDS response and nothing else", async () => {
  const ts = await startTestServer(withSecrets("A"));
  const s = new TestSotwStream(connect(ts.port));
  s.send({ typeUrl: CLUSTER });
  s.ack(await s.next());
  s.send({ typeUrl: LISTENER });
  s.ack(await s.next());
  s.send({ typeUrl: SECRET, names: ["kubernetes://a", "kubernetes://b"] });
  const first = await s.next();
  assert.deepEqual(first.names, ["kubernetes://a", "kubernetes://b"]);
  s.ack(first, ["kubernetes://a", "kubernetes://b"]);
  await quiet(s);
  ts.set(withSecrets("A2"));
  const r = await s.next();
  assert.equal(r.typeUrl, SECRET);
  assert.deepEqual(r.names, ["kubernetes://a"], "only the changed secret");
  s.ack(r, ["kubernetes://a", "kubernetes://b"]);
  await quiet(s);
  s.close();
  await ts.stop();
});

test("ADS delta: subscribed secrets come, unknown ones are answered as removed; a change sends just that secret", async () => {
  const ts = await startTestServer(withSecrets("A"));
  const s = new TestDeltaStream(connect(ts.port));
  s.send({ typeUrl: SECRET, subscribe: ["kubernetes://a", "kubernetes://missing"] });
  const r = await s.next();
  assert.equal(r.typeUrl, SECRET);
  assert.deepEqual(
    r.resources.map((x) => x.name),
    ["kubernetes://a"],
  );
  assert.deepEqual(r.removed, ["kubernetes://missing"]);
  s.ack(r);
  await quiet(s);
  ts.set(withSecrets("A2"));
  const changed = await s.next();
  assert.deepEqual([changed.typeUrl, changed.resources.map((x) => x.name), changed.removed], [SECRET, ["kubernetes://a"], []]);
  s.ack(changed);
  await quiet(s);
  s.close();
  await ts.stop();
});
