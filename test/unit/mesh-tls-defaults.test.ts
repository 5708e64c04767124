/**
 * MeshConfig tlsDefaults, applied where istiod 1.31 applies them:
 * DestinationRule SIMPLE/MUTUAL origination gets the curves and cipher suites
 * (cluster_tls.go applyTLSDefaults; the version stays TLS 1.2-1.3), gateway
 * SIMPLE/MUTUAL/OPTIONAL_MUTUAL servers get curves, ciphers and the minimum
 * version, under the server's own settings (listener.go
 * applyDownstreamTLSDefaults, applyServerTLSSettings); Istio mTLS gets none.
 * Unknown names are dropped with a warning (Envoy would refuse them).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseMeshConfig } from "../../src/model/mesh-config";
import { meshOptionsFromConfig } from "../../src/model/mesh-config-options";
import { buildMesh } from "../../src/model/mesh";
import { parseProxy } from "../../src/model/proxy";
import type { MeshObject } from "../../src/model/types";
import { generate } from "../../src/generate";
import { downstreamTlsSocket, upstreamCredentialTlsContext } from "../../src/generate/gateway-tls";
import type { TlsDefaults } from "../../src/model/mesh-types";

type Json = Record<string, any>;

const MESH = `tlsDefaults:
  ecdhCurves: [X25519, P-256, X448, P-256]
  cipherSuites: [ECDHE-ECDSA-AES128-GCM-SHA256, NOT-A-CIPHER, ECDHE-RSA-AES128-GCM-SHA256]
  minProtocolVersion: TLSV1_3
`;

test("tlsDefaults are read; unknown and repeated curves and unknown ciphers are left out with a warning", () => {
  const r = parseMeshConfig(MESH, "mesh.yaml");
  assert.ok(r.ok, r.ok ? "" : r.errors.join("\n"));
  assert.deepEqual(r.warnings, [
    "mesh.yaml: tlsDefaults.ecdhCurves: detected unrecognized ECDH curves: X448 (left out: Envoy would refuse them; known: P-224, P-256, P-521, P-384, X25519, X25519Kyber768Draft00, X25519MLKEM768)",
    "mesh.yaml: tlsDefaults.ecdhCurves: detected duplicate ECDH curves: P-256 (kept once)",
    "mesh.yaml: tlsDefaults.cipherSuites: unrecognized cipher suites: NOT-A-CIPHER (left out: Envoy would refuse them)",
  ]);
  assert.deepEqual(meshOptionsFromConfig(r.config).tlsDefaults, {
    ecdhCurves: ["X25519", "P-256"],
    cipherSuites: ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256"],
    minProtocolVersion: "TLSV1_3",
  });
});

test("tlsDefaults: TLS_AUTO and empty lists set nothing; a bad version or an unknown field is refused with its path", () => {
  const auto = parseMeshConfig("tlsDefaults: {minProtocolVersion: TLS_AUTO, ecdhCurves: []}\n", "m.yaml");
  assert.ok(auto.ok);
  assert.equal(meshOptionsFromConfig(auto.config).tlsDefaults, undefined);
  const bad = parseMeshConfig("tlsDefaults: {minProtocolVersion: TLSV1_1, curves: [X25519]}\n", "m.yaml");
  assert.ok(!bad.ok);
  assert.deepEqual(bad.errors, [
    'm.yaml: tlsDefaults.minProtocolVersion: want one of TLS_AUTO, TLSV1_2, TLSV1_3, got string "TLSV1_1"',
    "m.yaml: tlsDefaults.curves: unknown field (known here: cipherSuites, ecdhCurves, minProtocolVersion)",
  ]);
});

const DEFAULTS: TlsDefaults = { ecdhCurves: ["X25519"], cipherSuites: ["ECDHE-RSA-AES128-GCM-SHA256"], minProtocolVersion: "TLSV1_3" };
const params = (s: Json): Json => s.typed_config.common_tls_context.tls_params;

test("gateway servers: the defaults first, the server's own minProtocolVersion and cipherSuites win; ISTIO_MUTUAL gets none", () => {
  const files = { serverCertificate: "/c.pem", privateKey: "/k.pem" };
  assert.deepEqual(params(downstreamTlsSocket({ mode: "SIMPLE", ...files }, DEFAULTS)), {
    ecdh_curves: ["X25519"],
    cipher_suites: ["ECDHE-RSA-AES128-GCM-SHA256"],
    tls_minimum_protocol_version: "TLSv1_3",
  });
  assert.deepEqual(
    params(
      downstreamTlsSocket(
        { mode: "MUTUAL", ...files, caCertificates: "/ca.pem", minProtocolVersion: "TLSV1_2", cipherSuites: ["AES128-GCM-SHA256"] },
        DEFAULTS,
      ),
    ),
    { ecdh_curves: ["X25519"], cipher_suites: ["AES128-GCM-SHA256"], tls_minimum_protocol_version: "TLSv1_2" },
  );
  assert.equal(params(downstreamTlsSocket({ mode: "SIMPLE", ...files })), undefined, "no defaults, no server settings: Envoy's defaults");
  assert.equal(params(downstreamTlsSocket({ mode: "ISTIO_MUTUAL" }, DEFAULTS)), undefined, "Istio mTLS is meshMTLS's business");
});

test("a gateway's DestinationRule credentialName origination gets curves and ciphers, not the minimum version", () => {
  const ctx = upstreamCredentialTlsContext({ mode: "SIMPLE", credentialName: "egress" }, false, DEFAULTS);
  assert.deepEqual(ctx.common_tls_context!.tls_params, {
    tls_minimum_protocol_version: "TLSv1_2",
    tls_maximum_protocol_version: "TLSv1_3",
    cipher_suites: ["ECDHE-RSA-AES128-GCM-SHA256"],
    ecdh_curves: ["X25519"],
  });
});

test("sidecar clusters: SIMPLE origination gets curves and ciphers (TLS 1.2-1.3 kept); ISTIO_MUTUAL and auto-mTLS get none", () => {
  const objects = [
    { kind: "Pod", apiVersion: "v1", metadata: { name: "web-1", namespace: "default", labels: { app: "web" } }, spec: { podIP: "10.0.0.1" } },
    {
      kind: "Service",
      apiVersion: "v1",
      metadata: { name: "ext", namespace: "default" },
      spec: { clusterIP: "10.96.0.20", ports: [{ name: "http", port: 80 }] },
    },
    {
      kind: "Service",
      apiVersion: "v1",
      metadata: { name: "in", namespace: "default" },
      spec: { clusterIP: "10.96.0.21", ports: [{ name: "http", port: 80 }] },
    },
    {
      kind: "DestinationRule",
      apiVersion: "networking.istio.io/v1",
      metadata: { name: "ext", namespace: "default" },
      spec: { host: "ext", trafficPolicy: { tls: { mode: "SIMPLE", caCertificates: "/ca.pem" } } },
    },
    {
      kind: "DestinationRule",
      apiVersion: "networking.istio.io/v1",
      metadata: { name: "in", namespace: "default" },
      spec: { host: "in", trafficPolicy: { tls: { mode: "ISTIO_MUTUAL" } } },
    },
  ] as MeshObject[];
  const p = parseProxy("sidecar~10.0.0.1~web-1.default~default.svc.cluster.local", { LABELS: { app: "web" }, SDS: "true" });
  if (!p.ok) throw new Error(p.error);
  const out = generate(buildMesh(objects, { tlsDefaults: DEFAULTS }).mesh, p.proxy);
  const tls = (name: string) => (out.clusters.find((c) => c.name === name) as Json).transport_socket;
  assert.deepEqual(params(tls("outbound|80||ext.default.svc.cluster.local")), {
    tls_minimum_protocol_version: "TLSv1_2",
    tls_maximum_protocol_version: "TLSv1_3",
    cipher_suites: ["ECDHE-RSA-AES128-GCM-SHA256"],
    ecdh_curves: ["X25519"],
  });
  const mutual = params(tls("outbound|80||in.default.svc.cluster.local"));
  assert.equal(mutual.ecdh_curves, undefined);
  assert.equal(mutual.cipher_suites, undefined);
});
