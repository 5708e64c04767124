/**
 * SDS over ADS with a real Envoy ingress gateway, bootstrapped by
 * `mini-pilot bootstrap` against `mini-pilot serve --config-dir`, over SotW
 * and delta:
 *
 * - an HTTPS server with `credentialName` (a kubernetes.io/tls Secret in the
 *   gateway's namespace) answers `curl --cacert ... --resolve` (SNI);
 * - rotating the Secret (a new file in the folder, a certificate from another
 *   CA) makes Envoy serve the new certificate with no restart, an open
 *   connection keeps working, and only SDS is pushed (the server's response
 *   counts per type, and Envoy's LDS/CDS update counters, do not move);
 * - a MUTUAL server (generic Secret with `cacert`) refuses a client without a
 *   certificate and serves one with a certificate from that CA;
 * - a DestinationRule with MUTUAL `credentialName` makes the gateway originate
 *   mutual TLS to an HTTPS backend that requires a client certificate, with
 *   the certificate and CA from a Secret over SDS;
 * - no private key appears in serve's log, /debug/config_dump or
 *   /debug/configz, and config_dump shows the key as "[redacted]".
 */
import { test, TestContext } from "node:test";
import assert from "node:assert/strict";
import { readConfigDump } from "../support/config-dump";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tls from "node:tls";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { spawnSync, execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { freePort, requireEnvoy, startEnvoy } from "../support/envoy";
import { CLI, getJson, startServe, type ServeProcess } from "../support/serve-process";
import { INGRESS, startBillBackends, writeBillService } from "../support/http-backends";
import { secretYaml, testCa, testLeaf, type TestCa, type TestLeaf } from "../support/tls-certs";

type J = any; // debug JSON, walked freely in assertions

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mini-pilot-e2e-sds-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));

const SECURE = "secure.example.com";
const MTLS = "mtls.example.com";

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, detail?: () => Promise<string>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: not within ${timeoutMs}ms${last ? ` (last error: ${(last as Error).message})` : ""}${detail ? `\n${await detail()}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function writeAtomic(file: string, text: string): void {
  const tmpFile = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  fs.writeFileSync(tmpFile, text);
  fs.renameSync(tmpFile, file);
}

/** An HTTPS backend that requires a client certificate from `clientCa` and answers with the client's SANs. */
async function mtlsBackend(server: TestLeaf, clientCa: TestCa): Promise<{ port: number; stop(): Promise<void> }> {
  const srv = https.createServer(
    { cert: server.certPem, key: server.keyPem, ca: clientCa.certPem, requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      const peer = (req.socket as tls.TLSSocket).getPeerCertificate();
      res.writeHead(200, { "content-type": "text/plain", "x-backend": "mtls-backend" });
      res.end(`client ${peer.subjectaltname ?? "(none)"}`);
    },
  );
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  return { port: (srv.address() as AddressInfo).port, stop: () => new Promise((r) => srv.close(() => r())) };
}

/** A plain HTTP gateway server routing to an HTTPS backend; the gateway originates mutual TLS (DestinationRule credentialName). */
function egressYaml(gatewayPort: number, backendPort: number): string {
  return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: egress-gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: ${gatewayPort}, name: http-egress, protocol: HTTP}
      bind: 127.0.0.1
      hosts: [egress.example.com]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: egress-vs, namespace: istio-system}
spec:
  hosts: [egress.example.com]
  gateways: [egress-gw]
  http:
    - route: [{destination: {host: secure-backend.default.svc.cluster.local, port: {number: 443}}}]
---
apiVersion: v1
kind: Service
metadata: {name: secure-backend, namespace: default}
spec:
  clusterIP: 10.96.77.7
  ports: [{name: http, port: 443, targetPort: ${backendPort}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: secure-backend-1, namespace: default, labels: {kubernetes.io/service-name: secure-backend}}
addressType: IPv4
ports: [{name: http, port: ${backendPort}}]
endpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: secure-backend, namespace: default}
spec:
  host: secure-backend.default.svc.cluster.local
  trafficPolicy:
    tls: {mode: MUTUAL, credentialName: egress-cred, sni: backend.example.com, subjectAltNames: [backend.example.com]}
`;
}

function gatewayYaml(securePort: number, mtlsPort: number): string {
  return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: sds-gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: ${securePort}, name: https, protocol: HTTPS}
      bind: 127.0.0.1
      hosts: [${SECURE}]
      tls: {mode: SIMPLE, credentialName: gw-cred}
    - port: {number: ${mtlsPort}, name: https-mtls, protocol: HTTPS}
      bind: 127.0.0.1
      hosts: [${MTLS}]
      tls: {mode: MUTUAL, credentialName: mtls-cred}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: sds-vs, namespace: default}
spec:
  hosts: [${SECURE}, ${MTLS}]
  gateways: [istio-system/sds-gw]
  http:
    - route: [{destination: {host: bill-service.default.svc.cluster.local, subset: v1}}]
`;
}

/** `mini-pilot bootstrap` for the ingress gateway, as a user would run it. */
async function bootstrap(api: "sotw" | "delta", xdsPort: number, file: string): Promise<void> {
  const env = { ...process.env, POD_NAME: "istio-ingressgateway-5d9c7b8f6-zz9xk", POD_NAMESPACE: "istio-system", INSTANCE_IP: "127.0.0.1" };
  const args = [CLI, "bootstrap", "--type", "router", "--domain", "istio-system.svc.cluster.local", "--xds-address", `127.0.0.1:${xdsPort}`];
  args.push("--xds-api", api, "--admin-port", String(await freePort()), "--stats-port", String(await freePort()), "--readiness-port", "0");
  args.push("--bind-address", "127.0.0.1", "--labels", "app=istio-ingressgateway,istio=ingressgateway", "--out", file);
  const r = spawnSync(process.execPath, args, { env, encoding: "utf8" });
  assert.equal(r.status, 0, `mini-pilot bootstrap: ${r.stderr}`);
  assert.equal((JSON.parse(fs.readFileSync(file, "utf8")) as J).node.id, INGRESS);
}

interface Curl {
  code: number;
  stdout: string;
  stderr: string;
}

/** curl over HTTPS to `host:port` resolved to 127.0.0.1 (so SNI is `host`), trusting `caFile`. */
function curl(host: string, port: number, caFile: string, extra: string[] = []): Promise<Curl> {
  const args = ["-sS", "--max-time", "10", "--cacert", caFile, "--resolve", `${host}:${port}:127.0.0.1`, ...extra, `https://${host}:${port}/`];
  return new Promise((resolve) => {
    execFile("curl", args, { encoding: "utf8" }, (err, stdout, stderr) => {
      const exit = (err as { code?: unknown } | null)?.code;
      const code = err ? (typeof exit === "number" ? exit : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** `curl http://127.0.0.1:port/` with a Host header: "<status> <body>". */
function curlHttp(port: number, host: string): Promise<string> {
  return new Promise((resolve) => {
    execFile(
      "curl",
      ["-sS", "--max-time", "10", "-H", `host: ${host}`, "-w", "%{http_code}", "-o", "-", `http://127.0.0.1:${port}/`],
      { encoding: "utf8" },
      (_e, out) => {
        // The status code is appended after the body.
        resolve(`${out.slice(-3)} ${out.slice(0, -3)}`);
      },
    );
  });
}

/** The certificate Envoy presents for `servername` on `port` (its SHA-256 fingerprint). */
function presented(port: number, servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, servername, rejectUnauthorized: false }, () => {
      const fp = s.getPeerCertificate().fingerprint256;
      s.end();
      resolve(fp);
    });
    s.on("error", reject);
  });
}

const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;

/** One kept-open TLS connection speaking HTTP/1.1 keep-alive: a request on it resolves with the status line. */
class KeptConnection {
  private socket: tls.TLSSocket;
  private buffer = "";
  closed = false;

  constructor(port: number, host: string, ca: string) {
    this.socket = tls.connect({ host: "127.0.0.1", port, servername: host, ca });
    this.socket.setEncoding("utf8");
    this.socket.on("data", (d: string) => (this.buffer += d));
    this.socket.on("close", () => (this.closed = true));
    this.socket.on("error", () => (this.closed = true));
  }

  ready(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.once("secureConnect", () => resolve());
      this.socket.once("error", reject);
    });
  }

  async get(host: string): Promise<string> {
    this.buffer = "";
    this.socket.write(`GET / HTTP/1.1\r\nhost: ${host}\r\nconnection: keep-alive\r\n\r\n`);
    return waitFor("a response on the kept connection", 10_000, async () => {
      const end = this.buffer.indexOf("\r\n\r\n");
      if (end < 0) return undefined;
      const length = Number(/content-length: (\d+)/i.exec(this.buffer.slice(0, end))?.[1] ?? 0);
      return this.buffer.length >= end + 4 + length ? this.buffer.split("\r\n")[0] : undefined;
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

interface Responses {
  listeners: number;
  clusters: number;
  routes: number;
  endpoints: number;
  secrets: number;
}

/** Responses sent per type on the gateway's stream(s), from /debug/syncz. */
async function responseCounts(serve: ServeProcess): Promise<Responses> {
  const syncz = (await getJson(serve.httpPort, "/debug/syncz")) as J[];
  const out: Responses = { listeners: 0, clusters: 0, routes: 0, endpoints: 0, secrets: 0 };
  for (const s of syncz) {
    if (s.proxy !== INGRESS) continue;
    for (const [t, v] of Object.entries(s.types as Record<string, { responses: number }>)) out[t as keyof Responses] += v.responses;
  }
  return out;
}

const synczText = (serve: ServeProcess) => async () => JSON.stringify(await getJson(serve.httpPort, "/debug/syncz"), null, 1);

async function allSynced(serve: ServeProcess): Promise<true | undefined> {
  const syncz = (await getJson(serve.httpPort, "/debug/syncz")) as J[];
  const mine = syncz.filter((s) => s.proxy === INGRESS);
  if (mine.length === 0) return undefined;
  return mine.every((s) => Object.values(s.types as Record<string, { status: string }>).every((t) => t.status === "SYNCED")) ? true : undefined;
}

async function sds(t: TestContext, api: "sotw" | "delta"): Promise<void> {
  const bin = requireEnvoy(t);
  if (!bin) return;
  const b = await startBillBackends();
  t.after(() => b.stop());
  const [securePort, mtlsPort, egressPort] = [await freePort(), await freePort(), await freePort()];
  const dir = writeBillService(path.join(tmp, `served-${api}`), ["rules"], b.vars);
  const files = path.join(tmp, `pem-${api}`);
  fs.mkdirSync(files, { recursive: true });
  const pemFile = (name: string, text: string): string => {
    const f = path.join(files, name);
    fs.writeFileSync(f, text);
    return f;
  };

  const ca1: TestCa = await testCa("CN=gateway CA one");
  const ca2: TestCa = await testCa("CN=gateway CA two");
  const clientCa: TestCa = await testCa("CN=client CA");
  const leaf1: TestLeaf = await testLeaf(ca1, [SECURE]);
  const leaf2: TestLeaf = await testLeaf(ca2, [SECURE]);
  const mtlsLeaf: TestLeaf = await testLeaf(ca1, [MTLS]);
  const client: TestLeaf = await testLeaf(clientCa, ["client.example.com"]);
  const strangerCa: TestCa = await testCa("CN=someone else");
  const stranger: TestLeaf = await testLeaf(strangerCa, ["client.example.com"]);
  const [ca1File, ca2File] = [pemFile("ca1.pem", ca1.certPem), pemFile("ca2.pem", ca2.certPem)];
  const [clientCert, clientKey] = [pemFile("client.pem", client.certPem), pemFile("client-key.pem", client.keyPem)];
  const [strangerCert, strangerKey] = [pemFile("stranger.pem", stranger.certPem), pemFile("stranger-key.pem", stranger.keyPem)];

  fs.writeFileSync(path.join(dir, "sds-gateway.yaml"), gatewayYaml(securePort, mtlsPort));
  // Egress: the backend's certificate is from CA one; it wants client certificates from the client CA.
  const backend = await mtlsBackend(await testLeaf(ca1, ["backend.example.com"]), clientCa);
  t.after(() => backend.stop());
  const egressClient = await testLeaf(clientCa, ["spiffe://cluster.local/ns/istio-system/sa/egress"]);
  fs.writeFileSync(path.join(dir, "sds-egress.yaml"), egressYaml(egressPort, backend.port));
  fs.writeFileSync(
    path.join(dir, "sds-egress-secret.yaml"),
    secretYaml("istio-system", "egress-cred", "generic", { cert: egressClient.certPem, key: egressClient.keyPem, ca: ca1.certPem }),
  );
  const secretFile = path.join(dir, "sds-secret.yaml");
  fs.writeFileSync(secretFile, secretYaml("istio-system", "gw-cred", "tls", { cert: leaf1.certPem, key: leaf1.keyPem }));
  fs.writeFileSync(
    path.join(dir, "sds-mtls-secret.yaml"),
    secretYaml("istio-system", "mtls-cred", "generic", { cert: mtlsLeaf.certPem, key: mtlsLeaf.keyPem, ca: clientCa.certPem }),
  );

  const serve = await startServe(["--config-dir", dir, "--debounce-after", "20ms"]);
  t.after(() => serve.stop());
  const file = path.join(tmp, `bootstrap-${api}.json`);
  await bootstrap(api, serve.xdsPort, file);
  const envoy = startEnvoy(bin, file, { logDir: tmp });
  t.after(() => envoy.stop());
  await envoy.waitAdmin();

  // HTTPS with the Secret's certificate, checked by curl against CA one with SNI.
  const first = await waitFor("curl gets 200 over HTTPS from the gateway", 30_000, async () => {
    const r = await curl(SECURE, securePort, ca1File, ["-o", "/dev/null", "-w", "%{http_code}"]);
    return r.stdout === "200" ? r : undefined;
  });
  assert.equal(first.code, 0);
  assert.equal(await presented(securePort, SECURE), fingerprint(leaf1.certPem), "Envoy presents the Secret's certificate");
  await waitFor("the gateway's streams SYNCED", 45_000, () => allSynced(serve), synczText(serve));

  // A connection opened before the rotation must survive it.
  const kept = new KeptConnection(securePort, SECURE, ca1.certPem);
  t.after(() => kept.close());
  await kept.ready();
  assert.match(await kept.get(SECURE), /^HTTP\/1\.1 200/);

  const pid = envoy.child.pid;
  const before = await responseCounts(serve);
  const stats = async () => {
    const s = await envoy.stats();
    const n = (k: string) => Number(s.get(k) ?? 0);
    return { lds: n("listener_manager.lds.update_success"), cds: n("cluster_manager.cds.update_success") };
  };
  const statsBefore = await stats();

  // Rotate: the same Secret, now with a certificate from CA two (a new file replaces the old one).
  const rotatedAt = Date.now();
  writeAtomic(secretFile, secretYaml("istio-system", "gw-cred", "tls", { cert: leaf2.certPem, key: leaf2.keyPem }));
  await waitFor("Envoy presents the rotated certificate", 30_000, async () =>
    (await presented(securePort, SECURE)) === fingerprint(leaf2.certPem) ? true : undefined,
  );
  // Includes the folder watch, the 20 ms debounce and this loop's polling (every 100 ms).
  process.stderr.write(`envoy-sds (${api}): the rotated certificate was served ${Date.now() - rotatedAt} ms after the Secret file was written\n`);
  const rotated = await curl(SECURE, securePort, ca2File, ["-o", "/dev/null", "-w", "%{http_code}"]);
  assert.equal(rotated.stdout, "200", `curl trusting CA two after the rotation: ${rotated.stderr}`);
  const old = await curl(SECURE, securePort, ca1File);
  assert.notEqual(old.code, 0, "CA one no longer verifies the gateway");
  assert.match(await kept.get(SECURE), /^HTTP\/1\.1 200/, "the connection opened before the rotation still works");
  assert.equal(kept.closed, false);
  assert.equal(envoy.child.pid, pid);
  assert.equal(envoy.child.exitCode, null, "the same Envoy, never restarted");

  // Only SDS was pushed for the rotation.
  await waitFor("the gateway's streams SYNCED after the rotation", 45_000, () => allSynced(serve), synczText(serve));
  const after = await responseCounts(serve);
  assert.ok(after.secrets > before.secrets, `an SDS response went out: ${JSON.stringify({ before, after })}`);
  for (const k of ["listeners", "clusters", "routes", "endpoints"] as const) {
    assert.equal(after[k], before[k], `no ${k} response for a Secret change: ${JSON.stringify({ before, after })}`);
  }
  assert.deepEqual(await stats(), statsBefore, "Envoy counted no LDS or CDS update");

  // MUTUAL: no client certificate is refused; one from the Secret's CA is served; one from another CA is refused.
  const mtlsCa = pemFile("mtls-ca.pem", ca1.certPem);
  const noCert = await curl(MTLS, mtlsPort, mtlsCa);
  assert.notEqual(noCert.code, 0, `a client without a certificate is refused: ${noCert.stdout}`);
  const withCert = await curl(MTLS, mtlsPort, mtlsCa, ["--cert", clientCert, "--key", clientKey, "-o", "/dev/null", "-w", "%{http_code}"]);
  assert.equal(withCert.stdout, "200", `a client with a certificate from the Secret's CA is served: ${withCert.stderr}`);
  const wrongCa = await curl(MTLS, mtlsPort, mtlsCa, ["--cert", strangerCert, "--key", strangerKey]);
  assert.notEqual(wrongCa.code, 0, "a client certificate from another CA is refused");

  // Egress: plain HTTP in, mutual TLS out with the Secret's client certificate, the backend verified against its CA.
  const egress = await waitFor("the gateway originates mutual TLS to the backend", 30_000, async () => {
    const r = await curlHttp(egressPort, "egress.example.com");
    return r.startsWith("200 ") ? r : undefined;
  });
  assert.equal(egress, "200 client URI:spiffe://cluster.local/ns/istio-system/sa/egress");

  // No key material anywhere a person or a log collector can see; config_dump shows the key redacted.
  const dump = await (await fetch(`http://127.0.0.1:${serve.httpPort}/debug/config_dump?proxy=${encodeURIComponent(INGRESS)}`)).text();
  const configz = await (await fetch(`http://127.0.0.1:${serve.httpPort}/debug/configz`)).text();
  const secrets = [...readConfigDump(JSON.parse(dump)).types.secrets!.values()] as J[];
  assert.deepEqual(secrets.map((s) => s.name).sort(), [
    "kubernetes://egress-cred",
    "kubernetes://egress-cred-cacert",
    "kubernetes://gw-cred",
    "kubernetes://mtls-cred",
    "kubernetes://mtls-cred-cacert",
  ]);
  // As Envoy's own config_dump shows it: the key's bytes replaced by "[redacted]".
  const shownKey = secrets.find((s) => s.name === "kubernetes://gw-cred").tls_certificate.private_key;
  assert.equal(shownKey.inline_string ?? Buffer.from(String(shownKey.inline_bytes ?? ""), "base64").toString(), "[redacted]");
  const seen = [serve.logs.join("\n"), dump, configz, envoy.logTail(1000)].join("\n");
  for (const key of [leaf1.keyPem, leaf2.keyPem, mtlsLeaf.keyPem, egressClient.keyPem]) {
    for (const needle of keyNeedles(key)) assert.ok(!seen.includes(needle), "no private key bytes in logs, config_dump or configz");
  }
}

/** The ways a key could leak: its PEM body lines, its base64 as a Secret value. */
function keyNeedles(pem: string): string[] {
  const body = pem.split("\n").filter((l) => l && !l.startsWith("-----"));
  return [...body.filter((l) => l.length >= 40), Buffer.from(pem).toString("base64").slice(0, 60)];
}

test("SDS with a real Envoy gateway (SotW): HTTPS from a Secret, rotation with no restart and only SDS pushed, MUTUAL", { timeout: 180_000 }, (t) =>
  sds(t, "sotw"),
);
test("SDS with a real Envoy gateway (delta): HTTPS from a Secret, rotation with no restart and only SDS pushed, MUTUAL", { timeout: 180_000 }, (t) =>
  sds(t, "delta"),
);
