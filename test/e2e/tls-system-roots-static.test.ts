/**
 * A host without a system CA bundle, through a real Envoy: a DestinationRule
 * SIMPLE rule without `caCertificates` (which trusts the OS bundle, as
 * istiod's `file-root:system`) cannot name a file that is not there (Envoy
 * would refuse the whole config). mini-pilot warns on the rule and gives the
 * cluster a root nothing chains to: Envoy takes the config, the rule's
 * requests are refused (503, `ssl.fail_verify_error`), while an
 * `insecureSkipVerify` rule in the same config reaches the same server.
 *
 * `mini-pilot static` (buildStatic) with the mesh option a bundle-less host
 * gets (`systemCaBundle: null`, what sources/system-ca.ts finds there), the
 * sidecar's HTTP listener bound on 127.0.0.1 (--bind-outbound); the capture
 * listeners (virtualInbound/virtualOutbound, 0.0.0.0) are left out.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { buildStatic } from "../../src/translate/static-bootstrap";
import { formatDiagnostic } from "../../src/model/types";
import { freePort, requireEnvoy, startEnvoy } from "../support/envoy";
import { testCa, testLeaf } from "../support/tls-certs";
import { startTlsBackend, systemRootsMesh } from "./tls-backend";

function get(port: number, host: string): Promise<{ status: number; backend: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: "/", headers: { host }, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, backend: String(res.headers["x-backend"] ?? "") }));
    });
    req.on("error", reject);
    req.end();
  });
}

test(
  "no system CA bundle: a warning, Envoy accepts the config, the rule's server is refused; insecureSkipVerify still reaches it",
  { timeout: 60_000 },
  async (t) => {
    const bin = requireEnvoy(t);
    if (!bin) return;
    const ca = await testCa();
    const leaf = await testLeaf(ca, ["verify.example", "skip.example"]);
    const backend = await startTlsBackend("127.0.0.1", leaf);
    t.after(() => backend.close());
    const tlsPort = backend.port;

    const listenPort = await freePort();
    const r = buildStatic({
      files: [{ file: "mesh.yaml", text: systemRootsMesh("127.0.0.1", tlsPort) }],
      nodeId: "sidecar~127.0.0.1~client-1.default~default.svc.cluster.local",
      metadata: { NAMESPACE: "default" },
      adminPort: await freePort(),
      bindOutbound: "127.0.0.1",
      portOffset: listenPort - 80,
      mesh: { systemCaBundle: null },
    });
    assert.ok(r.ok, r.ok ? "" : r.error);
    const warnings = r.diagnostics.map(formatDiagnostic).filter((d) => d.includes("system CA bundle"));
    assert.equal(warnings.length, 1, r.diagnostics.map(formatDiagnostic).join("\n"));
    assert.match(warnings[0]!, /DestinationRule default\/verify spec\.trafficPolicy\.tls: .*none of \/etc\/ssl\/certs\/ca-certificates\.crt/);

    const res = r.bootstrap.static_resources as { listeners: { address: { socket_address: { address: string } } }[] };
    res.listeners = res.listeners.filter((l) => l.address.socket_address.address === "127.0.0.1");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mini-pilot-no-bundle-"));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, "envoy.json");
    fs.writeFileSync(file, JSON.stringify(r.bootstrap));
    const envoy = startEnvoy(bin, file, { logDir: dir });
    t.after(() => envoy.stop());
    try {
      await envoy.waitReady();
      assert.deepEqual(await get(listenPort, "verify.example"), { status: 503, backend: "" }, "no bundle: the server is not trusted");
      const stats = await envoy.stats();
      const failed = Number(stats.get("cluster.outbound|80||verify.example.ssl.fail_verify_error") ?? 0);
      assert.ok(failed >= 1, `Envoy refused the chain (ssl.fail_verify_error ${failed})`);
      assert.deepEqual(await get(listenPort, "skip.example"), { status: 200, backend: "sni=skip.example" }, "insecureSkipVerify reaches the server");
      process.stderr.write(`tls-system-roots-static: no bundle: ${failed} handshakes refused, insecureSkipVerify answered\n`);
    } catch (e) {
      process.stderr.write(`--- Envoy log ---\n${envoy.logTail()}\n`);
      throw e;
    }
  },
);
