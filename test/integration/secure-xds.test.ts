/**
 * The secure xDS port of `mini-pilot serve`, through a real child process and
 * real TLS on 127.0.0.1: Istio's CreateCertificate with folder-mode tokens,
 * ADS authenticated by token or by the workload certificate it issued, and
 * the refusals (wrong identity, wrong namespace, bad token, no credentials,
 * malformed CSR, plaintext port, corrupt CA folder), with no token or key in
 * any log.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tls from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { CLI, ServeProcess, startServe } from "../support/serve-process";
import { CallError, createCertificate, secureClient } from "../support/secure-xds";
import { TestSotwStream, connect } from "../support/ads-client";
import { workloadCsr } from "../../src/security/workload-csr";

const LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener";
const TOKEN = "tok-default-front-tomcat-0123456789";
const OTHER_TOKEN = "tok-other-ns-app-0123456789abcdef";
const ID = "spiffe://cluster.local/ns/default/sa/front-tomcat";
const NODE = "sidecar~172.7.120.13~front-tomcat-6b8d7c5f4-9zq7w.default~default.svc.cluster.local";
const FOREIGN_NODE = "sidecar~10.9.9.9~app-1.other~other.svc.cluster.local";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mini-pilot-secure-xds-"));
let serve: ServeProcess;
let rootPem: string;
after(async () => {
  await serve?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

before(async () => {
  fs.writeFileSync(path.join(tmp, "tokens"), `# folder-mode grants\ndefault/front-tomcat ${TOKEN}\nother/app ${OTHER_TOKEN}\n`, { mode: 0o600 });
  serve = await startServe([
    "--config-dir",
    "examples/bill-service",
    "--ca-dir",
    path.join(tmp, "ca"),
    "--root-cert-file",
    path.join(tmp, "root-cert.pem"),
    "--token-file",
    path.join(tmp, "tokens"),
  ]);
  rootPem = fs.readFileSync(path.join(tmp, "root-cert.pem"), "utf8");
});

const refusal = (p: Promise<unknown>): Promise<CallError> =>
  p.then(
    () => assert.fail("the call succeeded"),
    (e: CallError) => e,
  );

test("CreateCertificate: a token for default/front-tomcat gets a certificate for exactly that SPIFFE id, chained to the published root", async () => {
  const client = secureClient(serve.securePort!, { rootPem, token: TOKEN });
  const { csrPem } = await workloadCsr(ID);
  const chain = await createCertificate(client, csrPem, 3600);
  client.close();
  assert.ok(chain.length >= 2);
  const leaf = new X509Certificate(chain[0]!);
  assert.equal(leaf.subjectAltName, `URI:${ID}`);
  assert.equal(chain[chain.length - 1]!.trim(), rootPem.trim(), "the last entry is the root (pilot-agent takes it as ROOTCA)");
  assert.ok(leaf.verify(new X509Certificate(rootPem).publicKey));
  const hours = (new Date(leaf.validTo).getTime() - Date.now()) / 3600_000;
  assert.ok(hours > 0.9 && hours <= 1.01, `validity_duration 3600s honoured (${hours}h)`);
});

test("CreateCertificate refusals: another identity, a malformed CSR, a wrong token, no credentials, the plaintext port", async () => {
  const client = secureClient(serve.securePort!, { rootPem, token: TOKEN });
  const foreign = await workloadCsr("spiffe://cluster.local/ns/other/sa/app");
  const denied = await refusal(createCertificate(client, foreign.csrPem));
  assert.equal(denied.code, grpc.status.PERMISSION_DENIED);
  assert.match(
    denied.details,
    /asks for URI:spiffe:\/\/cluster\.local\/ns\/other\/sa\/app, but the caller is allowed only URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/front-tomcat/,
  );
  const garbage = await refusal(createCertificate(client, "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"));
  assert.equal(garbage.code, grpc.status.INVALID_ARGUMENT);
  assert.match(garbage.details, /does not parse as PKCS#10/);
  const empty = await refusal(createCertificate(client, ""));
  assert.equal(empty.code, grpc.status.INVALID_ARGUMENT);
  client.close();

  const own = await workloadCsr(ID);
  const badToken = secureClient(serve.securePort!, { rootPem, token: "not-a-granted-token-xxxxxxxx" });
  const unauth = await refusal(createCertificate(badToken, own.csrPem));
  badToken.close();
  assert.equal(unauth.code, grpc.status.UNAUTHENTICATED);
  assert.match(unauth.details, /bearer token is not in the token file/);
  assert.doesNotMatch(unauth.details, /not-a-granted-token/);

  const anonymous = secureClient(serve.securePort!, { rootPem });
  const none = await refusal(createCertificate(anonymous, own.csrPem));
  anonymous.close();
  assert.equal(none.code, grpc.status.UNAUTHENTICATED);
  assert.match(none.details, /no credentials/);

  const plain = connect(serve.xdsPort);
  const onPlain = await refusal(createCertificate(plain, own.csrPem));
  plain.close();
  assert.equal(onPlain.code, grpc.status.UNAUTHENTICATED);
  assert.match(onPlain.details, /TLS port only/);
});

test("secure ADS: a token for namespace default gets its proxy's config; a node in another namespace is PERMISSION_DENIED", async () => {
  const client = secureClient(serve.securePort!, { rootPem, token: TOKEN });
  const own = new TestSotwStream(client, NODE, { NAMESPACE: "default", SERVICE_ACCOUNT: "front-tomcat" });
  own.send({ typeUrl: LISTENER });
  const r = await own.next(5000);
  assert.equal(r.typeUrl, LISTENER);
  assert.ok(r.resources.length > 0);
  own.close();

  const foreign = new TestSotwStream(client, FOREIGN_NODE, { NAMESPACE: "other" });
  foreign.send({ typeUrl: LISTENER });
  const end = await foreign.inbox.whenEnded(5000);
  assert.equal(end.code, grpc.status.PERMISSION_DENIED);
  assert.match(
    end.details,
    /spiffe:\/\/cluster\.local\/ns\/default\/sa\/front-tomcat \(from its token\) may only get config for proxies in namespace "default"; node "sidecar~10\.9\.9\.9~app-1\.other~other\.svc\.cluster\.local" is in "other"/,
  );

  const wrongSa = new TestSotwStream(client, NODE, { SERVICE_ACCOUNT: "bill-service" });
  wrongSa.send({ typeUrl: LISTENER });
  const saEnd = await wrongSa.inbox.whenEnded(5000);
  assert.equal(saEnd.code, grpc.status.PERMISSION_DENIED);
  assert.match(saEnd.details, /service account "front-tomcat"; node .* says SERVICE_ACCOUNT "bill-service"/);
  client.close();

  const badToken = secureClient(serve.securePort!, { rootPem, token: "forged-token-forged-token-forged" });
  const forged = new TestSotwStream(badToken, NODE);
  forged.send({ typeUrl: LISTENER });
  const forgedEnd = await forged.inbox.whenEnded(5000);
  badToken.close();
  assert.equal(forgedEnd.code, grpc.status.UNAUTHENTICATED);
});

test("secure ADS with the issued workload certificate as the client certificate: identity from its SPIFFE id", async () => {
  const tokenClient = secureClient(serve.securePort!, { rootPem, token: TOKEN });
  const { csrPem, keyPem } = await workloadCsr(ID);
  const chain = await createCertificate(tokenClient, csrPem);
  tokenClient.close();
  const certClient = secureClient(serve.securePort!, { rootPem, certChainPem: chain.slice(0, -1).join(""), keyPem });
  const own = new TestSotwStream(certClient, NODE);
  own.send({ typeUrl: LISTENER });
  assert.ok((await own.next(5000)).resources.length > 0);
  own.close();
  const foreign = new TestSotwStream(certClient, FOREIGN_NODE);
  foreign.send({ typeUrl: LISTENER });
  const end = await foreign.inbox.whenEnded(5000);
  assert.equal(end.code, grpc.status.PERMISSION_DENIED);
  assert.match(end.details, /\(from its certificate\) may only get config for proxies in namespace "default"/);
  certClient.close();
});

test("no token and no private key in serve's logs", () => {
  const text = serve.logs.join("\n");
  for (const secret of [TOKEN, OTHER_TOKEN, "not-a-granted-token", "forged-token"]) assert.ok(!text.includes(secret), `a token leaked into the logs`);
  assert.doesNotMatch(text, /PRIVATE KEY/);
  assert.match(text, /workload certificate issued/);
});

test("a corrupt CA folder stops serve with the file and the reason; the folder is left as it was", () => {
  const ca = path.join(tmp, "corrupt-ca");
  fs.mkdirSync(ca);
  for (const f of ["ca-cert.pem", "root-cert.pem", "cert-chain.pem"]) fs.copyFileSync(path.join(tmp, "ca", f), path.join(ca, f));
  fs.writeFileSync(path.join(ca, "ca-key.pem"), "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n", { mode: 0o600 });
  const r = spawnSync(
    process.execPath,
    [CLI, "serve", "--config-dir", "examples/bill-service", "--xds-address", "127.0.0.1:0", "--http-address", "127.0.0.1:0", "--ca-dir", ca],
    { encoding: "utf8", timeout: 30_000 },
  );
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /--ca-dir: CA folder .*corrupt-ca.*ca-key\.pem/);
  assert.doesNotMatch(r.stderr, /not a key|BEGIN PRIVATE KEY/);
  assert.match(fs.readFileSync(path.join(ca, "ca-key.pem"), "utf8"), /not a key/, "never replaced");
});

test("the agent with a token the control plane rejects: a clear, repeated reason, no token in its output, SIGTERM ends it", async () => {
  const tokenFile = path.join(tmp, "wrong-token");
  fs.writeFileSync(tokenFile, "wrong-token-wrong-token-wrong", { mode: 0o600 });
  const child = spawn(
    process.execPath,
    [
      CLI,
      "agent",
      ...["--pod-name", "front-tomcat-1", "--namespace", "default", "--ip", "10.0.0.9", "--service-account", "front-tomcat"],
      ...["--ca-address", `127.0.0.1:${serve.securePort}`, "--ca-root-cert", path.join(tmp, "root-cert.pem"), "--token-file", tokenFile],
      ...["--sds-socket", path.join(tmp, "agent-sds", "socket"), "--out", path.join(tmp, "agent-envoy.json"), "--envoy", "/bin/true"],
    ],
    { env: { PATH: process.env.PATH ?? "" }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 15_000;
  while ((out.match(/cannot get a workload certificate/g) ?? []).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  child.kill("SIGTERM");
  await exited;
  assert.match(out, /cannot get a workload certificate: 127\.0\.0\.1:\d+: the bearer token is not in the token file .*; retrying in 1s/);
  assert.match(out, /retrying in 2s/);
  assert.doesNotMatch(out, /wrong-token/);
  assert.doesNotMatch(out, /PRIVATE KEY/);
  assert.doesNotMatch(out, /envoy started/, "Envoy does not start without a certificate");
});

test("the secure port's certificate is re-issued at half life; open streams keep going", async () => {
  const dir = fs.mkdtempSync(path.join(tmp, "short-"));
  const short = await startServe([
    "--config-dir",
    "examples/bill-service",
    "--ca-dir",
    path.join(dir, "ca"),
    "--root-cert-file",
    path.join(dir, "root.pem"),
    "--token-file",
    path.join(tmp, "tokens"),
    "--server-cert-ttl",
    "10s",
  ]);
  try {
    const root = fs.readFileSync(path.join(dir, "root.pem"), "utf8");
    const serial = () =>
      new Promise<string>((resolve, reject) => {
        const s = tls.connect({ host: "127.0.0.1", port: short.securePort!, servername: "istiod.istio-system.svc", ca: root, ALPNProtocols: ["h2"] }, () => {
          const sn = s.getPeerCertificate().serialNumber;
          s.destroy();
          resolve(sn);
        });
        s.on("error", reject);
      });
    const client = secureClient(short.securePort!, { rootPem: root, token: TOKEN });
    const stream = new TestSotwStream(client, NODE);
    stream.send({ typeUrl: LISTENER });
    await stream.next(5000);
    const first = await serial();
    await new Promise((r) => setTimeout(r, 6500));
    const second = await serial();
    assert.notEqual(second, first, "a new certificate after half of 10s");
    assert.equal(stream.inbox.ended, undefined, "the stream opened under the old certificate is still open");
    stream.close();
    client.close();
    assert.equal(short.logs.filter((l) => /secure xDS server certificate issued/.test(l)).length >= 2, true);
  } finally {
    await short.stop();
  }
});

test("CSDS is refused on the secure port (it shows every proxy's config) and answered on the plaintext one", async () => {
  const fetchStatus = (client: grpc.Client): Promise<unknown> =>
    new Promise((resolve, reject) =>
      client.makeUnaryRequest(
        "/envoy.service.status.v3.ClientStatusDiscoveryService/FetchClientStatus",
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.alloc(0),
        new grpc.Metadata(),
        { deadline: Date.now() + 15_000 },
        (err, value) => (err ? reject({ code: err.code, details: err.details } as CallError) : resolve(value)),
      ),
    );
  const secure = secureClient(serve.securePort!, { rootPem, token: TOKEN });
  const refused = await refusal(fetchStatus(secure));
  secure.close();
  assert.equal(refused.code, grpc.status.PERMISSION_DENIED);
  assert.match(refused.details, /not served on the secure xDS port/);
  const plain = new grpc.Client(`127.0.0.1:${serve.xdsPort}`, grpc.credentials.createInsecure());
  await fetchStatus(plain);
  plain.close();
});
