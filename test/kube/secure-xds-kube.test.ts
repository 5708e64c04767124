/**
 * The CA in `mini-pilot serve --kubeconfig` against a real kube-apiserver:
 * the CA kept in the Secret istio-ca-secret (a restart keeps the root), the
 * root published as istio-ca-root-cert in every namespace and put back when
 * deleted, and callers of the secure port authenticated with TokenReview
 * (audience istio-ca): a token for namespace team-a gets a certificate for
 * team-a, and cannot get certificates or config for team-b.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { kubeRequest, startKube, type KubeCluster, kubeUnavailable } from "./cluster";
import { startServe, type ServeProcess } from "../support/serve-process";
import { CallError, createCertificate, secureClient } from "../support/secure-xds";
import { TestSotwStream } from "../support/ads-client";
import { workloadCsr } from "../../src/security/workload-csr";

const LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener";
const A = "spiffe://cluster.local/ns/team-a/sa/app";

async function ok(cluster: KubeCluster, method: string, path: string, body?: object): Promise<any> {
  const r = await kubeRequest(cluster, method, path, body);
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${path}: ${r.status} ${r.body}`);
  return JSON.parse(r.body);
}

/** A projected-style token for a service account, from the TokenRequest API. */
async function tokenFor(cluster: KubeCluster, ns: string, sa: string, audiences: string[]): Promise<string> {
  const r = await ok(cluster, "POST", `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`, {
    apiVersion: "authentication.k8s.io/v1",
    kind: "TokenRequest",
    spec: { audiences, expirationSeconds: 3600 },
  });
  return r.status.token as string;
}

async function rootConfigMap(cluster: KubeCluster, ns: string): Promise<string | undefined> {
  const r = await kubeRequest(cluster, "GET", `/api/v1/namespaces/${ns}/configmaps/istio-ca-root-cert`);
  return r.status === 200 ? (JSON.parse(r.body).data?.["root-cert.pem"] as string) : undefined;
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`${what} within ${timeoutMs}ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const refusal = (p: Promise<unknown>): Promise<CallError> =>
  p.then(
    () => assert.fail("the call succeeded"),
    (e: CallError) => e,
  );

test(
  "CA Secret, root ConfigMaps, TokenReview-authenticated CSR and ADS, namespace isolation",
  { skip: kubeUnavailable("secure xDS kube tests"), timeout: 180_000 },
  async () => {
    const cluster = await startKube({ installCrds: true });
    let serve: ServeProcess | undefined;
    try {
      for (const ns of ["istio-system", "team-a", "team-b"])
        await ok(cluster, "POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
      for (const ns of ["team-a", "team-b"]) {
        await ok(cluster, "POST", `/api/v1/namespaces/${ns}/serviceaccounts`, { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "app" } });
      }
      serve = await startServe(["--kubeconfig", cluster.kubeconfigPath, "--debounce-after", "20ms"], {}, { caSecret: true });

      // The CA lives in istio-system/istio-ca-secret with the cacerts keys.
      const secret = await ok(cluster, "GET", "/api/v1/namespaces/istio-system/secrets/istio-ca-secret");
      assert.deepEqual(Object.keys(secret.data).sort(), ["ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"]);
      const rootPem = Buffer.from(secret.data["root-cert.pem"], "base64").toString();

      // The root is published in every namespace, and put back when deleted.
      for (const ns of ["default", "istio-system", "team-a", "team-b"]) {
        assert.equal((await eventually(`istio-ca-root-cert in ${ns}`, () => rootConfigMap(cluster, ns)))?.trim(), rootPem.trim());
      }
      await ok(cluster, "DELETE", "/api/v1/namespaces/team-b/configmaps/istio-ca-root-cert");
      await eventually("istio-ca-root-cert recreated in team-b", () => rootConfigMap(cluster, "team-b"));
      await ok(cluster, "POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "team-c" } });
      await eventually("istio-ca-root-cert in a new namespace", () => rootConfigMap(cluster, "team-c"));

      // A token for team-a/app (audience istio-ca): a certificate for exactly that identity.
      const tokenA = await tokenFor(cluster, "team-a", "app", ["istio-ca"]);
      const clientA = secureClient(serve.securePort!, { rootPem, token: tokenA });
      const own = await workloadCsr(A);
      const chain = await createCertificate(clientA, own.csrPem);
      assert.equal(new X509Certificate(chain[0]!).subjectAltName, `URI:${A}`);

      // ... and nothing for team-b: not its certificate, not its proxies' config.
      const forB = await refusal(createCertificate(clientA, (await workloadCsr("spiffe://cluster.local/ns/team-b/sa/app")).csrPem));
      assert.equal(forB.code, grpc.status.PERMISSION_DENIED);
      assert.match(forB.details, /allowed only URI:spiffe:\/\/cluster\.local\/ns\/team-a\/sa\/app/);
      const foreign = new TestSotwStream(clientA, "sidecar~10.0.0.7~web-1.team-b~team-b.svc.cluster.local", { NAMESPACE: "team-b" });
      foreign.send({ typeUrl: LISTENER });
      const end = await foreign.inbox.whenEnded(10_000);
      assert.equal(end.code, grpc.status.PERMISSION_DENIED);
      assert.match(end.details, /may only get config for proxies in namespace "team-a"; node .* is in "team-b"/);
      const mine = new TestSotwStream(clientA, "sidecar~10.0.0.8~app-1.team-a~team-a.svc.cluster.local", { NAMESPACE: "team-a", SERVICE_ACCOUNT: "app" });
      mine.send({ typeUrl: LISTENER });
      assert.equal((await mine.next(10_000)).typeUrl, LISTENER);
      mine.close();
      clientA.close();

      // Rejected tokens: wrong audience, garbage. UNAUTHENTICATED, and the token is in no log.
      const wrongAudience = await tokenFor(cluster, "team-a", "app", ["some-other-audience"]);
      for (const bad of [wrongAudience, "garbage-token-garbage-token-garbage"]) {
        const c = secureClient(serve.securePort!, { rootPem, token: bad });
        const e = await refusal(createCertificate(c, own.csrPem));
        c.close();
        assert.equal(e.code, grpc.status.UNAUTHENTICATED, e.details);
        assert.match(e.details, /API server rejected the token|not for audience/);
      }
      const logs = serve.logs.join("\n");
      for (const t of [tokenA, wrongAudience, "garbage-token-garbage-token-garbage"]) assert.ok(!logs.includes(t), "a token leaked into serve's logs");
      assert.doesNotMatch(logs, /PRIVATE KEY/);

      // A restart keeps the root (the Secret is read, not replaced).
      await serve.stop();
      serve = await startServe(["--kubeconfig", cluster.kubeconfigPath], {}, { caSecret: true });
      assert.match(serve.logs.join("\n"), /"created":false/);
      const again = secureClient(serve.securePort!, { rootPem, token: tokenA });
      const chain2 = await createCertificate(again, (await workloadCsr(A)).csrPem);
      again.close();
      assert.equal(chain2[chain2.length - 1]!.trim(), rootPem.trim());
    } finally {
      await serve?.stop();
      await cluster.stop();
    }
  },
);
