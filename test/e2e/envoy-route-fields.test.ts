/**
 * Route fields accepted since validation parity with Istio, through the real
 * Envoy: a static config (the code of `mini-pilot static`) for front-tomcat's
 * sidecar with --bind-outbound, the bill-service fixtures plus `route-fields/`,
 * requests to the bound listener, answers from real HTTP backends.
 *   - rewrite.uriRegexRewrite: the backend sees the rewritten path;
 *   - redirect.prefixRewrite: Envoy answers 302 with the prefix swapped;
 *   - mirrors: v1 answers, v2 gets a copy.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { buildStatic } from "../../src/translate/static-bootstrap";
import { boundListeners } from "../../src/bootstrap/static";
import { serializeBootstrap } from "../../src/bootstrap/check";
import { readManifestDir } from "../../src/cli/translate";
import { formatDiagnostic } from "../../src/model/types";
import { freePort, requireEnvoy, startEnvoy } from "../support/envoy";
import { FRONT_TOMCAT, startBillBackends, writeBillService } from "../support/http-backends";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mini-pilot-e2e-route-fields-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/** GET through Envoy without following redirects: status, Location and body. */
function get(port: number, urlPath: string): Promise<{ status: number; location?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: urlPath, headers: { host: "bill-service" }, timeout: 10_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, ...(res.headers.location ? { location: res.headers.location } : {}) }));
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${urlPath} timed out`)));
    req.on("error", reject);
  });
}

async function until(what: string, check: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("regex rewrite, redirect prefixRewrite and mirrors work in the real Envoy", { timeout: 120_000 }, async (t) => {
  const bin = requireEnvoy(t);
  if (!bin) return;
  const b = await startBillBackends();
  t.after(() => b.stop());
  const dir = writeBillService(path.join(tmp, "config"), ["rules", "route-fields"], { ...b.vars, GATEWAY_PORT: 80, GATEWAY_BIND: "127.0.0.1" });
  const req = { files: readManifestDir(dir), nodeId: FRONT_TOMCAT, metadata: {}, adminPort: await freePort(), bindOutbound: "127.0.0.1" };
  const probe = buildStatic({ ...req, portOffset: 0 });
  assert.ok(probe.ok, probe.ok ? "" : probe.error);
  assert.deepEqual(probe.diagnostics.map(formatDiagnostic), [], "the fixtures translate without diagnostics");
  // Below the ephemeral range, an offset that frees every port this config binds.
  const ports = boundListeners(probe.bootstrap).map((l) => l.port);
  let offset = 0;
  for (let i = 0; i < 50 && offset === 0; i++) {
    const o = 1_000 + Math.floor(Math.random() * (32_000 - Math.max(...ports) - 1_000));
    if ((await Promise.all(ports.map((p) => portFree(p + o)))).every(Boolean)) offset = o;
  }
  assert.ok(offset > 0, "no free port offset");
  const r = buildStatic({ ...req, portOffset: offset });
  assert.ok(r.ok, r.ok ? "" : r.error);
  const file = path.join(tmp, "front-tomcat.json");
  fs.writeFileSync(file, serializeBootstrap(r.bootstrap));
  const envoy = startEnvoy(bin, file);
  t.after(() => envoy.stop());
  await envoy.waitReady();
  const port = 9999 + offset;

  b.reset();
  const rewritten = await get(port, "/old-api/bills/7?x=1");
  assert.equal(rewritten.status, 200, rewritten.body);
  assert.deepEqual(
    b.v1.requests.map((q) => q.path),
    ["/api/bills/7?x=1"],
    "v1 got the path rewritten by the regex",
  );

  const redirected = await get(port, "/moved/bills/7");
  assert.equal(redirected.status, 302);
  assert.equal(redirected.location, "http://bill-service/here/bills/7", "the matched prefix is swapped in the Location");

  b.reset();
  const mirrored = await get(port, "/mirrored/a");
  assert.equal(mirrored.status, 200);
  assert.equal(b.v1.hits, 1, "v1 answers");
  await until("the mirrored copy at v2", () => b.v2.hits === 1);
  assert.equal(b.v2.requests[0]?.path, "/mirrored/a");
});
