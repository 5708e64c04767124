/**
 * DestinationRule TLS origination through a real sidecar Envoy, with the
 * fields istiod sets (docs/ENVOY.md "DestinationRule TLS origination"): the
 * application in a pod namespace (test/e2e/netns.ts) sends plain HTTP on port
 * 80; a ServiceEntry routes `a.example` and `b.example` there to one TLS
 * server on the host, and a DestinationRule for `*.example` says SIMPLE with
 * a CA file and no `sni` or `subjectAltNames`. So istiod sets auto_sni and
 * auto_san_validation:
 *
 * - the SNI Envoy sends is the request's Host (`a.example`), which the server
 *   reports back; it also reports the negotiated TLS version (1.3: the
 *   cluster allows 1.2 to 1.3);
 * - the server's certificate names a.example only: for `b.example` the SAN
 *   check against the Host fails and the request gets 503, although the
 *   certificate chains to the trusted CA.
 *
 * A second run: the server's certificate comes from a CA the host does not
 * trust. A SIMPLE rule without `caCertificates` checks it against the system
 * CA bundle (as istiod's `file-root:system`), so Envoy refuses it (503,
 * `ssl.fail_verify_error`); a rule with `insecureSkipVerify: true` reaches it.
 * Before, a rule without `caCertificates` verified nothing.
 *
 * Skipped, loudly, where namespaces or iptables are not allowed; with CI set
 * that fails instead.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { requireEnvoy } from "../support/envoy";
import { startServe } from "../support/serve-process";
import { testCa, testLeaf } from "../support/tls-certs";
import { APP_UID, type PodNetns, podReadableTmp, writeClientScript } from "./netns";
import { startTlsBackend, systemRootsMesh } from "./tls-backend";
import { type Defer, cleanups, requirePod, spawnPodEnvoy, waitPodEnvoyReady, writePodBootstrap } from "./pod-envoy";

const tmp = podReadableTmp("mini-pilot-e2e-tls-orig-");
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const POD = { name: "sleep-7f8d9c6b5-tlsorig", namespace: "default", labels: "app=sleep" };

function mesh(hostIp: string, tlsPort: number, caFile: string): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: example, namespace: default}
spec:
  hosts: [a.example, b.example]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: ${tlsPort}}]
  endpoints: [{address: ${hostIp}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: example-tls, namespace: default}
spec:
  host: "*.example"
  trafficPolicy:
    tls: {mode: SIMPLE, caCertificates: ${caFile}}
`;
}

/**
 * `serve` on the config folder, the pod's sidecar Envoy bootstrapped to it, and `get(host)`: 4 requests from the
 * app (as its uid) to 10.55.3.10:80 with that Host, counted by the backend's answer.
 */
async function servePodMesh(pod: PodNetns, bin: string, dir: string, bootstrapName: string, defer: Defer) {
  const serve = await startServe(["--config-dir", dir, "--xds-address", `${pod.hostIp}:0`]);
  defer(() => serve.stop());
  const bootstrap = path.join(tmp, bootstrapName);
  writePodBootstrap(pod, POD, bootstrap, ["--xds-address", `${pod.hostIp}:${serve.xdsPort}`]);
  const envoy = await waitPodEnvoyReady(spawnPodEnvoy(pod, bin, bootstrap, tmp), "0.0.0.0_80");
  defer(() => envoy.stop());
  const client = writeClientScript(tmp);
  const get = async (host: string): Promise<Record<string, number>> =>
    (
      JSON.parse(await pod.exec("node", [client, "http://10.55.3.10/", "4", "2", JSON.stringify({ host })], { uid: APP_UID, timeoutMs: 30_000 })) as {
        counts: Record<string, number>;
      }
    ).counts;
  return { envoy, get };
}

test("DestinationRule SIMPLE TLS without sni: SNI follows the Host, the certificate must name it", { timeout: 120_000 }, async (t) => {
  const defer = cleanups(t);
  const pod = requirePod(t, defer, "TLS origination on the sidecar path");
  if (!pod) return;
  const bin = requireEnvoy(t)!;

  const ca = await testCa();
  const leaf = await testLeaf(ca, ["a.example"]);
  const caFile = path.join(tmp, "ca.pem");
  fs.writeFileSync(caFile, ca.certPem);
  // The server answers with the SNI it was given and the TLS version negotiated.
  const backend = await startTlsBackend(pod.hostIp, leaf, true);
  defer(() => backend.close());
  const tlsPort = backend.port;

  const dir = path.join(tmp, "config");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "mesh.yaml"), mesh(pod.hostIp, tlsPort, caFile));
  const { envoy, get } = await servePodMesh(pod, bin, dir, "envoy.json", defer);

  try {
    assert.deepEqual(await get("a.example"), { "sni=a.example TLSv1.3": 4 }, "SNI from the Host header, TLS 1.3 allowed");
    assert.deepEqual(await get("b.example"), { "status 503": 4 }, "a certificate that does not name the Host is refused");
    const failed = await envoy.stat("cluster.outbound|80||b.example.ssl.fail_verify_san");
    assert.ok(failed >= 1, `Envoy refused b.example's certificate for its SAN (ssl.fail_verify_san ${failed})`);
    process.stderr.write(`tls-origination-netns: auto_sni sent a.example, auto_san_validation refused ${failed} b.example handshakes\n`);
  } catch (e) {
    process.stderr.write(`--- Envoy log ---\n${envoy.logTail()}\n`);
    throw e;
  }
});

test("SIMPLE TLS without caCertificates checks the system roots: an unknown CA is refused; insecureSkipVerify reaches it", { timeout: 120_000 }, async (t) => {
  const defer = cleanups(t);
  const pod = requirePod(t, defer, "TLS origination against the system roots");
  if (!pod) return;
  const bin = requireEnvoy(t)!;
  assert.ok(fs.existsSync("/etc/ssl/certs/ca-certificates.crt"), "this test needs the system CA bundle (apt-get install ca-certificates)");

  // A CA made by the test: in no system store.
  const ca = await testCa();
  const leaf = await testLeaf(ca, ["verify.example", "skip.example"]);
  const backend = await startTlsBackend(pod.hostIp, leaf);
  defer(() => backend.close());
  const tlsPort = backend.port;

  const dir = path.join(tmp, "config-system-roots");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "mesh.yaml"), systemRootsMesh(pod.hostIp, tlsPort));
  const { envoy, get } = await servePodMesh(pod, bin, dir, "envoy-system-roots.json", defer);

  try {
    const cluster = (await envoy.admin("/config_dump?resource=dynamic_active_clusters")).includes("/etc/ssl/certs/ca-certificates.crt");
    assert.ok(cluster, "the verify.example cluster trusts the system bundle file");
    assert.deepEqual(await get("verify.example"), { "status 503": 4 }, "a certificate from a CA outside the system store is refused");
    const failed = await envoy.stat("cluster.outbound|80||verify.example.ssl.fail_verify_error");
    assert.ok(failed >= 1, `Envoy refused the chain (ssl.fail_verify_error ${failed})`);
    assert.deepEqual(await get("skip.example"), { "sni=skip.example": 4 }, "insecureSkipVerify: true reaches the same server");
    process.stderr.write(`tls-origination-netns: system roots refused the unknown CA ${failed} times; insecureSkipVerify reached the server\n`);
  } catch (e) {
    process.stderr.write(`--- Envoy log ---\n${envoy.logTail()}\n`);
    throw e;
  }
});
