/**
 * Gateway credentials from Secrets (model/credentials.ts), as istiod reads
 * them: both Secret shapes, generic keys first, the CA from `<name>-cacert`
 * then `<name>`, and the checks istiod leaves to Envoy (PEM, key match) or
 * only logs (validity), each with a reason that names keys, never values.
 */
import { test, before } from "node:test";
import assert from "node:assert/strict";
import type { Secret } from "../../src/model/types";
import { caCredential, serverCredential } from "../../src/model/credentials";
import { testCa, testLeaf, type TestCa, type TestLeaf } from "../support/tls-certs";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const NOW = Date.now();

function secret(name: string, data: Record<string, string>, namespace = "gw"): Secret {
  return {
    kind: "Secret",
    apiVersion: "v1",
    metadata: { name, namespace },
    spec: { type: "Opaque", data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])) },
  };
}

function secrets(...list: Secret[]): Map<string, Secret> {
  return new Map(list.map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s]));
}

let ca: TestCa, a: TestLeaf, b: TestLeaf, expired: TestLeaf, future: TestLeaf;
before(async () => {
  ca = await testCa();
  a = await testLeaf(ca, ["a.example.com"]);
  b = await testLeaf(ca, ["b.example.com"]);
  expired = await testLeaf(ca, ["old.example.com"], { notBefore: new Date("2019-01-01T00:00:00Z"), notAfter: new Date("2020-01-01T00:00:00Z") });
  future = await testLeaf(ca, ["new.example.com"], { notBefore: new Date("2200-01-01T00:00:00Z"), notAfter: new Date("2201-01-01T00:00:00Z") });
});

test("kubernetes.io/tls and generic shapes; generic keys win when both are there", () => {
  const tlsShape = serverCredential(secrets(secret("c", { "tls.crt": a.certPem, "tls.key": a.keyPem })), "gw", "c", NOW).credential;
  assert.ok(tlsShape.ok && tlsShape.kind === "certificate");
  assert.equal(tlsShape.certificateChain, b64(a.certPem));
  const both = serverCredential(secrets(secret("c", { cert: b.certPem, key: b.keyPem, "tls.crt": a.certPem, "tls.key": a.keyPem })), "gw", "c", NOW).credential;
  assert.ok(both.ok && both.kind === "certificate");
  assert.equal(both.certificateChain, b64(b.certPem), "cert/key first, as istiod");
});

test("the CA: <name>-cacert first (cacert or ca.crt), then <name> itself", () => {
  const own = secret("c", { cert: a.certPem, key: a.keyPem, cacert: ca.certPem });
  const separate = secret("c-cacert", { "ca.crt": b.certPem });
  const fromSeparate = caCredential(secrets(own, separate), "gw", "c", NOW);
  assert.equal(fromSeparate.secret, "gw/c-cacert");
  assert.ok(fromSeparate.credential.ok && fromSeparate.credential.kind === "ca" && fromSeparate.credential.trustedCa === b64(b.certPem));
  const fromOwn = caCredential(secrets(own), "gw", "c", NOW);
  assert.equal(fromOwn.secret, "gw/c");
  assert.ok(fromOwn.credential.ok && fromOwn.credential.kind === "ca" && fromOwn.credential.trustedCa === b64(ca.certPem));
  assert.deepEqual(caCredential(secrets(), "gw", "c", NOW), { secret: "gw/c-cacert", credential: { ok: false, reason: "not found (nor gw/c)" } });
});

test("only the proxy's namespace is looked in", () => {
  const elsewhere = secrets(secret("c", { cert: a.certPem, key: a.keyPem }, "other"));
  assert.deepEqual(serverCredential(elsewhere, "gw", "c", NOW), { secret: "gw/c", credential: { ok: false, reason: "not found" } });
});

test("bad input: each reason names the keys, never a value", () => {
  const reason = (data: Record<string, string>) => {
    const c = serverCredential(secrets(secret("c", data)), "gw", "c", NOW).credential;
    assert.ok(!c.ok);
    for (const v of Object.values(data)) if (v.length > 20) assert.ok(!c.reason.includes(v.split("\n")[1] ?? v));
    return c.reason;
  };
  assert.equal(reason({ "tls.crt": a.certPem }), 'missing keys: want "tls.crt" and "tls.key" (kubernetes.io/tls) or "cert" and "key" (generic); found tls.crt');
  assert.equal(reason({ cert: "", key: "" }), 'keys "cert" and "key" are empty');
  assert.equal(reason({ cert: "hello", key: a.keyPem }), '"cert": no PEM certificate');
  assert.equal(reason({ cert: a.certPem, key: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" }), '"key" is not a PEM private key');
  assert.equal(reason({ cert: a.certPem, key: b.keyPem }), '"key" does not match the certificate in "cert" ([DNS:a.example.com])');
  const noCa = caCredential(secrets(secret("c", { cert: a.certPem, key: a.keyPem, x: "1", y: "2" })), "gw", "c", NOW).credential;
  assert.deepEqual(noCa, { ok: false, reason: 'missing key: want "ca.crt" or "cacert" for client certificate validation; found cert, key, x, and 1 more' });
});

test("expired and not-yet-valid certificates are served with a warning, judged at each use", () => {
  const old = serverCredential(secrets(secret("c", { cert: expired.certPem, key: expired.keyPem })), "gw", "c", NOW).credential;
  assert.ok(old.ok);
  assert.equal(old.warning, "certificate [DNS:old.example.com] expired at 2020-01-01T00:00:00.000Z");
  const s = secrets(secret("c", { cert: future.certPem, key: future.keyPem }));
  const early = serverCredential(s, "gw", "c", NOW).credential;
  assert.ok(early.ok);
  assert.equal(early.warning, "certificate [DNS:new.example.com] is not valid before 2200-01-01T00:00:00.000Z");
  const later = serverCredential(s, "gw", "c", Date.parse("2200-06-01T00:00:00Z")).credential;
  assert.ok(later.ok);
  assert.equal(later.warning, undefined, "the same Secret object, judged again at a later time");
});
