/**
 * `serve --inject-webhook-address` without a cluster (folder mode): the
 * webhook answers AdmissionReviews over TLS with a certificate from serve's CA
 * (verified against the published root-cert.pem, for the Service's DNS name),
 * says that no caBundle is kept, and bad combinations are refused with the flag.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as https from "node:https";
import * as tls from "node:tls";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { CLI, startServe } from "../support/serve-process";

const ROOT = path.join(__dirname, "..", "..", "..");
type J = any;

function post(port: number, ca: string, servername: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: "127.0.0.1", port, path: "/inject", method: "POST", ca, servername, headers: { "content-type": "application/json" } },
      (res) => {
        let data = "";
        res.on("data", (d: Buffer) => (data += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: data }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

test("folder mode: the webhook serves over TLS with a certificate from serve's CA, for mini-pilot.<POD_NAMESPACE>.svc", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mp-serve-webhook-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const serve = await startServe(
    ["--config-dir", path.join(ROOT, "examples"), "--ca-dir", path.join(dir, "ca"), "--inject-webhook-address", "127.0.0.1:0", "--inject-image", "reg/mp:2"],
    { POD_NAMESPACE: "mesh-cp" },
  );
  t.after(() => serve.stop());
  const line = JSON.parse(await serve.waitForLog(/mini-pilot serving/)) as { injectWebhook: string };
  const port = Number(line.injectWebhook.split(":").pop());
  const root = fs.readFileSync(path.join(dir, "root-cert.pem"), "utf8");
  const review = JSON.stringify({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: "u-1",
      kind: { group: "", version: "v1", kind: "Pod" },
      operation: "CREATE",
      namespace: "shop",
      object: { apiVersion: "v1", kind: "Pod", metadata: { name: "web", labels: { app: "web" } }, spec: { containers: [{ name: "web", image: "web:1" }] } },
    },
  });
  const r = await post(port, root, "mini-pilot.mesh-cp.svc", review);
  assert.equal(r.status, 200, r.body);
  const resp = JSON.parse(r.body).response as J;
  assert.equal(resp.allowed, true);
  const ops = JSON.parse(Buffer.from(resp.patch, "base64").toString()) as J[];
  const containers = ops.find((o) => o.path === "/spec/containers").value as J[];
  const proxy = containers.find((c) => c.name === "istio-proxy");
  assert.equal(proxy.image, "reg/mp:2");
  assert.ok(proxy.args.join(" ").includes("--xds-address mini-pilot.mesh-cp.svc:15012 --xds-tls"), "the agent talks to this install's Service over TLS");
  // A name the certificate does not carry is refused by the client: the certificate really names the Service.
  await assert.rejects(post(port, root, "mini-pilot.other.svc", review), /altnames|Hostname\/IP does not match/);
  await serve.waitForLog(/no MutatingWebhookConfiguration caBundle is kept/);
  assert.doesNotMatch(serve.logs.join("\n"), /PRIVATE KEY/);
});

test("--inject-webhook-address needs the CA, and a HOST:PORT", () => {
  const run = (args: string[]) =>
    spawnSync(process.execPath, [CLI, "serve", "--config-dir", path.join(ROOT, "examples"), "--xds-address", "127.0.0.1:0", ...args], { encoding: "utf8" });
  const off = run(["--secure-xds-address", "off", "--inject-webhook-address", "127.0.0.1:0"]);
  assert.equal(off.status, 2, off.stderr);
  assert.match(off.stderr, /--inject-webhook-address needs serve's CA for its certificate; it is off with --secure-xds-address off/);
  const bad = run(["--secure-xds-address", "off", "--inject-webhook-address", "nope"]);
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /inject-webhook-address/);
});

test("the webhook's certificate is issued again at half its life and served without a restart", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mp-serve-webhook-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const serve = await startServe([
    "--config-dir",
    path.join(ROOT, "examples"),
    "--ca-dir",
    path.join(dir, "ca"),
    "--inject-webhook-address",
    "127.0.0.1:0",
    "--server-cert-ttl",
    "10s",
  ]);
  t.after(() => serve.stop());
  const port = Number((JSON.parse(await serve.waitForLog(/mini-pilot serving/)) as { injectWebhook: string }).injectWebhook.split(":").pop());
  const root = fs.readFileSync(path.join(dir, "root-cert.pem"), "utf8");
  const serial = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const s = tls.connect({ host: "127.0.0.1", port, servername: "mini-pilot.istio-system.svc", ca: root }, () => {
        resolve(s.getPeerCertificate().serialNumber);
        s.end();
      });
      s.once("error", reject);
    });
  const first = await serial();
  const issued = () => serve.logs.filter((l) => /injection webhook certificate issued/.test(l)).length;
  const deadline = Date.now() + 15_000;
  while (issued() < 2) {
    assert.ok(Date.now() < deadline, `no second webhook certificate within 15 s:\n${serve.logs.join("\n")}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const second = await serial();
  assert.notEqual(second, first, "the new certificate is the one served");
});
