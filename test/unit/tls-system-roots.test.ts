/**
 * DestinationRule SIMPLE/MUTUAL origination checks the server as istiod 1.31
 * does (cluster_tls.go constructUpstreamTLS): against caCertificates, else the
 * operating system's CA bundle (istiod's `file-root:system`), nothing only
 * with insecureSkipVerify (an empty validation context, as istiod writes).
 * Without a bundle on the host: a diagnostic, and a cluster Envoy accepts but
 * that refuses every server (checked with `envoy --mode validate`).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { buildMesh, type BuildMeshOptions } from "../../src/model/mesh";
import { parseProxy } from "../../src/model/proxy";
import type { ClientTLSSettings, MeshObject } from "../../src/model/types";
import { formatDiagnostic } from "../../src/model/types";
import { generate } from "../../src/generate";
import { tlsOriginationSocket } from "../../src/generate/tls-origination";
import { findSystemCaBundle } from "../../src/sources/system-ca";
import { DEFAULT_SYSTEM_CA_BUNDLE, SYSTEM_CA_BUNDLE_CANDIDATES } from "../../src/model/tls-roots";
import { findEnvoy, validateConfig } from "../support/envoy";
import { UNTRUSTED_ROOT_PEM } from "../../src/generate/untrusted-root";

type Json = Record<string, any>;

const ctx = (tls: ClientTLSSettings, systemCaBundle: string | null = DEFAULT_SYSTEM_CA_BUNDLE): Json =>
  (tlsOriginationSocket(tls, false, { systemCaBundle }).transport_socket!.typed_config as Json).common_tls_context;

test("SIMPLE/MUTUAL without caCertificates trust the system bundle; caCertificates win; insecureSkipVerify: empty validation context", () => {
  assert.deepEqual(ctx({ mode: "SIMPLE" }).validation_context, { trusted_ca: { filename: "/etc/ssl/certs/ca-certificates.crt" } });
  assert.deepEqual(ctx({ mode: "SIMPLE", subjectAltNames: ["a.example"] }, "/etc/ssl/cert.pem").validation_context, {
    trusted_ca: { filename: "/etc/ssl/cert.pem" },
    match_typed_subject_alt_names: [{ san_type: "DNS", matcher: { exact: "a.example" } }],
  });
  assert.deepEqual(ctx({ mode: "MUTUAL", clientCertificate: "/c.pem", privateKey: "/k.pem" }).validation_context, {
    trusted_ca: { filename: "/etc/ssl/certs/ca-certificates.crt" },
  });
  assert.deepEqual(ctx({ mode: "SIMPLE", caCertificates: "/ca.pem" }).validation_context, { trusted_ca: { filename: "/ca.pem" } });
  assert.deepEqual(ctx({ mode: "SIMPLE", insecureSkipVerify: true }).validation_context, {});
  assert.deepEqual(ctx({ mode: "SIMPLE", caCertificates: "/ca.pem", insecureSkipVerify: true }).validation_context, {}, "as istiod: skip wins over a CA");
  assert.equal(ctx({ mode: "SIMPLE", insecureSkipVerify: true }).combined_validation_context, undefined);
});

test("no system bundle on the host: the cluster trusts a root nothing chains to (fail closed)", () => {
  const c = ctx({ mode: "SIMPLE", subjectAltNames: ["a.example"] }, null);
  assert.deepEqual(c.validation_context, {
    trusted_ca: { inline_string: UNTRUSTED_ROOT_PEM },
    match_typed_subject_alt_names: [{ san_type: "DNS", matcher: { exact: "a.example" } }],
  });
  assert.match(UNTRUSTED_ROOT_PEM, /^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----\n$/);
  assert.doesNotMatch(UNTRUSTED_ROOT_PEM, /PRIVATE KEY/);
  // A CA file or insecureSkipVerify do not need the bundle.
  assert.deepEqual(ctx({ mode: "SIMPLE", caCertificates: "/ca.pem" }, null).validation_context, { trusted_ca: { filename: "/ca.pem" } });
  assert.deepEqual(ctx({ mode: "SIMPLE", insecureSkipVerify: true }, null).validation_context, {});
});

test("the system bundle is found as pilot-agent finds it: Istio's list, first that exists", () => {
  assert.equal(
    findSystemCaBundle((p) => p === "/etc/ssl/cert.pem" || p === "/etc/pki/tls/certs/ca-bundle.crt"),
    "/etc/pki/tls/certs/ca-bundle.crt",
  );
  assert.equal(
    findSystemCaBundle(() => false),
    null,
  );
  assert.equal(SYSTEM_CA_BUNDLE_CANDIDATES[0], DEFAULT_SYSTEM_CA_BUNDLE);
  // This Debian machine (and the image, which installs ca-certificates).
  if (fs.existsSync("/etc/ssl/certs/ca-certificates.crt")) assert.equal(findSystemCaBundle(), "/etc/ssl/certs/ca-certificates.crt");
});

const objects: MeshObject[] = [
  {
    kind: "Pod",
    apiVersion: "v1",
    metadata: { name: "web-1", namespace: "default", labels: { app: "web" } },
    spec: { podIP: "10.0.0.1" },
  } as MeshObject,
  {
    kind: "Service",
    apiVersion: "v1",
    metadata: { name: "ext", namespace: "default" },
    spec: { clusterIP: "10.96.0.20", ports: [{ name: "http", port: 80 }] },
  } as MeshObject,
  {
    kind: "DestinationRule",
    apiVersion: "networking.istio.io/v1",
    metadata: { name: "ext-tls", namespace: "default" },
    spec: {
      host: "ext",
      trafficPolicy: { tls: { mode: "SIMPLE" } },
      subsets: [{ name: "skip", labels: { v: "2" }, trafficPolicy: { tls: { mode: "SIMPLE", insecureSkipVerify: true } } }],
    },
  } as MeshObject,
];

function build(options: BuildMeshOptions) {
  const { mesh, diagnostics } = buildMesh(objects, options);
  const p = parseProxy("sidecar~10.0.0.1~web-1.default~default.svc.cluster.local", { LABELS: { app: "web" }, SDS: "true" });
  if (!p.ok) throw new Error(p.error);
  return { out: generate(mesh, p.proxy), diagnostics: diagnostics.map(formatDiagnostic) };
}

test("no system bundle: one diagnostic names the DestinationRule, field and the paths looked at; the rest is generated", () => {
  const ok = build({});
  assert.deepEqual(
    ok.diagnostics.filter((d) => d.includes("system CA bundle")),
    [],
  );
  const { out, diagnostics } = build({ systemCaBundle: null });
  const found = diagnostics.filter((d) => d.includes("system CA bundle"));
  assert.equal(found.length, 1, diagnostics.join("\n"));
  assert.match(found[0]!, /DestinationRule default\/ext-tls/);
  assert.match(found[0]!, /spec\.trafficPolicy\.tls/);
  assert.match(found[0]!, /\/etc\/ssl\/certs\/ca-certificates\.crt, \/etc\/pki\/tls\/certs\/ca-bundle\.crt/);
  assert.match(found[0]!, /refused/);
  const cluster = out.clusters.find((c) => c.name === "outbound|80||ext.default.svc.cluster.local") as Json;
  assert.deepEqual(cluster.transport_socket.typed_config.common_tls_context.validation_context, { trusted_ca: { inline_string: UNTRUSTED_ROOT_PEM } });
  const skip = out.clusters.find((c) => c.name === "outbound|80|skip|ext.default.svc.cluster.local") as Json;
  assert.deepEqual(skip.transport_socket.typed_config.common_tls_context.validation_context, {});
});

test("envoy --mode validate accepts the fail-closed cluster (no NACK when the bundle is missing)", async (t) => {
  const bin = findEnvoy();
  if (!bin) return t.skip("no envoy binary on PATH");
  const { out } = build({ systemCaBundle: null });
  const cluster = out.clusters.find((c) => c.name === "outbound|80||ext.default.svc.cluster.local") as Json;
  const { eds_cluster_config: _eds, ...rest } = cluster;
  const xds = {
    name: "xds-grpc",
    type: "STATIC",
    load_assignment: {
      cluster_name: "xds-grpc",
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 1 } } } }] }],
    },
    typed_extension_protocol_options: {
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        explicit_http_config: { http2_protocol_options: {} },
      },
    },
  };
  const bootstrap = {
    node: { id: "sidecar~10.0.0.1~web-1.default~default.svc.cluster.local", cluster: "web.default" },
    static_resources: { clusters: [{ ...rest, type: "STATIC", load_assignment: { cluster_name: cluster.name } }, xds] },
    dynamic_resources: { ads_config: { api_type: "GRPC", transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: "xds-grpc" } }] } },
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mini-pilot-system-roots-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "bootstrap.json");
  fs.writeFileSync(file, JSON.stringify(bootstrap));
  const r = await validateConfig(bin, file);
  assert.equal(r.code, 0, r.output);
});
