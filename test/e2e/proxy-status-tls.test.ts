/**
 * Private keys and `proxy-status` against a real Envoy. serve hands out a TLS
 * listener with an inline key and a cluster whose client key is a file; the
 * server's dump redacts them exactly as Envoy's admin /config_dump does, so
 * the comparison says Match (no false difference), and the key's text appears
 * nowhere an operator looks: config_dump, proxy-config -o json, proxy-status.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { freePort, loopbackBootstrapArgs, makeTestCerts, requireEnvoy, startEnvoy } from "../support/envoy";
import { CLI, getJson, startServe } from "../support/serve-process";

const NODE = "sidecar~10.0.0.7~tls-1.default~default.svc.cluster.local";

function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("proxy-status: TLS config with private keys matches the Envoy's dump, and no key leaks", async (t) => {
  const bin = requireEnvoy(t);
  if (!bin) return;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mini-pilot-pstatus-tls-"));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const certDir = path.join(tmp, "certs");
  fs.mkdirSync(certDir);
  const certs = makeTestCerts("tls.example.com", certDir);
  const certPem = fs.readFileSync(certs.serverCert, "utf8");
  const keyPem = fs.readFileSync(certs.serverKey, "utf8");
  const keyBody = keyPem.split("\n")[1]!; // a line of the key's base64: what must never be shown
  const tcp = (cluster: string) => ({
    name: "envoy.filters.network.tcp_proxy",
    typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: cluster, cluster },
  });
  const resources = {
    listeners: [
      {
        name: "tls-in",
        address: { socket_address: { address: "127.0.0.1", port_value: await freePort() } },
        filter_chains: [
          {
            filters: [tcp("upstream-mtls")],
            transport_socket: {
              name: "envoy.transport_sockets.tls",
              typed_config: {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                common_tls_context: { tls_certificates: [{ certificate_chain: { inline_string: certPem }, private_key: { inline_string: keyPem } }] },
              },
            },
          },
        ],
      },
    ],
    clusters: [
      {
        name: "upstream-mtls",
        type: "STATIC",
        connect_timeout: "1s",
        load_assignment: {
          cluster_name: "upstream-mtls",
          endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 9 } } } }] }],
        },
        transport_socket: {
          name: "envoy.transport_sockets.tls",
          typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            common_tls_context: { tls_certificates: [{ certificate_chain: { filename: certs.clientCert }, private_key: { filename: certs.clientKey } }] },
          },
        },
      },
    ],
  };
  const file = path.join(tmp, "resources.json");
  fs.writeFileSync(file, JSON.stringify(resources));
  const serve = await startServe(["--resources", file]);
  t.after(() => serve.stop());

  const boot = path.join(tmp, "bootstrap.json");
  const env = { ...process.env, POD_NAME: "tls-1", POD_NAMESPACE: "default", INSTANCE_IP: "10.0.0.7" };
  const args = [CLI, "bootstrap", "--type", "sidecar", "--domain", "default.svc.cluster.local", "--xds-address", `127.0.0.1:${serve.xdsPort}`];
  args.push(...(await loopbackBootstrapArgs()), "--out", boot);
  const b = spawnSync(process.execPath, args, { env, encoding: "utf8" });
  assert.equal(b.status, 0, b.stderr);
  const envoy = startEnvoy(bin, boot, { logDir: tmp });
  t.after(() => envoy.stop());
  await envoy.waitAdmin();
  const deadline = Date.now() + 30_000;
  for (;;) {
    const s = (await getJson(serve.httpPort, "/debug/syncz")) as { proxy: string; types: Record<string, { status: string }> }[];
    const types = s.find((e) => e.proxy === NODE)?.types ?? {};
    if (types.clusters?.status === "SYNCED" && types.listeners?.status === "SYNCED") break;
    assert.ok(Date.now() < deadline, `not SYNCED: ${JSON.stringify(s)}\n${envoy.logTail()}`);
    await new Promise((r) => setTimeout(r, 200));
  }

  const server = `http://127.0.0.1:${serve.httpPort}`;
  const r = cli(["proxy-status", "tls-1.default", "--server", server, "--envoy-admin", `http://127.0.0.1:${envoy.adminPort}`]);
  assert.equal(r.code, 0, `${r.stdout}${r.stderr}\n${envoy.logTail()}`);
  assert.match(r.stdout, /^Clusters Match\nListeners Match\n/);

  const envoyDump = (await envoy.admin("/config_dump")).body;
  assert.match(envoyDump, /"filename": "\[redacted\]"/, "Envoy redacts a key file's name: so do we");
  const served = JSON.stringify(await getJson(serve.httpPort, `/debug/config_dump?proxy=${encodeURIComponent(NODE)}`));
  const full = cli(["proxy-config", "listeners", "tls-1.default", "--server", server, "-o", "json"]);
  assert.equal(full.code, 0, full.stderr);
  for (const [where, text] of [
    ["/debug/config_dump", served],
    ["proxy-config -o json", full.stdout],
    ["proxy-status", r.stdout],
  ] as const) {
    assert.ok(!text.includes(keyBody), `${where} shows the private key`);
    assert.ok(!text.includes(certs.clientKey), `${where} shows the key file's name`);
  }
  assert.ok(served.includes(certPem.split("\n")[1]!), "the certificate itself is shown");
});
