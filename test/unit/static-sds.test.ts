/**
 * `mini-pilot static` for a gateway with credentialName: the SDS secrets
 * become static secrets the listeners and clusters name, and real Envoy
 * accepts the bootstrap (it loads each certificate and checks its key). A
 * credential that cannot be served is an error that says which and why.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { buildStatic } from "../../src/translate/static-bootstrap";
import { formatDiagnostic } from "../../src/model/types";
import { caseManifests, GOLDEN_DIR } from "../support/golden-cases";
import { findEnvoy, validateConfig } from "../support/envoy";

const GATEWAY = "router~10.244.0.5~istio-ingressgateway-5d9c7b8f6-zz9xk.istio-system~istio-system.svc.cluster.local";
const META = { NAMESPACE: "istio-system", LABELS: { istio: "ingressgateway" } };

test("static: credentialName secrets are inlined as static secrets, and Envoy accepts the bootstrap", async (t) => {
  const r = buildStatic({ files: caseManifests(path.join(GOLDEN_DIR, "gateway-sds")), nodeId: GATEWAY, metadata: META, portOffset: 20000 });
  assert.ok(r.ok, r.ok ? "" : r.error);
  const res = r.bootstrap.static_resources as { secrets?: { name: string }[] };
  assert.deepEqual(
    (res.secrets ?? []).map((s) => s.name),
    [
      "kubernetes://egress-client",
      "kubernetes://egress-client-cacert",
      "kubernetes://mtls-cred",
      "kubernetes://mtls-cred-cacert",
      "kubernetes://multi-a",
      "kubernetes://multi-b",
      "kubernetes://split-cred",
      "kubernetes://split-cred-cacert",
      "kubernetes://tls-cred",
    ],
  );
  assert.ok(!JSON.stringify(r.bootstrap).includes('"sds_config"'), "no SDS reference is left pointing at a control plane");
  const bin = findEnvoy();
  if (!bin) return t.skip("no envoy binary on PATH");
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "mp-static-sds-")), "bootstrap.json");
  fs.writeFileSync(file, JSON.stringify(r.bootstrap));
  const v = await validateConfig(bin, file);
  assert.equal(v.code, 0, v.output);
});

test("static: a server whose credential cannot be served is left out with a warning; the Secret's diagnostic says why", () => {
  const r = buildStatic({ files: caseManifests(path.join(GOLDEN_DIR, "gateway-sds-bad-input")), nodeId: GATEWAY, metadata: META });
  assert.ok(r.ok, r.ok ? "" : r.error);
  const ds = r.diagnostics.map(formatDiagnostic);
  assert.ok(ds.some((d) => /^Secret istio-system\/absent not found/.test(d)));
  assert.ok(ds.includes("listener 0.0.0.0_443: a filter chain that needs kubernetes://absent is left out of the static config (its Secret cannot be served)"));
  const listeners = (r.bootstrap.static_resources as { listeners: { filter_chains: { filter_chain_match?: { server_names?: string[] } }[] }[] }).listeners;
  const served = listeners.flatMap((l) => l.filter_chains.flatMap((c) => c.filter_chain_match?.server_names ?? [])).sort();
  // The expired and not-yet-valid certificates are served (as over ADS); the rest are left out.
  assert.deepEqual(served, ["expired.example.com", "future.example.com", "good.example.com"]);
});
