/**
 * core/v1 Secret validation: the shape only (keys, base64), with messages that
 * name the key and never the value.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { validateObject } from "../../src/model/validate";
import type { Secret } from "../../src/model/types";

const VALUE = "c2VjcmV0LWtleS1ieXRlcw=="; // "secret-key-bytes"

function secret(body: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: "v1", kind: "Secret", metadata: { name: "cred", namespace: "istio-system" }, ...body };
}

test("a kubernetes.io/tls Secret is read with its type and base64 data; stringData is folded in", () => {
  const r = validateObject(secret({ type: "kubernetes.io/tls", data: { "tls.crt": VALUE, "tls.key": "c2Vj\ncmV0\n" }, stringData: { "ca.crt": "plain" } }), {
    file: "s.yaml",
    line: 1,
  });
  assert.ok(r.ok);
  const s = r.object as Secret;
  assert.equal(s.spec.type, "kubernetes.io/tls");
  assert.deepEqual(s.spec.data, { "tls.crt": VALUE, "tls.key": "c2VjcmV0", "ca.crt": Buffer.from("plain").toString("base64") });
});

test("the type defaults to Opaque", () => {
  const r = validateObject(secret({ data: { cert: VALUE } }), {});
  assert.ok(r.ok);
  assert.equal((r.object as Secret).spec.type, "Opaque");
});

test("bad keys and values are refused with the key named and the value never shown", () => {
  const r = validateObject(secret({ data: { key: "not base64 !!secret-material", "bad/key": VALUE }, stringData: { cert: 42 } }), { file: "s.yaml", line: 3 });
  assert.ok(!r.ok);
  const lines = r.diagnostics.map((d) => `${d.kind} ${d.namespace}/${d.name} ${d.field}: ${d.message}`);
  assert.deepEqual(lines, [
    "Secret istio-system/cred data.key: value is not valid base64 (use stringData for plain text)",
    `Secret istio-system/cred data["bad/key"]: invalid key: must consist of alphanumeric characters, '-', '_' or '.'`,
    "Secret istio-system/cred stringData.cert: expected a string value",
  ]);
  assert.ok(!JSON.stringify(r.diagnostics).includes("secret-material"));
  assert.ok(!JSON.stringify(r.diagnostics).includes(VALUE));
});
