/**
 * The whole pilot-agent flow with real parts: `mini-pilot serve` (CA, secure
 * port, folder-mode token) and `mini-pilot agent` running a real Envoy. The
 * agent makes its key, gets a certificate with its token over TLS, serves
 * `default`/`ROOTCA` to Envoy over SDS on a Unix socket, and Envoy's own
 * xds-grpc cluster connects to the secure port with that certificate and gets
 * its config. A 20 s TTL is renewed at half life and the new certificate shows
 * in Envoy's /certs without Envoy reconnecting to the control plane.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CLI, ServeProcess, startServe } from "../support/serve-process";
import { freePort, httpGet, nextBaseId, parseStatsJson, requireEnvoy } from "../support/envoy";

const TOKEN = "agent-e2e-token-0123456789abcdef";
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mini-pilot-agent-sds-"));
let serve: ServeProcess | undefined;
let agent: ChildProcess | undefined;
after(async () => {
  agent?.kill("SIGTERM");
  await serve?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

interface CertView {
  serial: string;
  uri: string;
  expiration: string;
}

async function envoyCert(admin: number): Promise<CertView | undefined> {
  const r = await httpGet(`http://127.0.0.1:${admin}/certs`).catch(() => undefined);
  if (!r || r.status !== 200) return undefined;
  const certs = (
    JSON.parse(r.body) as { certificates: { cert_chain?: { serial_number: string; expiration_time: string; subject_alt_names: { uri?: string }[] }[] }[] }
  ).certificates;
  for (const c of certs) {
    const leaf = c.cert_chain?.[0];
    const uri = leaf?.subject_alt_names.find((s) => s.uri)?.uri;
    if (leaf && uri) return { serial: leaf.serial_number, uri, expiration: leaf.expiration_time };
  }
  return undefined;
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, logs: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`${what} within ${timeoutMs}ms; agent log:\n${logs()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test("agent → CSR with token → SDS default/ROOTCA → real Envoy on the TLS xDS port; 20s TTL rotates into Envoy", { timeout: 90_000 }, async (t) => {
  const bin = requireEnvoy(t);
  if (!bin) return;
  fs.writeFileSync(path.join(tmp, "tokens"), `default/front-tomcat ${TOKEN}\n`, { mode: 0o600 });
  fs.writeFileSync(path.join(tmp, "istio-token"), TOKEN, { mode: 0o600 });
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
  const secure = `127.0.0.1:${serve.securePort}`;
  const [admin, stats] = [await freePort(), await freePort()];
  let log = "";
  agent = spawn(
    process.execPath,
    [
      CLI,
      "agent",
      "--pod-name",
      "front-tomcat-6b8d7c5f4-9zq7w",
      "--namespace",
      "default",
      "--ip",
      "172.7.120.13",
      "--service-account",
      "front-tomcat",
      "--xds-address",
      secure,
      "--xds-tls",
      "--ca-root-cert",
      path.join(tmp, "root-cert.pem"),
      "--token-file",
      path.join(tmp, "istio-token"),
      "--sds-socket",
      path.join(tmp, "sds", "socket"),
      "--cert-ttl",
      "20s",
      "--out",
      path.join(tmp, "envoy-rev0.json"),
      "--admin-port",
      String(admin),
      "--stats-port",
      String(stats),
      "--readiness-port",
      "0",
      "--bind-address",
      "127.0.0.1",
      "--envoy",
      bin,
      `--envoy-arg=--base-id`,
      `--envoy-arg=${nextBaseId()}`,
    ],
    { env: { PATH: process.env.PATH ?? "", CA_ADDR: secure }, stdio: ["ignore", "ignore", "pipe"] },
  );
  agent.stderr!.on("data", (d: Buffer) => (log += d.toString()));
  const logs = () => log;

  // 1. Envoy holds the workload certificate from SDS `default` (and the root from ROOTCA).
  const first = await until("Envoy shows the workload certificate", 30_000, () => envoyCert(admin), logs);
  assert.equal(first.uri, "spiffe://cluster.local/ns/default/sa/front-tomcat");
  const bootstrap = JSON.parse(fs.readFileSync(path.join(tmp, "envoy-rev0.json"), "utf8"));
  const clusters = bootstrap.static_resources.clusters as { name: string; load_assignment?: unknown; transport_socket?: unknown }[];
  assert.deepEqual(clusters.find((c) => c.name === "sds-grpc")?.load_assignment, {
    cluster_name: "sds-grpc",
    endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: path.join(tmp, "sds", "socket") } } } }] }],
  });
  assert.match(JSON.stringify(clusters.find((c) => c.name === "xds-grpc")?.transport_socket), /"tls_certificate_sds_secret_configs":\[\{"name":"default"/);

  // 2. Envoy's ADS runs over TLS to the secure port, authenticated by that certificate, and got its config.
  const statsNow = async () => parseStatsJson((await httpGet(`http://127.0.0.1:${admin}/stats?format=json`)).body);
  const s = await until(
    "Envoy's LDS over the TLS port",
    20_000,
    async () => {
      const m = await statsNow();
      return Number(m.get("listener_manager.lds.update_success") ?? 0) >= 1 && Number(m.get("cluster.xds-grpc.ssl.handshake") ?? 0) >= 1 ? m : undefined;
    },
    logs,
  );
  assert.equal(s.get("control_plane.connected_state"), 1);
  assert.ok(Number(s.get("listener_manager.total_listeners_active")) >= 2, "listeners from mini-pilot are active");
  assert.equal(s.get("sds.default.control_plane.connected_state"), 1);
  const handshakes = Number(s.get("cluster.xds-grpc.upstream_cx_total"));

  // 3. Rotation at half of a 20 s life: a new serial in Envoy, pushed on the open SDS stream.
  const renewedAt = { t: 0 };
  const second = await until(
    "a renewed certificate in Envoy",
    30_000,
    async () => {
      if (!renewedAt.t && /workload certificate renewed/.test(log)) renewedAt.t = Date.now();
      const c = await envoyCert(admin);
      return c && c.serial !== first.serial ? c : undefined;
    },
    logs,
  );
  const seenAt = Date.now();
  assert.equal(second.uri, first.uri);
  assert.ok(new Date(second.expiration) > new Date(first.expiration));
  process.stderr.write(`rotation: agent log "renewed" → new serial in Envoy /certs within ${renewedAt.t ? seenAt - renewedAt.t : "?"}ms (200ms polling)\n`);
  const after2 = await statsNow();
  assert.equal(Number(after2.get("cluster.xds-grpc.upstream_cx_total")), handshakes, "Envoy did not reconnect to the control plane for the new certificate");
  assert.equal(after2.get("control_plane.connected_state"), 1);

  // 4. Secrets stay secret.
  const all = `${log}\n${serve.logs.join("\n")}`;
  assert.ok(!all.includes(TOKEN), "the token is in a log");
  assert.doesNotMatch(all, /PRIVATE KEY/);
});
