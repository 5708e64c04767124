/**
 * Mutual TLS between two real sidecars, every part real: `mini-pilot serve`
 * with its CA and secure port, two pods (network namespaces with istio-init's
 * capture rules, linked to each other by their own veth), each with
 * `mini-pilot agent` making its key, getting a certificate over the CSR
 * service (token-file authentication) and serving it to its Envoy over SDS.
 *
 *   sleep pod (client app as `nobody`) ─iptables→ Envoy ─mTLS→ ─iptables→ Envoy ─→ httpbin pod's app
 *
 * The pods reach each other over their own veth, and the control plane (on
 * the client pod's host-side address) through their host links.
 *
 * Shown: the hop is mTLS (Envoy's ssl.handshake counters on both sides, the
 * app sees the caller's SPIFFE id in x-forwarded-client-cert, the server
 * presents its own SPIFFE id); STRICT closes a plaintext client's connection,
 * PERMISSIVE serves it; with a short certificate lifetime the certificates
 * rotate under load with no failed request. Skipped, loudly, without
 * namespaces, iptables or Envoy (and failed in CI).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { ChildProcess, spawnSync } from "node:child_process";
import { findEnvoy, requireEnvoy } from "../support/envoy";
import { CLI, startServe } from "../support/serve-process";
import { APP_UID, PodNetns, createPodNetns, linkPods, until, netnsUnavailable, podReadableTmp, writeClientScript } from "./netns";

const HTTPBIN_VIP = "192.168.77.20";
const APP_PORT = 8080;
const TLS_MODE = "security.istio.io/tlsMode";

interface Pod {
  ns: PodNetns;
  /** The pod's address on the pod-to-pod link: what the mesh knows it by. */
  meshIp: string;
  name: string;
  sa: string;
  app: string;
}

function meshYaml(pods: Pod[], mode: "STRICT" | "PERMISSIVE"): string {
  const docs: string[] = [];
  for (const p of pods) {
    docs.push(`apiVersion: v1
kind: Pod
metadata: {name: ${p.name}, namespace: default, labels: {app: ${p.app}, ${TLS_MODE}: istio}}
spec: {serviceAccountName: ${p.sa}}
status: {phase: Running, podIP: ${p.meshIp}}`);
  }
  const server = pods[1]!;
  docs.push(`apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: default}
spec:
  clusterIP: ${HTTPBIN_VIP}
  selector: {app: httpbin}
  ports: [{name: http, port: 8000, targetPort: ${APP_PORT}}]`);
  docs.push(`apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: httpbin-1, namespace: default, labels: {kubernetes.io/service-name: httpbin}}
addressType: IPv4
ports: [{name: http, port: ${APP_PORT}}]
endpoints: [{addresses: [${server.meshIp}], targetRef: {kind: Pod, name: ${server.name}}}]`);
  docs.push(`apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: ${mode}}}`);
  return docs.join("\n---\n") + "\n";
}

/** The app in the server pod: answers 200 with the caller's x-forwarded-client-cert. */
function startApp(pod: PodNetns, dir: string): ChildProcess {
  const file = path.join(dir, "httpbin-app.js");
  fs.writeFileSync(
    file,
    `require("node:http").createServer((req, res) => {
  res.setHeader("x-backend", "httpbin");
  res.end(JSON.stringify({ xfcc: req.headers["x-forwarded-client-cert"] || null }));
}).listen(${APP_PORT}, "0.0.0.0", () => process.stdout.write("listening\\n"));`,
  );
  return pod.spawn(process.execPath, [file]);
}

async function envoyStat(pod: PodNetns, name: string): Promise<number> {
  const out = await pod.exec("curl", [
    "-s",
    "--max-time",
    "2",
    `http://127.0.0.1:15000/stats?filter=${encodeURIComponent(`^${name.replace(/[.|]/g, "\\$&")}$`)}`,
  ]);
  const m = /: (\d+)\s*$/m.exec(out);
  return m ? Number(m[1]) : 0;
}

/** The serial numbers of the workload certificates the pod's Envoy holds now. */
async function certSerials(pod: PodNetns): Promise<string[]> {
  const certs = JSON.parse(await pod.exec("curl", ["-s", "--max-time", "2", "http://127.0.0.1:15000/certs"])) as {
    certificates: { cert_chain?: { serial_number: string; subject_alt_names?: { uri?: string }[] }[] }[];
  };
  return certs.certificates.flatMap((c) => (c.cert_chain ?? []).filter((x) => x.subject_alt_names?.some((s) => s.uri)).map((x) => x.serial_number));
}

test(
  "two sidecars with agent certificates: mTLS between them, STRICT refuses plaintext, PERMISSIVE serves both, rotation under load",
  { timeout: 240_000 },
  async (t) => {
    if (!findEnvoy()) return void requireEnvoy(t);
    const why = netnsUnavailable();
    if (why) {
      process.stderr.write(`\n*** ${t.name}: SKIPPED: ${why} ***\n\n`);
      if (process.env.CI) assert.fail(why);
      return t.skip(why);
    }
    const stack: (() => unknown)[] = [];
    t.after(async () => {
      for (const fn of stack.reverse()) await fn();
    });
    const tmp = podReadableTmp("mini-pilot-e2e-mtls-");
    stack.push(() => fs.rmSync(tmp, { recursive: true, force: true }));

    const client = createPodNetns();
    stack.push(() => client.destroy());
    const server = createPodNetns();
    stack.push(() => server.destroy());
    const link = linkPods(client, server, { net: "10.214", prefix: "mp" });
    stack.push(() => link.destroy());
    const pods: Pod[] = [
      { ns: client, meshIp: link.aIp, name: "sleep-5d8f7c9b6-aaaaa", sa: "sleep", app: "sleep" },
      { ns: server, meshIp: link.bIp, name: "httpbin-7b9c8d6f5-bbbbb", sa: "httpbin", app: "httpbin" },
    ];

    // The control plane on the client pod's host side; the server pod reaches that host address through its own link.
    const config = path.join(tmp, "config");
    fs.mkdirSync(config);
    fs.writeFileSync(path.join(config, "mesh.yaml"), meshYaml(pods, "STRICT"));
    const tokens = pods.map((p) => ({ pod: p, token: `token-${p.sa}-${randomBytes(12).toString("hex")}` }));
    fs.writeFileSync(path.join(tmp, "tokens"), tokens.map(({ pod, token }) => `default/${pod.sa} ${token}\n`).join(""), { mode: 0o600 });
    const rootFile = path.join(tmp, "root-cert.pem");
    const serve = await startServe([
      "--config-dir",
      config,
      "--xds-address",
      `${client.hostIp}:0`,
      "--secure-xds-address",
      `${client.hostIp}:0`,
      "--ca-dir",
      path.join(tmp, "ca"),
      "--root-cert-file",
      rootFile,
      "--token-file",
      path.join(tmp, "tokens"),
    ]);
    stack.push(() => serve.stop());
    const securePort = serve.securePort;
    assert.ok(securePort, "serve has a secure port");

    // One agent per pod, as root (the capture rules exempt UID 0, Envoy's here), with a 6s certificate.
    for (const { pod, token } of tokens) {
      const dir = path.join(tmp, pod.app);
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, "token"), token, { mode: 0o600 });
      const args = [
        CLI,
        "agent",
        "--pod-name",
        pod.name,
        "--namespace",
        "default",
        "--ip",
        pod.meshIp,
        "--service-account",
        pod.sa,
        "--labels",
        `app=${pod.app},${TLS_MODE}=istio`,
        "--xds-address",
        `${client.hostIp}:${serve.xdsPort}`,
        "--ca-address",
        `${client.hostIp}:${securePort}`,
        "--ca-root-cert",
        rootFile,
        "--token-file",
        path.join(dir, "token"),
        "--cert-ttl",
        "6s",
        "--sds-socket",
        path.join(dir, "sds", "socket"),
        "--out",
        path.join(dir, "envoy-rev0.json"),
        "--envoy",
        findEnvoy()!,
        "--log-level",
        "warning",
      ];
      let out = "";
      const agent = pod.ns.spawn(process.execPath, args);
      agent.stdout!.on("data", (d: Buffer) => (out += d.toString()));
      agent.stderr!.on("data", (d: Buffer) => (out += d.toString()));
      const exited = new Promise((r) => agent.once("exit", r));
      stack.push(async () => {
        if (agent.exitCode === null) agent.kill("SIGTERM");
        await exited;
      });
      await until(`${pod.app}'s Envoy with its certificate and listeners:\n${out}`, async () => {
        assert.equal(agent.exitCode, null, `the ${pod.app} agent exited:\n${out}`);
        const listeners = await pod.ns.exec("curl", ["-s", "--max-time", "2", "http://127.0.0.1:15000/listeners"]);
        return listeners.includes("virtualInbound") && (await certSerials(pod.ns)).length > 0;
      });
    }

    const app = startApp(server, tmp);
    stack.push(() => app.kill());
    await new Promise<void>((resolve) => app.stdout!.once("data", () => resolve()));
    const clientScript = writeClientScript(tmp);
    const call = async (n: number, concurrency: number) =>
      JSON.parse(
        await client.exec("node", [clientScript, `http://${HTTPBIN_VIP}:8000/get`, String(n), String(concurrency), "{}"], { uid: APP_UID, timeoutMs: 120_000 }),
      ) as {
        counts: Record<string, number>;
      };

    // 1. In-mesh traffic is mutual TLS, with SPIFFE identities on both ends.
    await until("the client's cluster to httpbin", async () => (await call(1, 1)).counts.httpbin === 1);
    const first = await call(50, 4);
    assert.deepEqual(first.counts, { httpbin: 50 });
    const cluster = `cluster.outbound|8000||httpbin.default.svc.cluster.local`;
    const clientHandshakes = await envoyStat(client, `${cluster}.ssl.handshake`);
    const serverHandshakes = await envoyStat(server, "listener.0.0.0.0_15006.ssl.handshake");
    assert.ok(clientHandshakes > 0, "the client's Envoy made TLS handshakes to httpbin");
    assert.ok(serverHandshakes > 0, "the server's Envoy accepted TLS handshakes on virtualInbound");
    assert.equal(await envoyStat(client, `${cluster}.ssl.fail_verify_san`), 0);
    const body = JSON.parse(await client.exec("curl", ["-s", "--max-time", "5", `http://${HTTPBIN_VIP}:8000/get`], { uid: APP_UID })) as { xfcc: string };
    assert.match(body.xfcc, /URI=spiffe:\/\/cluster\.local\/ns\/default\/sa\/sleep/, "the app sees the caller's SPIFFE id");
    assert.match(body.xfcc, /By=spiffe:\/\/cluster\.local\/ns\/default\/sa\/httpbin/, "and its own");
    // The certificate the server presents (read from outside the mesh, before the client certificate is asked for).
    const presented = spawnSync("openssl", ["s_client", "-connect", `${server.podIp}:${APP_PORT}`, "-alpn", "istio", "-showcerts"], {
      input: "",
      encoding: "utf8",
      timeout: 10_000,
    });
    const leaf = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(presented.stdout)?.[0];
    assert.ok(leaf, `openssl s_client saw no certificate:\n${presented.stdout}${presented.stderr}`);
    const text = spawnSync("openssl", ["x509", "-noout", "-ext", "subjectAltName"], { input: leaf, encoding: "utf8" }).stdout;
    assert.match(text, /URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/httpbin/);

    // 2. STRICT: a plaintext client (the host, outside the mesh) is closed by the server's sidecar.
    const plain = () =>
      spawnSync("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "3", `http://${server.podIp}:${APP_PORT}/get`], { encoding: "utf8" })
        .stdout;
    assert.equal(plain(), "000", "STRICT: the plaintext request gets no response");
    // 3. PERMISSIVE: the same plaintext client gets through, and the mesh client still speaks mTLS.
    fs.writeFileSync(path.join(config, "mesh.yaml"), meshYaml(pods, "PERMISSIVE"));
    await until("PERMISSIVE to reach the server's Envoy", async () => plain() === "200");
    const before = await envoyStat(server, "listener.0.0.0.0_15006.ssl.handshake");
    const again = await call(20, 1);
    assert.deepEqual(again.counts, { httpbin: 20 });
    assert.ok((await envoyStat(server, "listener.0.0.0.0_15006.ssl.handshake")) >= before, "mesh traffic is still mTLS");
    const stillMtls = JSON.parse(await client.exec("curl", ["-s", "--max-time", "5", `http://${HTTPBIN_VIP}:8000/get`], { uid: APP_UID })) as {
      xfcc: string | null;
    };
    assert.match(stillMtls.xfcc ?? "", /URI=spiffe:\/\/cluster\.local\/ns\/default\/sa\/sleep/);

    // 4. Rotation under load: 6s certificates renewed at half life; ~20s of requests on fresh and kept-alive connections.
    // Every certificate either Envoy holds, sampled while the load runs: each new serial is one renewal pushed over SDS.
    const initial = { client: new Set(await certSerials(client)), server: new Set(await certSerials(server)) };
    const seen = { client: new Set(initial.client), server: new Set(initial.server) };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        for (const s of await certSerials(client).catch(() => [])) seen.client.add(s);
        for (const s of await certSerials(server).catch(() => [])) seen.server.add(s);
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    const loadStarted = Date.now();
    const load: Record<string, number> = {};
    let requests = 0;
    while (Date.now() - loadStarted < 15_000) {
      // Batches open new connections (new handshakes with whatever certificate is current); each batch keeps its own alive.
      for (const [k, v] of Object.entries((await call(500, 8)).counts)) load[k] = (load[k] ?? 0) + v;
      requests += 500;
    }
    const loadMs = Date.now() - loadStarted;
    sampling = false;
    await sampler;
    assert.deepEqual(load, { httpbin: requests }, `no failed request during rotation: ${JSON.stringify(load)}`);
    const renewed = { client: seen.client.size - initial.client.size, server: seen.server.size - initial.server.size };
    // 6s certificates renewed at half life: about five renewals each in 15s; at least two each leaves room for a slow machine.
    assert.ok(renewed.client >= 2 && renewed.server >= 2, `both workload certificates were renewed under load: ${JSON.stringify(renewed)} in ${loadMs}ms`);
    const rotated = renewed.client + renewed.server;
    process.stderr.write(
      `mTLS e2e: ${clientHandshakes} client / ${serverHandshakes} server handshakes for the first 50 requests; ` +
        `${requests} requests in ${loadMs}ms with ${rotated} certificate renewals, 0 failed\n`,
    );
  },
);
