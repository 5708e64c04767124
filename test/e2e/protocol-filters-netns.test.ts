/**
 * HTTP/2, gRPC-Web and Mongo through a real sidecar Envoy, as istiod configures them
 * (docs/ENVOY.md "HTTP/2, gRPC-Web and Mongo"): the application runs in a pod
 * network namespace with istio-init's rules (test/e2e/netns.ts), Envoy gets
 * its config over ADS from `mini-pilot serve --config-dir`.
 *
 * Every server here speaks HTTP/2 only (node:http2 without HTTP/1.1), so an
 * answer proves that Envoy spoke HTTP/2 to it.
 *
 * (a) outbound gRPC: the app calls echo's `grpc` port; the cluster's HTTP/2
 *     upstream reaches the HTTP/2-only backend on the host;
 * (b) outbound gRPC-Web: the app POSTs `application/grpc-web+proto` over
 *     HTTP/1.1 to echo's `grpc-web` port; the gRPC-Web filter turns it into
 *     gRPC (the backend sees `application/grpc` over HTTP/2) and the answer
 *     back into gRPC-Web (a data frame and a trailer frame with grpc-status 0);
 * (c) inbound gRPC: the host calls the pod's own `grpc` port; iptables sends
 *     it to virtualInbound, whose connection manager for that port carries
 *     http2_protocol_options, and inbound|<port>|| speaks HTTP/2 to the app;
 * (d) Mongo: the app sends a Mongo wire-protocol query to a `mongo` port; the
 *     mongo_proxy filter in front of tcp_proxy decodes the query and the reply
 *     (its stats count them) and passes the bytes on unchanged.
 *
 * Skipped, loudly, where namespaces or iptables are not allowed; with CI set
 * that fails instead.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http2 from "node:http2";
import * as net from "node:net";
import * as path from "node:path";
import { requireEnvoy } from "../support/envoy";
import { startServe } from "../support/serve-process";
import { APP_UID, podReadableTmp } from "./netns";
import { cleanups, requirePod, spawnPodEnvoy, waitPodEnvoyReady, writePodBootstrap } from "./pod-envoy";

const tmp = podReadableTmp("mini-pilot-e2e-proto-filters-");
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const POD = { name: "sleep-7f8d9c6b5-grpc1", namespace: "default", labels: "app=sleep" };
const ECHO_VIP = "10.55.1.10";
const GRPC_PORT = 7070;
const GRPC_WEB_PORT = 7071;
const APP_PORT = 9090;

/**
 * An HTTP/2-only gRPC server (no HTTP/1.1, no TLS): any unary call is answered with a JSON message naming `who`,
 * the request's content-type and message, then trailers grpc-status 0. The pod's application (the host's backend:
 * hostGrpcServer, the same in this process).
 */
const GRPC_SERVER = `const http2 = require("node:http2");
const frame = (b) => { const h = Buffer.alloc(5); h.writeUInt32BE(b.length, 1); return Buffer.concat([h, b]); };
function grpcServer(who) {
  const server = http2.createServer();
  server.on("stream", (stream, headers) => {
    const chunks = [];
    stream.on("data", (d) => chunks.push(d));
    stream.on("end", () => {
      const b = Buffer.concat(chunks);
      const msg = b.length >= 5 ? b.subarray(5, 5 + b.readUInt32BE(1)).toString() : "";
      const reply = JSON.stringify({ who, contentType: headers["content-type"], path: headers[":path"], msg });
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(frame(Buffer.from(reply)));
    });
  });
  return server;
}
grpcServer(process.argv[3]).listen(Number(process.argv[2]), "0.0.0.0");
`;

/** The app's client: gRPC over h2c, or gRPC-Web over HTTP/1.1; prints what came back as JSON. */
const CLIENT = `const http = require("node:http"), http2 = require("node:http2");
const [mode, host, port, msg] = process.argv.slice(2);
const frame = (b) => { const h = Buffer.alloc(5); h.writeUInt32BE(b.length, 1); return Buffer.concat([h, b]); };
const done = (o) => { process.stdout.write(JSON.stringify(o)); process.exit(0); };
setTimeout(() => done({ error: "timeout" }), 10000);
const frames = (b) => { const out = []; let i = 0; while (i + 5 <= b.length) { const len = b.readUInt32BE(i + 1); out.push({ flag: b[i], data: b.subarray(i + 5, i + 5 + len).toString() }); i += 5 + len; } return out; };
if (mode === "grpc") {
  const c = http2.connect("http://" + host + ":" + port);
  c.on("error", (e) => done({ error: e.code || e.message }));
  const req = c.request({ ":method": "POST", ":path": "/test.Who/Name", "content-type": "application/grpc", te: "trailers" });
  let headers = {}, trailers = {};
  const chunks = [];
  req.on("response", (h) => (headers = h));
  req.on("trailers", (t) => (trailers = t));
  req.on("data", (d) => chunks.push(d));
  req.on("end", () => done({ status: headers[":status"], contentType: headers["content-type"], grpcStatus: trailers["grpc-status"] ?? headers["grpc-status"], frames: frames(Buffer.concat(chunks)) }));
  req.end(frame(Buffer.from(msg)));
} else {
  const body = frame(Buffer.from(msg));
  const headers = { "content-type": "application/grpc-web+proto", "x-grpc-web": "1", "content-length": body.length };
  const req = http.request({ host, port: Number(port), method: "POST", path: "/test.Who/Name", headers }, (res) => {
    const chunks = [];
    res.on("data", (d) => chunks.push(d));
    res.on("end", () => done({ status: res.statusCode, contentType: res.headers["content-type"], frames: frames(Buffer.concat(chunks)) }));
  });
  req.on("error", (e) => done({ error: e.code || e.message }));
  req.end(body);
}
`;

function mesh(podIp: string, hostIp: string, backendPort: number): string {
  return `apiVersion: v1
kind: Service
metadata: {name: echo, namespace: default}
spec:
  clusterIP: ${ECHO_VIP}
  selector: {app: echo}
  ports:
    - {name: grpc, port: ${GRPC_PORT}, targetPort: ${backendPort}}
    - {name: grpc-web, port: ${GRPC_WEB_PORT}, targetPort: ${backendPort}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: echo-1, namespace: default, labels: {kubernetes.io/service-name: echo}}
addressType: IPv4
ports: [{name: grpc, port: ${backendPort}, protocol: TCP}, {name: grpc-web, port: ${backendPort}, protocol: TCP}]
endpoints: [{addresses: ["${hostIp}"], conditions: {ready: true}}]
---
apiVersion: v1
kind: Service
metadata: {name: sleep, namespace: default}
spec:
  clusterIP: 10.55.1.20
  selector: {app: sleep}
  ports: [{name: grpc, port: ${APP_PORT}, targetPort: ${APP_PORT}}]
---
apiVersion: v1
kind: Pod
metadata: {name: ${POD.name}, namespace: default, labels: {app: sleep}}
spec:
  containers: [{name: sleep, ports: [{containerPort: ${APP_PORT}}]}]
status: {phase: Running, podIP: ${podIp}}
`;
}

interface Answer {
  error?: string;
  status?: number | string;
  contentType?: string;
  grpcStatus?: string;
  frames?: { flag: number; data: string }[];
}

/** GRPC_SERVER's server, in this process (the backend on the host). */
function hostGrpcServer(who: string): http2.Http2Server {
  const server = http2.createServer();
  server.on("stream", (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on("data", (d: Buffer) => chunks.push(d));
    stream.on("end", () => {
      const b = Buffer.concat(chunks);
      const msg = b.length >= 5 ? b.subarray(5, 5 + b.readUInt32BE(1)).toString() : "";
      const reply = Buffer.from(JSON.stringify({ who, contentType: headers["content-type"], path: headers[":path"], msg }));
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      const h = Buffer.alloc(5);
      h.writeUInt32BE(reply.length, 1);
      stream.end(Buffer.concat([h, reply]));
    });
  });
  return server;
}

/** gRPC over h2c from this process (the host), as the CLIENT script does from the pod. */
function grpcFromHost(host: string, port: number, msg: string): Promise<Answer> {
  return new Promise((resolve) => {
    const c = http2.connect(`http://${host}:${port}`);
    const finish = (a: Answer) => {
      c.close();
      resolve(a);
    };
    c.on("error", (e: NodeJS.ErrnoException) => finish({ error: e.code ?? e.message }));
    const req = c.request({ ":method": "POST", ":path": "/test.Who/Name", "content-type": "application/grpc", te: "trailers" });
    req.setTimeout(10_000, () => finish({ error: "timeout" }));
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on("response", (h) => (headers = h));
    req.on("trailers", (t) => (trailers = t));
    req.on("data", (d: Buffer) => chunks.push(d));
    req.on("end", () => {
      const b = Buffer.concat(chunks);
      const frames = b.length >= 5 ? [{ flag: b[0]!, data: b.subarray(5, 5 + b.readUInt32BE(1)).toString() }] : [];
      finish({
        status: Number(headers[":status"]),
        contentType: String(headers["content-type"]),
        grpcStatus: String(trailers["grpc-status"] ?? headers["grpc-status"]),
        frames,
      });
    });
    const h = Buffer.alloc(5);
    h.writeUInt32BE(Buffer.byteLength(msg), 1);
    req.end(Buffer.concat([h, Buffer.from(msg)]));
  });
}

test("HTTP/2 and gRPC-Web on the sidecar path: gRPC out and in over HTTP/2 only, gRPC-Web translated by the filter", { timeout: 120_000 }, async (t) => {
  const defer = cleanups(t);
  const pod = requirePod(t, defer, "HTTP/2 and gRPC-Web on the sidecar path");
  if (!pod) return;
  const bin = requireEnvoy(t)!;

  const serverFile = path.join(tmp, "grpc-server.js");
  fs.writeFileSync(serverFile, GRPC_SERVER);
  const clientFile = path.join(tmp, "grpc-client.js");
  fs.writeFileSync(clientFile, CLIENT);
  for (const f of [serverFile, clientFile]) fs.chmodSync(f, 0o644);

  // The backend on the host end of the veth (HTTP/2 only), and the pod's own application (HTTP/2 only).
  const backend = hostGrpcServer("backend");
  const sessions = new Set<http2.ServerHttp2Session>();
  backend.on("session", (s: http2.ServerHttp2Session) => sessions.add(s));
  const backendPort = await new Promise<number>((resolve, reject) => {
    backend.once("error", reject);
    backend.listen(0, pod.hostIp, () => resolve((backend.address() as net.AddressInfo).port));
  });
  defer(
    () =>
      new Promise<void>((r) => {
        for (const s of sessions) s.destroy();
        backend.close(() => r());
      }),
  );
  const app = pod.spawn(process.execPath, [serverFile, String(APP_PORT), "app"]);
  defer(() => app.kill("SIGKILL"));

  const dir = path.join(tmp, "config");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "mesh.yaml"), mesh(pod.podIp, pod.hostIp, backendPort));
  const serve = await startServe(["--config-dir", dir, "--xds-address", `${pod.hostIp}:0`]);
  defer(() => serve.stop());
  const bootstrap = path.join(tmp, "envoy.json");
  writePodBootstrap(pod, POD, bootstrap, ["--xds-address", `${pod.hostIp}:${serve.xdsPort}`]);
  const envoy = await waitPodEnvoyReady(spawnPodEnvoy(pod, bin, bootstrap, tmp), `0.0.0.0_${GRPC_WEB_PORT}`);
  defer(() => envoy.stop());
  const fromApp = async (mode: string, port: number, msg: string): Promise<Answer> =>
    JSON.parse(await pod.exec("node", [clientFile, mode, ECHO_VIP, String(port), msg], { uid: APP_UID, timeoutMs: 30_000 })) as Answer;

  try {
    // (a) gRPC out: HTTP/2 from the app, HTTP/2 upstream to an HTTP/2-only backend.
    const grpc = await fromApp("grpc", GRPC_PORT, "hello");
    assert.equal(grpc.error, undefined, JSON.stringify(grpc));
    assert.equal(String(grpc.status), "200");
    assert.equal(grpc.grpcStatus, "0");
    assert.deepEqual(JSON.parse(grpc.frames![0]!.data), { who: "backend", contentType: "application/grpc", path: "/test.Who/Name", msg: "hello" });

    // (b) gRPC-Web out: HTTP/1.1 + application/grpc-web+proto in, gRPC over HTTP/2 to the backend, gRPC-Web back.
    const web = await fromApp("grpc-web", GRPC_WEB_PORT, "from the browser");
    assert.equal(web.error, undefined, JSON.stringify(web));
    assert.equal(web.status, 200);
    assert.match(web.contentType ?? "", /^application\/grpc-web/);
    const [data, trailer] = web.frames ?? [];
    assert.equal(data?.flag, 0, "a data frame first");
    assert.deepEqual(
      JSON.parse(data!.data),
      { who: "backend", contentType: "application/grpc", path: "/test.Who/Name", msg: "from the browser" },
      "the backend got gRPC",
    );
    assert.equal(trailer?.flag, 0x80, "then the trailers as a gRPC-Web trailer frame");
    assert.match(trailer!.data, /grpc-status:\s*0/);
    const upstream = `cluster.outbound|${GRPC_WEB_PORT}||echo.default.svc.cluster.local`;
    assert.ok((await envoy.stat(`${upstream}.upstream_cx_http2_total`)) >= 1, "the grpc-web port's cluster spoke HTTP/2");
    assert.equal(await envoy.stat(`${upstream}.upstream_cx_http1_total`), 0);
    assert.ok((await envoy.stat(`http.outbound_0.0.0.0_${GRPC_WEB_PORT}.downstream_cx_http1_total`)) >= 1, "the app spoke HTTP/1.1 to the listener");

    // (c) gRPC in: from the host to the pod's grpc port, through virtualInbound's HTTP/2 connection manager.
    const listeners = await envoy.admin("/config_dump?resource=dynamic_listeners");
    assert.match(listeners, /"http2_protocol_options"/, "the inbound connection manager of the grpc port carries http2_protocol_options");
    const inbound = await grpcFromHost(pod.podIp, APP_PORT, "inbound");
    assert.equal(inbound.error, undefined, JSON.stringify(inbound));
    assert.equal(inbound.grpcStatus, "0");
    assert.deepEqual(JSON.parse(inbound.frames![0]!.data), { who: "app", contentType: "application/grpc", path: "/test.Who/Name", msg: "inbound" });
    assert.ok((await envoy.stat(`cluster.inbound|${APP_PORT}||.upstream_cx_http2_total`)) >= 1, "inbound|port|| spoke HTTP/2 to the app");
    assert.ok((await envoy.stat(`http.inbound_0.0.0.0_${APP_PORT}.downstream_cx_http2_total`)) >= 1, "through the port's inbound connection manager");
    process.stderr.write(`protocol-filters-netns: gRPC out, gRPC-Web out, gRPC in: 3 calls through the sidecar over HTTP/2\n`);
  } catch (e) {
    process.stderr.write(`--- Envoy log ---\n${envoy.logTail()}\n`);
    throw e;
  }
});

const MONGO_VIP = "10.55.1.30";

/** A BSON document with one field: int32 (type 0x10) or double (0x01). */
function bson(name: string, value: number, type: 0x10 | 0x01): Buffer {
  const v = Buffer.alloc(type === 0x10 ? 4 : 8);
  if (type === 0x10) v.writeInt32LE(value);
  else v.writeDoubleLE(value);
  const body = Buffer.concat([Buffer.from([type]), Buffer.from(name + "\0", "latin1"), v, Buffer.from([0])]);
  const len = Buffer.alloc(4);
  len.writeInt32LE(body.length + 4);
  return Buffer.concat([len, body]);
}

/** A Mongo message: the 16-byte header (length, request id, response to, op code) and the body. */
function mongoMessage(requestId: number, responseTo: number, opCode: number, body: Buffer): Buffer {
  const h = Buffer.alloc(16);
  h.writeInt32LE(16 + body.length, 0);
  h.writeInt32LE(requestId, 4);
  h.writeInt32LE(responseTo, 8);
  h.writeInt32LE(opCode, 12);
  return Buffer.concat([h, body]);
}

/** OP_QUERY (2004) `{isMaster: 1}` on admin.$cmd, as a legacy driver's handshake; base64 for the pod's client. */
function opQuery(): Buffer {
  const flags = Buffer.alloc(4);
  const skipReturn = Buffer.alloc(8);
  skipReturn.writeInt32LE(-1, 4);
  return mongoMessage(7, 0, 2004, Buffer.concat([flags, Buffer.from("admin.$cmd\0", "latin1"), skipReturn, bson("isMaster", 1, 0x10)]));
}

/** OP_REPLY (1) with one document `{ok: 1.0}`. */
function opReply(responseTo: number): Buffer {
  const fixed = Buffer.alloc(20); // responseFlags, cursorID (8), startingFrom, numberReturned
  fixed.writeInt32LE(1, 16);
  return mongoMessage(100, responseTo, 1, Buffer.concat([fixed, bson("ok", 1, 0x01)]));
}

/** The app's raw client: sends the base64 bytes, prints the base64 of what comes back once `want` bytes arrived. */
const RAW_CLIENT = `const net = require("node:net");
const [host, port, b64, want] = process.argv.slice(2);
const s = net.connect({ host, port: Number(port) }, () => s.write(Buffer.from(b64, "base64")));
let got = Buffer.alloc(0);
s.setTimeout(8000, () => { process.stdout.write("error timeout"); process.exit(0); });
s.on("data", (d) => { got = Buffer.concat([got, d]); if (got.length >= Number(want)) { process.stdout.write(got.toString("base64")); s.destroy(); process.exit(0); } });
s.on("error", (e) => { process.stdout.write("error " + (e.code || e.message)); process.exit(0); });
`;

test("Mongo port on the sidecar path: mongo_proxy decodes the query and the reply and passes the bytes on", { timeout: 120_000 }, async (t) => {
  const defer = cleanups(t);
  const pod = requirePod(t, defer, "the Mongo filter on the sidecar path");
  if (!pod) return;
  const bin = requireEnvoy(t)!;

  // A fake mongod on the host: checks it got exactly the query, answers {ok: 1}.
  const query = opQuery();
  const received: Buffer[] = [];
  const mongod = net.createServer((s) => {
    let buf = Buffer.alloc(0);
    s.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= query.length) {
        received.push(buf);
        s.write(opReply(buf.readInt32LE(4)));
      }
    });
  });
  const mongoPort = await new Promise<number>((resolve, reject) => {
    mongod.once("error", reject);
    mongod.listen(0, pod.hostIp, () => resolve((mongod.address() as net.AddressInfo).port));
  });
  const conns = new Set<net.Socket>();
  mongod.on("connection", (s: net.Socket) => conns.add(s));
  defer(
    () =>
      new Promise<void>((r) => {
        for (const s of conns) s.destroy();
        mongod.close(() => r());
      }),
  );

  const dir = path.join(tmp, "mongo-config");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, "mesh.yaml"),
    `apiVersion: v1
kind: Service
metadata: {name: mongo, namespace: default}
spec:
  clusterIP: ${MONGO_VIP}
  selector: {app: mongo}
  ports: [{name: mongo, port: 27017, targetPort: ${mongoPort}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: mongo-1, namespace: default, labels: {kubernetes.io/service-name: mongo}}
addressType: IPv4
ports: [{name: mongo, port: ${mongoPort}, protocol: TCP}]
endpoints: [{addresses: ["${pod.hostIp}"], conditions: {ready: true}}]
`,
  );
  const serve = await startServe(["--config-dir", dir, "--xds-address", `${pod.hostIp}:0`]);
  defer(() => serve.stop());
  const bootstrap = path.join(tmp, "envoy-mongo.json");
  writePodBootstrap(pod, POD, bootstrap, ["--xds-address", `${pod.hostIp}:${serve.xdsPort}`]);
  const envoy = await waitPodEnvoyReady(spawnPodEnvoy(pod, bin, bootstrap, tmp), `${MONGO_VIP}_27017`);
  defer(() => envoy.stop());
  const clientFile = path.join(tmp, "raw-client.js");
  fs.writeFileSync(clientFile, RAW_CLIENT);
  fs.chmodSync(clientFile, 0o644);

  try {
    const reply = opReply(7);
    const out = await pod.exec("node", [clientFile, MONGO_VIP, "27017", query.toString("base64"), String(reply.length)], { uid: APP_UID, timeoutMs: 30_000 });
    assert.ok(!out.startsWith("error"), out);
    assert.ok(received[0]?.equals(query), "the server got the query byte for byte");
    const got = Buffer.from(out, "base64");
    assert.equal(got.readInt32LE(12), 1, "an OP_REPLY came back");
    assert.equal(got.readDoubleLE(got.length - 9), 1, "{ok: 1}");
    const prefix = `mongo.outbound|27017||mongo.default.svc.cluster.local`;
    assert.equal(await envoy.stat(`${prefix}.op_query`), 1, "mongo_proxy decoded the query");
    assert.equal(await envoy.stat(`${prefix}.op_reply`), 1, "and the reply");
    assert.equal(await envoy.stat(`${prefix}.decoding_error`), 0);
    process.stderr.write(`protocol-filters-netns: a Mongo query and its reply through mongo_proxy + tcp_proxy, decoded and passed on\n`);
  } catch (e) {
    process.stderr.write(`--- Envoy log ---\n${envoy.logTail()}\n`);
    throw e;
  }
});
