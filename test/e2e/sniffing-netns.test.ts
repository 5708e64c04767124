/**
 * Protocol detection through a real sidecar Envoy, reached the way Istio
 * reaches it: the application runs as `nobody` in a pod network namespace,
 * istio-init-style iptables rules send its connections to Envoy's 15001, and
 * virtualOutbound hands them on by original destination (test/e2e/netns.ts).
 * The config comes over ADS from `mini-pilot serve --config-dir`.
 *
 * (a) TLS through an HTTP port's fallback: `web` declares port P as HTTP; the
 *     application does TLS (its own, end to end, verified against the
 *     backend's CA) to a server on P that is no service. 0.0.0.0_P's HTTP
 *     inspector finds no HTTP, so the PassthroughFilterChain forwards the
 *     bytes as they are (ALLOW_ANY); under REGISTRY_ONLY the same connection
 *     is dropped (BlackHoleCluster).
 * (b) Sniffed HTTP on an unnamed port: `echo`'s only port has no name. HTTP
 *     to it is routed by its route config (a VirtualService header rule sends
 *     `x-route: b` to echo-b), raw TCP to the same address:port is proxied
 *     to echo as bytes.
 *
 * Skipped, loudly, where namespaces or iptables are not allowed; with CI set
 * that fails instead.
 */
import { after, test, TestContext } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";
import * as tls from "node:tls";
import { requireEnvoy } from "../support/envoy";
import { startServe } from "../support/serve-process";
import { testCa, testLeaf } from "../support/tls-certs";
import { APP_UID, PodNetns, podReadableTmp, writeClientScript } from "./netns";
import { cleanups, Defer, PodEnvoy, requirePod, spawnPodEnvoy, waitPodEnvoyReady, writePodBootstrap } from "./pod-envoy";

const tmp = podReadableTmp("mini-pilot-e2e-sniff-");
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const POD = { name: "sleep-7f8d9c6b5-sniff1", namespace: "default", labels: "app=sleep" };
const ECHO_VIP = "10.55.0.20";
const ECHO_PORT = 9000;

interface Backends {
  tlsPort: number;
  echoPort: number;
  echoBPort: number;
  caPem: string;
  stop(): Promise<void>;
}

/**
 * On the host end of the veth: a TLS server (answers `tls:<line>`), `echo` (HTTP with x-backend: echo-a, and
 * for anything that is not HTTP, raw bytes answered `A:<line>`, on the same port) and echo-b (HTTP).
 */
async function startBackends(host: string): Promise<Backends> {
  const ca = await testCa();
  const leaf = await testLeaf(ca, ["web.example"]);
  const tlsServer = tls.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (s) => s.once("data", (d: Buffer) => s.end(`tls:${d.toString().trim()}\n`)));
  const httpFor = (name: string) =>
    http.createServer((req, res) => {
      req.resume();
      res.writeHead(200, { "x-backend": name, "content-type": "text/plain" });
      res.end(name);
    });
  const echoHttp = httpFor("echo-a");
  // One port, both protocols: a request line goes to the HTTP server, anything else is echoed as bytes.
  const echo = net.createServer((s) =>
    s.once("data", (d: Buffer) => {
      if (/^[A-Z]+ \S+ HTTP\/1\.[01]\r\n/.test(d.toString("latin1"))) {
        s.unshift(d);
        echoHttp.emit("connection", s);
      } else s.end(`A:${d.toString().trim()}\n`);
    }),
  );
  const echoB = httpFor("echo-b");
  const listen = (srv: net.Server) =>
    new Promise<number>((resolve, reject) => {
      srv.once("error", reject);
      srv.listen(0, host, () => resolve((srv.address() as net.AddressInfo).port));
    });
  const sockets = new Set<net.Socket>();
  for (const srv of [tlsServer, echo, echoB] as net.Server[]) srv.on("connection", (s: net.Socket) => sockets.add(s).size);
  const [tlsPort, echoPort, echoBPort] = [await listen(tlsServer), await listen(echo), await listen(echoB)];
  const close = (srv: net.Server) => new Promise<void>((r) => srv.close(() => r()));
  return {
    tlsPort,
    echoPort,
    echoBPort,
    caPem: ca.certPem,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all([close(tlsServer), close(echo), close(echoB)]);
    },
  };
}

function manifests(host: string, b: Backends): string {
  const slice = (name: string, service: string, port: number, portName?: string) => `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ${name}, namespace: default, labels: {kubernetes.io/service-name: ${service}}}
addressType: IPv4
ports: [{${portName ? `name: ${portName}, ` : ""}port: ${port}, protocol: TCP}]
endpoints: [{addresses: ["${host}"], conditions: {ready: true}}]
`;
  return [
    // An HTTP-declared port P; the TLS server on P is no service's endpoint.
    `apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {clusterIP: 10.55.0.10, selector: {app: web}, ports: [{name: http-web, port: ${b.tlsPort}}]}
`,
    // No port name, no appProtocol: auto-detected.
    `apiVersion: v1
kind: Service
metadata: {name: echo, namespace: default}
spec: {clusterIP: ${ECHO_VIP}, selector: {app: echo}, ports: [{port: ${ECHO_PORT}, targetPort: ${b.echoPort}}]}
`,
    slice("echo-1", "echo", b.echoPort),
    `apiVersion: v1
kind: Service
metadata: {name: echo-b, namespace: default}
spec: {clusterIP: 10.55.0.21, selector: {app: echo-b}, ports: [{name: http, port: ${b.echoBPort}}]}
`,
    slice("echo-b-1", "echo-b", b.echoBPort, "http"),
    // echo-b's port is written: in a sidecar route a port-less destination takes the listener's port (9000), as istiod.
    `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: default}
spec:
  hosts: [echo]
  http:
    - match: [{headers: {x-route: {exact: b}}}]
      route: [{destination: {host: echo-b, port: {number: ${b.echoBPort}}}}]
    - route: [{destination: {host: echo}}]
`,
  ].join("---\n");
}

/** The application's raw connections: TLS (verifying the server against `ca`) or plain TCP; prints the first line back. */
function writeL4Client(dir: string): string {
  const file = path.join(dir, "pod-l4-client.js");
  fs.writeFileSync(
    file,
    `const net = require("node:net"), tls = require("node:tls"), fs = require("node:fs");
const [mode, host, port, payload, caFile] = process.argv.slice(2);
const opts = { host, port: Number(port) };
const s = mode === "tls" ? tls.connect({ ...opts, servername: "web.example", ca: fs.readFileSync(caFile) }) : net.connect(opts);
let got = "";
s.setTimeout(8000, () => { process.stdout.write("error timeout"); process.exit(0); });
s.on(mode === "tls" ? "secureConnect" : "connect", () => s.write(payload + "\\n"));
s.on("data", (d) => (got += d));
s.on("end", () => { process.stdout.write(got.trim()); process.exit(0); });
s.on("error", (e) => { process.stdout.write("error " + (e.code || e.message)); process.exit(0); });
`,
  );
  fs.chmodSync(file, 0o644);
  return file;
}

/** serve over ADS with `meshConfig`, a bootstrap for the pod, Envoy in the pod. */
async function sidecar(t: TestContext, defer: Defer, pod: PodNetns, b: Backends, name: string, meshConfig: string): Promise<PodEnvoy> {
  const bin = requireEnvoy(t)!;
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "mesh.yaml"), manifests(pod.hostIp, b));
  const meshFile = path.join(tmp, `${name}-meshconfig.yaml`);
  fs.writeFileSync(meshFile, meshConfig);
  const serve = await startServe(["--config-dir", dir, "--mesh-config", meshFile, "--xds-address", `${pod.hostIp}:0`]);
  defer(() => serve.stop());
  const bootstrap = path.join(tmp, `${name}-envoy.json`);
  writePodBootstrap(pod, POD, bootstrap, ["--xds-address", `${pod.hostIp}:${serve.xdsPort}`]);
  const envoy = await waitPodEnvoyReady(spawnPodEnvoy(pod, bin, bootstrap, tmp), `${ECHO_VIP}_${ECHO_PORT}`);
  defer(() => envoy.stop());
  return envoy;
}

const app = (pod: PodNetns, file: string, args: string[]): Promise<string> => pod.exec("node", [file, ...args], { uid: APP_UID, timeoutMs: 30_000 });

test("sniffing on the sidecar path: TLS through an HTTP port's passthrough fallback, HTTP and raw TCP on an unnamed port", { timeout: 120_000 }, async (t) => {
  const defer = cleanups(t);
  const pod = requirePod(t, defer, "protocol detection on the sidecar path");
  if (!pod) return;
  const b = await startBackends(pod.hostIp);
  defer(() => b.stop());
  const caFile = path.join(tmp, "backend-ca.pem");
  fs.writeFileSync(caFile, b.caPem);
  fs.chmodSync(caFile, 0o644);
  const l4 = writeL4Client(tmp);
  const httpClient = writeClientScript(tmp);
  const envoy = await sidecar(t, defer, pod, b, "allow-any", "outboundTrafficPolicy: {mode: ALLOW_ANY}\n");
  try {
    // (a) TLS from the app, end to end to the server on the HTTP-declared port (its certificate checked by the app).
    const wildcard = `listener.0.0.0.0_${b.tlsPort}.downstream_cx_total`;
    assert.equal(await app(pod, l4, ["tls", pod.hostIp, String(b.tlsPort), "hello", caFile]), "tls:hello");
    assert.ok((await envoy.stat(wildcard)) >= 1, "the TLS connection was handed to the HTTP port's listener");
    assert.ok((await envoy.stat("cluster.PassthroughCluster.upstream_cx_total")) >= 1, "and left through PassthroughCluster");
    assert.equal(await envoy.stat(`http.outbound_0.0.0.0_${b.tlsPort}.downstream_rq_total`), 0, "its HTTP chain saw no request");

    // (b) HTTP on the unnamed port is routed by the route config: the header rule takes effect.
    const url = `http://${ECHO_VIP}:${ECHO_PORT}/`;
    const plain = JSON.parse(await app(pod, httpClient, [url, "20", "4", "{}"])) as { counts: Record<string, number> };
    assert.deepEqual(plain.counts, { "echo-a": 20 });
    const routed = JSON.parse(await app(pod, httpClient, [url, "20", "4", JSON.stringify({ "x-route": "b" })])) as { counts: Record<string, number> };
    assert.deepEqual(routed.counts, { "echo-b": 20 }, "the VirtualService header rule applies to sniffed HTTP");
    assert.ok((await envoy.stat(`http.outbound_${ECHO_VIP}_${ECHO_PORT}.downstream_rq_total`)) >= 40, "the sniffed listener's HTTP chain took the requests");
    // ... while raw TCP to the same address:port reaches echo as bytes.
    assert.equal(await app(pod, l4, ["tcp", ECHO_VIP, String(ECHO_PORT), "ping"]), "A:ping");
    assert.equal(await app(pod, l4, ["tcp", ECHO_VIP, String(ECHO_PORT), "second"]), "A:second");
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- envoy log ---\n${envoy.logTail()}`, { cause: e });
  }
});

test("sniffing on the sidecar path under REGISTRY_ONLY: TLS to an HTTP port's unknown destination is dropped", { timeout: 120_000 }, async (t) => {
  const defer = cleanups(t);
  const pod = requirePod(t, defer, "protocol detection on the sidecar path");
  if (!pod) return;
  const b = await startBackends(pod.hostIp);
  defer(() => b.stop());
  const caFile = path.join(tmp, "backend-ca-ro.pem");
  fs.writeFileSync(caFile, b.caPem);
  fs.chmodSync(caFile, 0o644);
  const l4 = writeL4Client(tmp);
  const envoy = await sidecar(t, defer, pod, b, "registry-only", "outboundTrafficPolicy: {mode: REGISTRY_ONLY}\n");
  try {
    const out = await app(pod, l4, ["tls", pod.hostIp, String(b.tlsPort), "hello", caFile]);
    assert.match(out, /^error /, `no TLS session through BlackHoleCluster: ${out}`);
    assert.ok((await envoy.stat(`listener.0.0.0.0_${b.tlsPort}.downstream_cx_total`)) >= 1, "the connection reached the HTTP port's listener");
    assert.equal(await envoy.stat("cluster.PassthroughCluster.upstream_cx_total"), 0);
    // The registered service on the unnamed port still works both ways.
    assert.equal(await app(pod, l4, ["tcp", ECHO_VIP, String(ECHO_PORT), "ping"]), "A:ping");
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- envoy log ---\n${envoy.logTail()}`, { cause: e });
  }
});
