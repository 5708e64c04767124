/**
 * Routing that follows istiod 1.31 (docs/ENVOY.md "Routing as istiod"), through a real sidecar Envoy on the
 * Istio path: the application runs as `nobody` in a pod network namespace, iptables sends its connections to
 * Envoy's 15001, virtualOutbound hands them on by original destination (test/e2e/netns.ts). Config over ADS
 * from `mini-pilot serve --config-dir`.
 *
 * (a) A VirtualService host on port 80 whose Service has no port 80: route config 80 has a virtual host for it,
 *     so HTTP to <its VIP>:80 with its name as Host is routed by the VirtualService (to the Service's real port),
 *     instead of passing through to an address nothing listens on.
 * (b) A route split over two subsets that hash on different headers: the route carries both hash policies, so
 *     within each subset a client keeps to one endpoint (without them, ring hash picks at random).
 * (c) A headless Service's TCP port: a listener for the endpoint's IP, `<ip>_<port>`, proxies to the Service's
 *     cluster (not the passthrough).
 *
 * Skipped, loudly, where namespaces or iptables are not allowed; with CI set that fails instead.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";
import { requireEnvoy } from "../support/envoy";
import { startServe } from "../support/serve-process";
import { APP_UID, PodNetns, podReadableTmp, writeClientScript } from "./netns";
import { cleanups, requirePod, spawnPodEnvoy, waitPodEnvoyReady, writePodBootstrap } from "./pod-envoy";

const tmp = podReadableTmp("mini-pilot-e2e-routing-");
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const POD = { name: "sleep-7f8d9c6b5-route1", namespace: "default", labels: "app=sleep" };
const HTTPBIN_VIP = "10.56.0.20";
const STICKY_VIP = "10.56.0.30";
const STICKY_PORT = 8000;

interface Servers {
  ports: Record<string, number>;
  stop(): Promise<void>;
}

/** HTTP backends answering with their name (x-backend), and `db`, a TCP server answering `db:<line>`. */
async function startServers(host: string, names: string[]): Promise<Servers> {
  const servers: net.Server[] = names.map((name) =>
    http.createServer((req, res) => {
      req.resume();
      res.writeHead(200, { "x-backend": name, "content-type": "text/plain" });
      res.end(name);
    }),
  );
  servers.push(net.createServer((s) => s.once("data", (d: Buffer) => s.end(`db:${d.toString().trim()}\n`))));
  const sockets = new Set<net.Socket>();
  const ports: Record<string, number> = {};
  for (const [i, srv] of servers.entries()) {
    srv.on("connection", (s: net.Socket) => sockets.add(s));
    ports[names[i] ?? "db"] = await new Promise<number>((resolve, reject) => {
      srv.once("error", reject);
      srv.listen(0, host, () => resolve((srv.address() as net.AddressInfo).port));
    });
  }
  return {
    ports,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((srv) => new Promise<void>((r) => srv.close(() => r()))));
    },
  };
}

function manifests(host: string, ports: Record<string, number>): string {
  const slice = (name: string, service: string, portName: string, port: number, labels = "{}") => `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ${name}, namespace: default, labels: {kubernetes.io/service-name: ${service}}}
addressType: IPv4
ports: [{name: ${portName}, port: ${port}, protocol: TCP}]
endpoints: [{addresses: ["${host}"], conditions: {ready: true}, targetRef: {kind: Pod, name: ${name}, namespace: default}}]
---
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: default, labels: ${labels}}
spec: {containers: [{name: c}]}
status: {podIP: ${host}}
`;
  // The four sticky endpoints share the host IP on different ports: a ServiceEntry's static endpoints can say so
  // (an EndpointSlice's port applies to all its endpoints).
  const stickyEntry = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: sticky, namespace: default}
spec:
  hosts: [sticky.example.com]
  addresses: [${STICKY_VIP}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: ${STICKY_PORT}, name: http, protocol: HTTP}]
  endpoints:
${["v1-a", "v1-b", "v2-a", "v2-b"].map((n) => `    - {address: "${host}", ports: {http: ${ports[n]}}, labels: {version: ${n.slice(0, 2)}}}`).join("\n")}
`;
  return [
    // (a) httpbin has only its real port; sleep gives the proxy an HTTP listener on 80.
    `apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: default}
spec: {clusterIP: ${HTTPBIN_VIP}, selector: {app: httpbin}, ports: [{name: http, port: ${ports.httpbin}}]}
`,
    slice("httpbin-1", "httpbin", "http", ports.httpbin!, "{app: httpbin}"),
    `apiVersion: v1
kind: Service
metadata: {name: sleep, namespace: default}
spec: {clusterIP: 10.56.0.10, selector: {app: sleep}, ports: [{name: http, port: 80}]}
`,
    `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin, namespace: default}
spec:
  hosts: [httpbin]
  http:
    - route: [{destination: {host: httpbin, port: {number: ${ports.httpbin}}}}]
`,
    // (b) a 50/50 split over subsets hashing on different headers.
    stickyEntry,
    `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: sticky, namespace: default}
spec:
  host: sticky.example.com
  subsets:
    - name: v1
      labels: {version: v1}
      trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-a}}}
    - name: v2
      labels: {version: v2}
      trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-b}}}
`,
    `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: sticky, namespace: default}
spec:
  hosts: [sticky.example.com]
  http:
    - route:
        - {destination: {host: sticky.example.com, subset: v1}, weight: 50}
        - {destination: {host: sticky.example.com, subset: v2}, weight: 50}
`,
    // (c) a headless Service whose endpoint is the TCP server.
    `apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec: {clusterIP: None, selector: {app: db}, ports: [{name: tcp-db, port: ${ports.db}}]}
`,
    slice("db-0", "db", "tcp-db", ports.db!, "{app: db}"),
  ].join("---\n");
}

/** The application's raw TCP connection: sends one line, prints the first line back. */
function writeTcpClient(dir: string): string {
  const file = path.join(dir, "pod-tcp-client.js");
  fs.writeFileSync(
    file,
    `const net = require("node:net");
const [host, port, payload] = process.argv.slice(2);
const s = net.connect({ host, port: Number(port) });
let got = "";
s.setTimeout(8000, () => { process.stdout.write("error timeout"); process.exit(0); });
s.on("connect", () => s.write(payload + "\\n"));
s.on("data", (d) => (got += d));
s.on("end", () => { process.stdout.write(got.trim()); process.exit(0); });
s.on("error", (e) => { process.stdout.write("error " + (e.code || e.message)); process.exit(0); });
`,
  );
  fs.chmodSync(file, 0o644);
  return file;
}

const app = (pod: PodNetns, file: string, args: string[]): Promise<string> => pod.exec("node", [file, ...args], { uid: APP_UID, timeoutMs: 30_000 });

test(
  "routing as istiod on the sidecar path: VirtualService hosts on port 80, split-route hashing, headless per-endpoint listeners",
  { timeout: 120_000 },
  async (t) => {
    const defer = cleanups(t);
    const pod = requirePod(t, defer, "routing on the sidecar path");
    if (!pod) return;
    const bin = requireEnvoy(t)!;
    const servers = await startServers(pod.hostIp, ["httpbin", "v1-a", "v1-b", "v2-a", "v2-b"]);
    defer(() => servers.stop());
    const dir = path.join(tmp, "config");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "mesh.yaml"), manifests(pod.hostIp, servers.ports));
    const serve = await startServe(["--config-dir", dir, "--xds-address", `${pod.hostIp}:0`]);
    defer(() => serve.stop());
    const bootstrap = path.join(tmp, "envoy.json");
    writePodBootstrap(pod, POD, bootstrap, ["--xds-address", `${pod.hostIp}:${serve.xdsPort}`]);
    const dbListener = `${pod.hostIp}_${servers.ports.db}`;
    // One LDS answer carries every listener; 0.0.0.0_80 exists with or without the rules under test.
    const envoy = await waitPodEnvoyReady(spawnPodEnvoy(pod, bin, bootstrap, tmp), "0.0.0.0_80");
    defer(() => envoy.stop());
    const client = writeClientScript(tmp);
    const tcp = writeTcpClient(tmp);
    type Counts = { counts: Record<string, number> };
    try {
      // (a) port 80 of a Service that has no port 80: the VirtualService routes it by Host.
      const viaVs = JSON.parse(
        await app(pod, client, [`http://${HTTPBIN_VIP}:80/`, "5", "1", JSON.stringify({ host: "httpbin.default.svc.cluster.local" })]),
      ) as Counts;
      assert.deepEqual(viaVs.counts, { httpbin: 5 }, "route config 80 has the VirtualService's virtual host");
      assert.equal(await envoy.stat("cluster.PassthroughCluster.upstream_rq_total"), 0, "nothing passed through");

      // (b) the split: both subsets serve, each through one endpoint for the same hash keys.
      const split = JSON.parse(
        await app(pod, client, [
          `http://${STICKY_VIP}:${STICKY_PORT}/`,
          "60",
          "2",
          JSON.stringify({ host: "sticky.example.com", "x-a": "alice", "x-b": "bob" }),
        ]),
      ) as Counts;
      const seen = Object.keys(split.counts).sort();
      assert.ok(
        seen.filter((n) => n.startsWith("v1-")).length === 1 && seen.filter((n) => n.startsWith("v2-")).length === 1,
        `one endpoint per subset for the same x-a/x-b: ${JSON.stringify(split.counts)}`,
      );

      // (c) the headless Service's endpoint IP:port has its own listener, proxying to the Service's cluster.
      assert.equal(await app(pod, tcp, [pod.hostIp, String(servers.ports.db), "ping"]), "db:ping");
      assert.ok((await envoy.stat(`listener.${dbListener}.downstream_cx_total`)) >= 1, `the connection took ${dbListener}`);
      assert.ok((await envoy.stat(`cluster.outbound|${servers.ports.db}||db.default.svc.cluster.local.upstream_cx_total`)) >= 1, "and the db cluster");
      assert.equal(await envoy.stat("cluster.PassthroughCluster.upstream_cx_total"), 0, "not the passthrough");
    } catch (e) {
      throw new Error(`${(e as Error).message}\n--- envoy log ---\n${envoy.logTail()}`, { cause: e });
    }
  },
);
