import { test } from "node:test";
import assert from "node:assert/strict";
import { caBundlePatch, KubeCall, syncCaBundle, WEBHOOK_CONFIGS } from "../../src/inject/ca-bundle";

const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const B64 = Buffer.from(CA).toString("base64");

function config(bundles: (string | undefined)[], rv = "42"): object {
  return {
    metadata: { name: "inj", resourceVersion: rv },
    webhooks: bundles.map((b, i) => ({ name: `w${i}`, clientConfig: { url: "https://x/inject", ...(b === undefined ? {} : { caBundle: b }) } })),
  };
}

test("the patch sets each webhook's caBundle that differs, guarded by the resourceVersion; none when all match", () => {
  assert.deepEqual(caBundlePatch(config([undefined, B64, "b2xk"]), CA), [
    { op: "test", path: "/metadata/resourceVersion", value: "42" },
    { op: "add", path: "/webhooks/0/clientConfig/caBundle", value: B64 },
    { op: "replace", path: "/webhooks/2/clientConfig/caBundle", value: B64 },
  ]);
  assert.deepEqual(caBundlePatch(config([B64, B64]), CA), []);
  assert.throws(() => caBundlePatch({ kind: "Pod" }, CA), /webhooks: missing/);
  assert.throws(() => caBundlePatch({ webhooks: [{ name: "a" }] }, CA), /webhooks\[0\]\.clientConfig: missing/);
});

/** A fake API server: answers from a list and records the calls. */
function fake(replies: { status: number; body: unknown }[]): { call: KubeCall; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    call: async (method, path, body) => {
      calls.push(`${method} ${path}${body ? ` ${body}` : ""}`);
      const r = replies.shift()!;
      return { status: r.status, body: typeof r.body === "string" ? r.body : JSON.stringify(r.body) };
    },
  };
}

test("sync: GET then PATCH; nothing to do is no PATCH; a conflict is read again once", async () => {
  const f = fake([
    { status: 200, body: config([undefined]) },
    { status: 200, body: {} },
  ]);
  assert.deepEqual(await syncCaBundle(f.call, "inj", CA), { ok: true, changed: 1 });
  assert.equal(f.calls[0], `GET ${WEBHOOK_CONFIGS}/inj`);
  assert.match(f.calls[1]!, /^PATCH .*\/inj \[\{"op":"test"/);

  const same = fake([{ status: 200, body: config([B64]) }]);
  assert.deepEqual(await syncCaBundle(same.call, "inj", CA), { ok: true, changed: 0 });
  assert.equal(same.calls.length, 1);

  const conflict = fake([
    { status: 200, body: config(["b2xk"], "1") },
    { status: 422, body: { message: "the test failed" } },
    { status: 200, body: config(["b2xk"], "2") },
    { status: 200, body: {} },
  ]);
  assert.deepEqual(await syncCaBundle(conflict.call, "inj", CA), { ok: true, changed: 1 });
  assert.match(conflict.calls[3]!, /"value":"2"/);
});

test("sync errors say what to do: the RBAC verb and resource, a missing configuration, the API's message", async () => {
  const forbiddenGet = await syncCaBundle(fake([{ status: 403, body: { message: "forbidden" } }]).call, "inj", CA);
  assert.deepEqual(forbiddenGet, {
    ok: false,
    error: 'forbidden: grant "get" on mutatingwebhookconfigurations.admissionregistration.k8s.io (name inj) to this service account',
  });
  const forbiddenPatch = await syncCaBundle(
    fake([
      { status: 200, body: config([undefined]) },
      { status: 403, body: {} },
    ]).call,
    "inj",
    CA,
  );
  assert.ok(!forbiddenPatch.ok && /grant "patch" on mutatingwebhookconfigurations/.test(forbiddenPatch.error));
  const missing = await syncCaBundle(fake([{ status: 404, body: {} }]).call, "inj", CA);
  assert.ok(!missing.ok && /MutatingWebhookConfiguration inj not found/.test(missing.error));
  const invalid = await syncCaBundle(
    fake([
      { status: 200, body: config([undefined]) },
      { status: 400, body: { message: "bad patch" } },
    ]).call,
    "inj",
    CA,
  );
  assert.ok(!invalid.ok && /patch MutatingWebhookConfiguration inj: HTTP 400: bad patch/.test(invalid.error));
});
