/**
 * A Sidecar egress listener with its own address, through a real sidecar
 * Envoy in a pod network namespace (istio-init-style capture,
 * test/e2e/netns.ts), config over ADS from `mini-pilot serve --config-dir`:
 *
 * - egress `{port: 9080 HTTP, bind: 127.0.0.1, captureMode: NONE, hosts:
 *   [./reviews]}`: the application calls 127.0.0.1:9080 itself (no iptables
 *   involved: loopback is never captured); Envoy has bound that address and
 *   routes the request to reviews by route config 9080;
 * - the catch-all egress `./*` still gets the ordinary captured listeners:
 *   ratings (on 9081) is reached by its cluster IP through virtualOutbound
 *   and 0.0.0.0_9081. (A catch-all service on 9080 itself would not route:
 *   route config 9080 belongs to the first egress listener with port 9080,
 *   as in istiod; docs/SIDECAR.md.)
 *
 * Skipped, loudly, where namespaces or iptables are not allowed; with CI set
 * that fails instead.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";
import { requireEnvoy } from "../support/envoy";
import { startServe } from "../support/serve-process";
import { APP_UID, podReadableTmp, writeClientScript } from "./netns";
import { cleanups, requirePod, spawnPodEnvoy, waitPodEnvoyReady, writePodBootstrap } from "./pod-envoy";

const tmp = podReadableTmp("mini-pilot-e2e-egress-bind-");
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const POD = { name: "sleep-7f8d9c6b5-egrb1", namespace: "default", labels: "app=sleep" };
const RATINGS_VIP = "10.56.0.11";

function backend(name: string, host: string): Promise<{ port: number; stop(): Promise<void> }> {
  const srv = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { "x-backend": name, "content-type": "text/plain" });
    res.end(name);
  });
  const sockets = new Set<net.Socket>();
  srv.on("connection", (s) => sockets.add(s));
  return new Promise((resolve, reject) => {
    srv.once("error", reject);
    srv.listen(0, host, () =>
      resolve({
        port: (srv.address() as net.AddressInfo).port,
        stop: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            srv.close(() => r());
          }),
      }),
    );
  });
}

function manifests(host: string, reviewsPort: number, ratingsPort: number): string {
  const service = (name: string, vip: string, port: number, target: number) => `apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: default}
spec: {clusterIP: ${vip}, selector: {app: ${name}}, ports: [{name: http, port: ${port}, targetPort: ${target}}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ${name}-1, namespace: default, labels: {kubernetes.io/service-name: ${name}}}
addressType: IPv4
ports: [{name: http, port: ${target}, protocol: TCP}]
endpoints: [{addresses: ["${host}"], conditions: {ready: true}}]
`;
  return [
    service("reviews", "10.56.0.10", 9080, reviewsPort),
    service("ratings", RATINGS_VIP, 9081, ratingsPort),
    `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: sleep, namespace: default}
spec:
  workloadSelector: {labels: {app: sleep}}
  egress:
    - port: {number: 9080, protocol: HTTP, name: http}
      bind: 127.0.0.1
      captureMode: NONE
      hosts: [./reviews.default.svc.cluster.local]
    - hosts: [./*]
`,
  ].join("---\n");
}

test(
  "Sidecar egress listener with bind 127.0.0.1 and captureMode NONE: the app calls it directly; the catch-all listener still works",
  { timeout: 120_000 },
  async (t) => {
    const defer = cleanups(t);
    const pod = requirePod(t, defer, "a Sidecar egress listener on the sidecar path");
    if (!pod) return;
    const bin = requireEnvoy(t)!;
    const reviews = await backend("reviews", pod.hostIp);
    defer(() => reviews.stop());
    const ratings = await backend("ratings", pod.hostIp);
    defer(() => ratings.stop());
    const dir = path.join(tmp, "config");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "mesh.yaml"), manifests(pod.hostIp, reviews.port, ratings.port));
    const meshFile = path.join(tmp, "meshconfig.yaml");
    fs.writeFileSync(meshFile, "enableTracing: false\n");
    const serve = await startServe(["--config-dir", dir, "--mesh-config", meshFile, "--xds-address", `${pod.hostIp}:0`]);
    defer(() => serve.stop());
    const bootstrap = path.join(tmp, "envoy.json");
    writePodBootstrap(pod, POD, bootstrap, ["--xds-address", `${pod.hostIp}:${serve.xdsPort}`]);
    const envoy = await waitPodEnvoyReady(spawnPodEnvoy(pod, bin, bootstrap, tmp), "127.0.0.1_9080");
    defer(() => envoy.stop());
    const client = writeClientScript(tmp);
    const app = async (url: string, headers: Record<string, string>) =>
      (
        JSON.parse(await pod.exec("node", [client, url, "10", "2", JSON.stringify(headers)], { uid: APP_UID, timeoutMs: 30_000 })) as {
          counts: Record<string, number>;
        }
      ).counts;
    try {
      // The app talks to the bound address itself; Envoy routes by Host with route config 9080 (reviews only).
      assert.deepEqual(await app("http://127.0.0.1:9080/", { host: "reviews.default.svc.cluster.local:9080" }), { reviews: 10 });
      assert.deepEqual(await app("http://127.0.0.1:9080/", { host: "reviews" }), { reviews: 10 }, "short name in the vhost domains");
      assert.ok((await envoy.stat("listener.127.0.0.1_9080.downstream_cx_total")) >= 1, "the bound listener took the connections");
      assert.equal(await envoy.stat("listener.0.0.0.0_15001.downstream_cx_total"), 0, "nothing was captured for them");
      // The catch-all egress listener's service is reached the usual way: captured, handed to 0.0.0.0_9081.
      assert.deepEqual(await app(`http://${RATINGS_VIP}:9081/`, {}), { ratings: 10 });
      assert.ok((await envoy.stat("listener.0.0.0.0_9081.downstream_cx_total")) >= 1);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n--- envoy log ---\n${envoy.logTail()}`, { cause: e });
    }
  },
);
