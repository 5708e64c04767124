import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as https from "node:https";
import * as tls from "node:tls";
import pino from "pino";
import { admit, JsonPatchOp } from "../../src/inject/webhook";
import { startWebhook, WebhookServer } from "../../src/inject/webhook-server";
import { injectObject } from "../../src/inject/workloads";
import { webhookConfiguration } from "../../src/inject/webhook-config";
import { DEFAULT_SETTINGS } from "../../src/inject/settings";
import { makeTls, TestTls } from "./inject-tls";

type J = any; // Kubernetes JSON

/** RFC 6902 add/replace on an object path; enough for the patches the webhook sends. */
function applyPatch(doc: J, ops: JsonPatchOp[]): J {
  const out: J = structuredClone(doc);
  for (const op of ops) {
    assert.ok(op.op === "add" || op.op === "replace", op.op);
    const parts = op.path
      .split("/")
      .slice(1)
      .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
    let h = out;
    for (const p of parts.slice(0, -1)) h = h[p];
    const last = parts.at(-1)!;
    if (op.op === "replace") assert.ok(last in h, `replace of a missing ${op.path}`);
    h[last] = op.value;
  }
  return out;
}

const POD = {
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    generateName: "web-7f9c-",
    namespace: "shop",
    labels: { app: "web", "pod-template-hash": "7f9c" },
    ownerReferences: [{ kind: "ReplicaSet", name: "web-7f9c", controller: true }],
  },
  spec: { containers: [{ name: "web", image: "web:1" }] },
};

function reviewOf(object: unknown, over: J = {}): string {
  return JSON.stringify({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: { uid: "u-1", kind: { group: "", version: "v1", kind: "Pod" }, operation: "CREATE", namespace: "shop", object, ...over },
  });
}

test("a Pod CREATE gets a JSONPatch that turns it into the injected pod", () => {
  const r = admit(reviewOf(POD), DEFAULT_SETTINGS);
  assert.equal(r.status, 200);
  const resp = r.body.response as J;
  assert.equal(resp.uid, "u-1");
  assert.equal(resp.allowed, true);
  assert.equal(resp.patchType, "JSONPatch");
  const ops = JSON.parse(Buffer.from(resp.patch, "base64").toString()) as JsonPatchOp[];
  const patched = applyPatch(POD, ops);
  const expected = injectObject(POD, { defaultNamespace: "shop", settings: DEFAULT_SETTINGS });
  assert.ok(expected.kind === "pod" && expected.injected);
  assert.deepEqual(patched, expected.object);
  const env = (patched as J).spec.containers[1].env;
  assert.equal(env.find((e: J) => e.name === "ISTIO_META_WORKLOAD_NAME").value, "web", "the Deployment, through its ReplicaSet");
  assert.match(r.summary, /pod shop\/web-7f9c-\* injected/);
});

test("opted out, already injected, not a Pod, not a CREATE: allowed with no patch", () => {
  const optedOut = { ...POD, metadata: { ...POD.metadata, annotations: { "sidecar.istio.io/inject": "false" } } };
  for (const [body, why] of [
    [reviewOf(optedOut), /not injected: the pod's annotation sidecar.istio.io\/inject opts out/],
    [reviewOf((injectObject(POD, { defaultNamespace: "shop", settings: DEFAULT_SETTINGS }) as J).object), /already injected/],
    [reviewOf({ kind: "Service" }, { kind: { group: "", version: "v1", kind: "Service" } }), /not a Pod/],
    [reviewOf(POD, { operation: "UPDATE" }), /operation UPDATE/],
  ] as [string, RegExp][]) {
    const r = admit(body, DEFAULT_SETTINGS);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response: { uid: "u-1", allowed: true } });
    assert.match(r.summary, why);
  }
});

test("a pod that cannot be injected is refused with the field named; a body that is not a review gets 400, never 500", () => {
  const bad = { ...POD, metadata: { ...POD.metadata, annotations: { "traffic.sidecar.istio.io/excludeInboundPorts": "http" } } };
  const r = admit(reviewOf(bad), DEFAULT_SETTINGS);
  assert.equal(r.status, 200);
  const resp = r.body.response as J;
  assert.equal(resp.allowed, false);
  assert.match(
    resp.status.message,
    /sidecar injection of pod shop\/web-7f9c-\*: metadata\.annotations: annotation traffic\.sidecar\.istio\.io\/excludeInboundPorts: "http" is not a port/,
  );
  const noContainers = admit(reviewOf({ ...POD, spec: {} }), DEFAULT_SETTINGS);
  assert.match((noContainers.body.response as J).status.message, /spec\.containers: is required/);
  const noObject = admit(reviewOf(undefined), DEFAULT_SETTINGS);
  assert.match((noObject.body.response as J).status.message, /request\.object: missing/);

  for (const [body, why] of [
    ["{not json", /the body is not JSON/],
    ["[]", /not an AdmissionReview object/],
    [
      JSON.stringify({ apiVersion: "admission.k8s.io/v1beta1", kind: "AdmissionReview", request: { uid: "x" } }),
      /want kind AdmissionReview, apiVersion admission.k8s.io\/v1/,
    ],
    [JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview" }), /request: missing/],
    [JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request: {} }), /request\.uid: missing/],
  ] as [string, RegExp][]) {
    const res = admit(body, DEFAULT_SETTINGS);
    assert.equal(res.status, 400);
    assert.match((res.body.response as J).status.message, why);
  }
});

// ---------------------------------------------------------------- over HTTPS

let t: TestTls;
let server: WebhookServer;
const log = pino({ level: "silent" });

before(async () => {
  t = makeTls();
  server = await startWebhook({ host: "127.0.0.1", port: 0, cert: t.cert, key: t.key, settings: DEFAULT_SETTINGS, log });
});
after(async () => {
  await server?.close();
  if (t) fs.rmSync(t.dir, { recursive: true, force: true });
});

function call(method: string, urlPath: string, body?: string, type = "application/json"): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: "127.0.0.1", port: server.port, path: urlPath, method, ca: t.caPem, agent: false, headers: body !== undefined ? { "content-type": type } : {} },
      (res) => {
        let data = "";
        res.on("data", (d) => (data += d));
        res.on("end", () => resolve({ status: res.statusCode!, body: data }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

test("HTTPS: POST /inject answers reviews; health, wrong paths, methods, types and garbage get 2xx/4xx with a reason", async () => {
  const ok = await call("POST", "/inject", reviewOf(POD));
  assert.equal(ok.status, 200);
  assert.equal(JSON.parse(ok.body).response.patchType, "JSONPatch");
  assert.equal((await call("GET", "/healthz")).status, 200);
  const cases: [string, string, string | undefined, string | undefined, number, RegExp][] = [
    ["GET", "/inject", undefined, undefined, 405, /POST an AdmissionReview/],
    ["POST", "/mutate", "{}", undefined, 404, /admission reviews go to POST \/inject/],
    ["POST", "/inject", "{}", "text/plain", 415, /want content-type application\/json/],
    ["POST", "/inject", "\u0000garbage", undefined, 400, /the body is not JSON/],
  ];
  for (const [method, p, body, type, status, why] of cases) {
    const r = await call(method, p, body, type);
    assert.equal(r.status, status, `${method} ${p}: ${r.body}`);
    assert.match(r.body, why);
  }
});

test("HTTPS: a reloaded certificate is served to new connections", async () => {
  const serial = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const s = tls.connect({ host: "127.0.0.1", port: server.port, ca: t.caPem, servername: undefined }, () => {
        resolve(s.getPeerX509Certificate()!.serialNumber);
        s.end();
      });
      s.on("error", reject);
    });
  const before = await serial();
  const next = makeTls(t.dir, "rotated");
  server.reload({ cert: next.cert, key: next.key });
  const afterReload = await serial();
  assert.notEqual(afterReload, before);
  assert.equal(afterReload, new (await import("node:crypto")).X509Certificate(next.cert).serialNumber);
});

test("the MutatingWebhookConfiguration: a Service target with Istio's path and selectors, the caBundle only when given", () => {
  const c = webhookConfiguration({ target: { service: { name: "mini-pilot", namespace: "istio-system", port: 443 } }, caPem: "PEM" }) as J;
  assert.equal(c.metadata.name, "mini-pilot-sidecar-injector");
  assert.deepEqual(c.webhooks[0].clientConfig, {
    service: { name: "mini-pilot", namespace: "istio-system", port: 443, path: "/inject" },
    caBundle: Buffer.from("PEM").toString("base64"),
  });
  assert.deepEqual(c.webhooks[0].namespaceSelector.matchExpressions, [{ key: "istio-injection", operator: "In", values: ["enabled"] }]);
  assert.deepEqual(c.webhooks[1].objectSelector.matchExpressions, [{ key: "sidecar.istio.io/inject", operator: "In", values: ["true"] }]);
  assert.notEqual(c.webhooks[0].clientConfig, c.webhooks[1].clientConfig, "each webhook has its own clientConfig (a patch to one leaves the other)");
  const byUrl = webhookConfiguration({ target: { url: "https://127.0.0.1:1/inject" } }) as J;
  assert.deepEqual(byUrl.webhooks[1].clientConfig, { url: "https://127.0.0.1:1/inject" });
});
