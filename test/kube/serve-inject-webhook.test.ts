/**
 * The injection webhook inside `mini-pilot serve --kubeconfig
 * --inject-webhook-address`, called by the real kube-apiserver: the
 * certificate comes from serve's CA (kept in istio-ca-secret) and names the
 * Service (mini-pilot.istio-system.svc) and --tls-dns-names; serve writes the
 * CA root into the MutatingWebhookConfiguration's caBundle, which is all the
 * API server needs to trust it. The test API server cannot resolve Services,
 * so the configuration names the webhook by URL (https://localhost:PORT, with
 * --tls-dns-names localhost), as test/kube/inject-webhook.test.ts does.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tls from "node:tls";
import { X509Certificate } from "node:crypto";
import { kubeRequest, startKube, type KubeCluster, kubeUnavailable } from "./cluster";
import { startServe, type ServeProcess } from "../support/serve-process";
import { webhookConfiguration } from "../../src/inject/webhook-config";

type J = any; // Kubernetes JSON

const CONFIGS = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations";
const CONFIG = `${CONFIGS}/mini-pilot-sidecar-injector`;
const IMAGE = "registry.example/mini-pilot:webhook-test";

async function ok(cluster: KubeCluster, method: string, path: string, body?: object, contentType?: string): Promise<J> {
  const r = await kubeRequest(cluster, method, path, body, contentType);
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${path}: ${r.status} ${r.body}`);
  return JSON.parse(r.body);
}

const pod = (name: string, labels: Record<string, string> = {}): object => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, labels: { app: name, ...labels } },
  spec: { containers: [{ name: "app", image: "app:1", ports: [{ containerPort: 8080 }] }] },
});
const names = (list: J[] | undefined): string[] => (list ?? []).map((c) => c.name);

/** The webhook's serving certificate, verified against `rootPem` for `servername`. */
function servingCertificate(port: number, rootPem: string, servername: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, servername, ca: rootPem }, () => {
      const raw = s.getPeerCertificate().raw;
      s.end();
      resolve(new X509Certificate(raw));
    });
    s.once("error", reject);
  });
}

test(
  "serve's injection webhook: CA-issued certificate, caBundle kept to the CA root, pods in a labelled namespace stored injected",
  { skip: kubeUnavailable("serve injection webhook tests"), timeout: 180_000 },
  async () => {
    const cluster = await startKube({ installCrds: true });
    let serve: ServeProcess | undefined;
    try {
      for (const [name, labels] of [
        ["istio-system", {}],
        ["shop", { "istio-injection": "enabled" }],
        ["plain", {}],
      ] as [string, Record<string, string>][])
        await ok(cluster, "POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name, labels } });
      // Installed before serve starts, as the manifests are; the URL is fixed below once the port is known.
      await ok(cluster, "POST", CONFIGS, webhookConfiguration({ target: { url: "https://localhost:1/inject" } }));

      serve = await startServe(
        ["--kubeconfig", cluster.kubeconfigPath, "--inject-webhook-address", "127.0.0.1:0", "--tls-dns-names", "localhost", "--inject-image", IMAGE],
        {},
        { caSecret: true },
      );
      const serving = JSON.parse(await serve.waitForLog(/mini-pilot serving/)) as { injectWebhook?: string };
      assert.match(serving.injectWebhook ?? "", /^127\.0\.0\.1:\d+$/);
      const port = Number(serving.injectWebhook!.split(":").pop());

      // The caBundle is the CA root (from istio-ca-secret), written at start.
      const secret = await ok(cluster, "GET", "/api/v1/namespaces/istio-system/secrets/istio-ca-secret");
      const rootPem = Buffer.from(secret.data["root-cert.pem"], "base64").toString();
      await serve.waitForLog(/caBundle of MutatingWebhookConfiguration mini-pilot-sidecar-injector set to the CA root/);
      const config = await ok(cluster, "GET", CONFIG);
      assert.deepEqual(
        config.webhooks.map((w: J) => Buffer.from(w.clientConfig.caBundle, "base64").toString()),
        [rootPem, rootPem],
      );

      // The serving certificate chains to that root and names the Service and --tls-dns-names.
      for (const name of ["mini-pilot.istio-system.svc", "localhost"]) {
        const cert = await servingCertificate(port, rootPem, name);
        assert.match(cert.subjectAltName ?? "", /DNS:mini-pilot\.istio-system\.svc\b/);
        assert.match(cert.subjectAltName ?? "", /DNS:mini-pilot\.istio-system\.svc\.cluster\.local/);
        assert.match(cert.subjectAltName ?? "", /DNS:localhost/);
      }

      // Point the configuration at serve (only the URL; the caBundle serve wrote stays).
      await ok(
        cluster,
        "PATCH",
        CONFIG,
        [0, 1].map((i) => ({ op: "replace", path: `/webhooks/${i}/clientConfig/url`, value: `https://localhost:${port}/inject` })) as unknown as object,
        "application/json-patch+json",
      );

      // The API server calls serve's webhook: a pod in the labelled namespace is stored injected.
      const injected = await ok(cluster, "POST", "/api/v1/namespaces/shop/pods", pod("web"));
      assert.deepEqual(names(injected.spec.initContainers), ["istio-init"]);
      assert.deepEqual(names(injected.spec.containers), ["app", "istio-proxy"]);
      const proxy = injected.spec.containers[1];
      assert.equal(proxy.image, IMAGE, "--inject-image");
      assert.equal(injected.spec.initContainers[0].image, IMAGE);
      assert.ok(proxy.args.join(" ").includes("--xds-address mini-pilot.istio-system.svc:15012 --xds-tls"), proxy.args.join(" "));
      assert.equal(proxy.env.find((e: J) => e.name === "CA_ADDR").value, "mini-pilot.istio-system.svc:15012");
      assert.match(injected.metadata.annotations["sidecar.istio.io/status"], /"containers":\["istio-proxy"\]/);

      // An opt-out in the labelled namespace and a pod elsewhere are stored as sent.
      const optedOut = await ok(cluster, "POST", "/api/v1/namespaces/shop/pods", pod("legacy", { "sidecar.istio.io/inject": "false" }));
      assert.deepEqual(names(optedOut.spec.containers), ["app"]);
      assert.equal(optedOut.spec.initContainers, undefined);
      const elsewhere = await ok(cluster, "POST", "/api/v1/namespaces/plain/pods", pod("web"));
      assert.deepEqual(names(elsewhere.spec.containers), ["app"]);

      const logs = serve.logs.join("\n");
      assert.match(logs, /injection webhook certificate issued/);
      assert.match(logs, /pod shop\/web injected/);
      assert.doesNotMatch(logs, /PRIVATE KEY/, "no key material in serve's logs");
    } finally {
      await serve?.stop();
      await cluster.stop();
    }
  },
);
