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
import * as fs from "node:fs";
import * as path from "node:path";
import { type ChildProcess, spawnSync } from "node:child_process";
import { findEnvoy, requireEnvoy } from "../support/envoy";
import { APP_UID, type PodNetns, until, netnsUnavailable, podReadableTmp, writeClientScript } from "./netns";
import { type MeshPod, TLS_MODE, startAgentMesh } from "./agent-mesh";

const HTTPBIN_VIP = "192.168.77.20";
const APP_PORT = 8080;

function meshYaml(pods: MeshPod[], mode: "STRICT" | "PERMISSIVE"): string {
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

    const { client, server, pods, config } = await startAgentMesh((fn) => stack.push(fn), {
      tmp,
      link: { net: "10.214", prefix: "mp" },
      meshYaml: (pods) => meshYaml(pods, "STRICT"),
      // A 6s certificate, so that it rotates during the test.
      agentArgs: ["--cert-ttl", "6s"],
      ready: async (pod) => (await certSerials(pod.ns)).length > 0,
    });

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
