/**
 * Protocol, TLS and listener-limit fields written as istiod 1.31 writes them
 * (found by the fidelity harness, test/fidelity): HTTP/2 for grpc-web ports,
 * the gRPC-Web and Mongo filters, http2_protocol_options on inbound HTTP/2
 * connection managers, DestinationRule TLS origination (TLS 1.2-1.3, h2 ALPN,
 * auto_sni / auto_san_validation), the DestinationRule's connection pool on
 * inbound clusters, and one connection accepted per socket event.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildMesh } from "../../src/model/mesh";
import { parseProxy } from "../../src/model/proxy";
import type { ClientTLSSettings, MeshObject } from "../../src/model/types";
import { generate } from "../../src/generate";
import { autoSniFor, autoSniRule, tlsOriginationSocket, withAutoSni } from "../../src/generate/tls-origination";
import { networkFilterStack, protocolHttpFilters, inboundHcmProtocolFields } from "../../src/generate/protocol-filters";
import { tcpProxy } from "../../src/generate/network-filters";
import type { Cluster } from "../../src/generate/envoy";

type Json = Record<string, any>;
const HPO = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

const svc = (name: string, ports: Json[], selector?: Json, clusterIP = "10.96.0.10"): MeshObject =>
  ({
    kind: "Service",
    apiVersion: "v1",
    metadata: { name, namespace: "default" },
    spec: { clusterIP, ...(selector ? { selector } : {}), ports },
  }) as MeshObject;
const dr = (host: string, trafficPolicy: Json, extra: Json = {}): MeshObject =>
  ({
    kind: "DestinationRule",
    apiVersion: "networking.istio.io/v1",
    metadata: { name: host, namespace: "default" },
    spec: { host, trafficPolicy, ...extra },
  }) as MeshObject;

function gen(objects: MeshObject[], kind: "sidecar" | "router" = "sidecar") {
  const p = parseProxy(`${kind}~10.0.0.1~web-1.default~default.svc.cluster.local`, { LABELS: { app: "web" }, SDS: "true" });
  if (!p.ok) throw new Error(p.error);
  const pod: MeshObject = {
    kind: "Pod",
    apiVersion: "v1",
    metadata: { name: "web-1", namespace: "default", labels: { app: "web" } },
    spec: { podIP: "10.0.0.1" },
  } as MeshObject;
  const out = generate(buildMesh([pod, ...objects], {}).mesh, p.proxy);
  return {
    cluster: (n: string) => out.clusters.find((c) => c.name === n) as Json | undefined,
    listener: (n: string) => out.listeners.find((l) => l.name === n) as Json | undefined,
    listeners: out.listeners as Json[],
  };
}

const hcmOf = (chain: Json): Json => chain.filters.find((f: Json) => f.name === "envoy.filters.network.http_connection_manager").typed_config;
const filterNames = (hcm: Json): string[] => hcm.http_filters.map((f: Json) => f.name);

test("grpc-web ports: HTTP/2 upstream, h2 in the mTLS ALPN, and the gRPC-Web filter before fault/cors/router", () => {
  const g = gen([
    svc(
      "api",
      [
        { name: "grpc-web", port: 83 },
        { name: "http", port: 80 },
      ],
      { app: "api" },
      "10.96.0.11",
    ),
  ]);
  const c = g.cluster("outbound|83||api.default.svc.cluster.local")!;
  assert.deepEqual(c.typed_extension_protocol_options[HPO].explicit_http_config, { http2_protocol_options: {} });
  const mtls = c.transport_socket_matches.find((m: Json) => m.name === "tlsMode-istio").transport_socket.typed_config;
  assert.deepEqual(mtls.common_tls_context.alpn_protocols, ["istio", "h2"]);
  const l83 = hcmOf(g.listener("0.0.0.0_83")!.filter_chains[0]);
  assert.deepEqual(filterNames(l83), ["envoy.filters.http.grpc_web", "envoy.filters.http.fault", "envoy.filters.http.cors", "envoy.filters.http.router"]);
  const l80 = hcmOf(g.listener("0.0.0.0_80")!.filter_chains[0]);
  assert.ok(!filterNames(l80).includes("envoy.filters.http.grpc_web"), "an HTTP port gets no gRPC-Web filter");
});

test("the first service declaring a shared HTTP port decides whether it gets the gRPC-Web filter", () => {
  const older = {
    ...svc("a-http", [{ name: "http", port: 83 }], undefined, "10.96.0.12"),
    metadata: { name: "a-http", namespace: "default", creationTimestamp: "2024-01-01T00:00:00Z" },
  } as MeshObject;
  const newer = {
    ...svc("b-web", [{ name: "grpc-web", port: 83 }], undefined, "10.96.0.13"),
    metadata: { name: "b-web", namespace: "default", creationTimestamp: "2024-02-01T00:00:00Z" },
  } as MeshObject;
  const g = gen([newer, older]);
  assert.ok(!filterNames(hcmOf(g.listener("0.0.0.0_83")!.filter_chains[0])).includes("envoy.filters.http.grpc_web"));
});

test("inbound HTTP/2 ports: http2_protocol_options on the connection manager (codec stays AUTO), gRPC-Web filter on grpc-web", () => {
  const g = gen([
    svc(
      "web",
      [
        { name: "grpc", port: 9090 },
        { name: "grpc-web", port: 9091 },
        { name: "http", port: 8080 },
      ],
      { app: "web" },
    ),
  ]);
  const chains = g.listener("virtualInbound")!.filter_chains as Json[];
  const byPort = (port: number) => chains.filter((c) => c.filter_chain_match?.destination_port === port).map(hcmOf);
  for (const port of [9090, 9091]) {
    assert.ok(byPort(port).length > 0);
    for (const h of byPort(port)) {
      assert.deepEqual(h.http2_protocol_options, {}, `port ${port}`);
      assert.equal(h.codec_type, undefined, "AUTO, as istiod");
    }
  }
  for (const h of byPort(8080)) assert.equal(h.http2_protocol_options, undefined);
  for (const h of byPort(9091)) assert.equal(filterNames(h).filter((n) => n === "envoy.filters.http.grpc_web").length, 1);
  for (const h of byPort(9090)) assert.ok(!filterNames(h).includes("envoy.filters.http.grpc_web"));
});

test("mongo ports: mongo_proxy before tcp_proxy with tcp_proxy's stat prefix, outbound and inbound", () => {
  const g = gen([svc("web", [{ name: "mongo", port: 27017 }], { app: "web" })]);
  const out = g.listener("10.96.0.10_27017")!.filter_chains[0].filters as Json[];
  assert.deepEqual(
    out.map((f) => f.name),
    ["envoy.filters.network.mongo_proxy", "envoy.filters.network.tcp_proxy"],
  );
  assert.equal(out[0]!.typed_config.stat_prefix, out[1]!.typed_config.stat_prefix);
  assert.equal(out[0]!.typed_config.stat_prefix, "outbound|27017||web.default.svc.cluster.local");
  const inbound = (g.listener("virtualInbound")!.filter_chains as Json[]).filter((c) => c.filter_chain_match?.destination_port === 27017);
  assert.ok(inbound.length > 0);
  for (const c of inbound) assert.equal(c.filters.at(-2).name, "envoy.filters.network.mongo_proxy");
  // Only MONGO and only in front of a tcp_proxy.
  assert.equal(networkFilterStack("TCP", tcpProxy("x", "x")).length, 1);
  assert.equal(networkFilterStack("MONGO", { name: "other" }).length, 1);
  assert.deepEqual(protocolHttpFilters("GRPC"), []);
  assert.deepEqual(inboundHcmProtocolFields("HTTP"), {});
  assert.deepEqual(inboundHcmProtocolFields("HTTP2"), { http2_protocol_options: {} });
});

test("auto_sni / auto_san_validation exactly when istiod sets them", () => {
  const t = (tls: ClientTLSSettings) => autoSniRule(tls);
  assert.deepEqual(t({ mode: "SIMPLE" }), { autoSni: true, autoSanValidation: true });
  assert.deepEqual(t({ mode: "SIMPLE", subjectAltNames: ["a.example"] }), { autoSni: true, autoSanValidation: false });
  assert.deepEqual(t({ mode: "SIMPLE", insecureSkipVerify: true }), { autoSni: true, autoSanValidation: false });
  assert.equal(t({ mode: "SIMPLE", sni: "a.example" }), undefined, "an explicit SNI: neither");
  assert.equal(autoSniFor({ mode: "ISTIO_MUTUAL" }), undefined);
  assert.equal(autoSniFor({ mode: "DISABLE" }), undefined);
  assert.equal(autoSniFor({ mode: "MUTUAL" }), undefined, "MUTUAL without files is sent without TLS, so without auto_sni");
  assert.deepEqual(autoSniFor({ mode: "MUTUAL", clientCertificate: "/c.pem", privateKey: "/k.pem" }), { autoSni: true, autoSanValidation: true });
});

test("withAutoSni joins existing HTTP protocol options or names HTTP/1.1 as istiod's build does", () => {
  const bare: Cluster = { name: "c" };
  withAutoSni(bare, { autoSni: true, autoSanValidation: false });
  const b = bare.typed_extension_protocol_options![HPO] as Json;
  assert.deepEqual(b.upstream_http_protocol_options, { auto_sni: true });
  assert.deepEqual(b.explicit_http_config, { http_protocol_options: {} });
  const h2: Cluster = {
    name: "c",
    typed_extension_protocol_options: { [HPO]: { "@type": `type.googleapis.com/${HPO}`, explicit_http_config: { http2_protocol_options: {} } } as never },
  };
  withAutoSni(h2, { autoSni: true, autoSanValidation: true });
  const x = h2.typed_extension_protocol_options![HPO] as Json;
  assert.deepEqual(x.explicit_http_config, { http2_protocol_options: {} }, "HTTP/2 kept");
  assert.deepEqual(x.upstream_http_protocol_options, { auto_sni: true, auto_san_validation: true });
});

test("SIMPLE/MUTUAL origination: TLS 1.2-1.3, ALPN h2 only to HTTP/2 upstreams; on clusters with auto_sni", () => {
  const ctx = (tls: ClientTLSSettings, h2: boolean) => (tlsOriginationSocket(tls, h2).transport_socket!.typed_config as Json).common_tls_context;
  assert.deepEqual(ctx({ mode: "SIMPLE" }, false).tls_params, { tls_minimum_protocol_version: "TLSv1_2", tls_maximum_protocol_version: "TLSv1_3" });
  assert.equal(ctx({ mode: "SIMPLE" }, false).alpn_protocols, undefined);
  assert.deepEqual(ctx({ mode: "SIMPLE" }, true).alpn_protocols, ["h2"]);
  assert.deepEqual(tlsOriginationSocket({ mode: "DISABLE" }, true), {});

  const g = gen([
    svc(
      "ext",
      [
        { name: "grpc", port: 443 },
        { name: "tcp", port: 9000 },
      ],
      undefined,
      "10.96.0.20",
    ),
    dr("ext", { tls: { mode: "SIMPLE", caCertificates: "/ca.pem" } }),
  ]);
  const grpc = g.cluster("outbound|443||ext.default.svc.cluster.local")!;
  const opts = grpc.typed_extension_protocol_options[HPO];
  assert.deepEqual(opts.upstream_http_protocol_options, { auto_sni: true, auto_san_validation: true });
  assert.deepEqual(opts.explicit_http_config, { http2_protocol_options: {} });
  assert.deepEqual(grpc.transport_socket.typed_config.common_tls_context.alpn_protocols, ["h2"]);
  // istiod sets them on a TCP port's cluster too (no effect there: tcp_proxy sends no Host).
  const tcp = g.cluster("outbound|9000||ext.default.svc.cluster.local")!;
  assert.deepEqual(tcp.typed_extension_protocol_options[HPO].explicit_http_config, { http_protocol_options: {} });
});

test("inbound clusters take the service's DestinationRule connection pool; a Sidecar's replaces it; selector rules do not apply", () => {
  const base = [svc("web", [{ name: "http", port: 80, targetPort: 8080 }], { app: "web" })];
  const pool = { tcp: { maxConnections: 7, connectTimeout: "2s" }, http: { http2KeepAlive: { interval: "30s", timeout: "5s" } } };
  const c = gen([...base, dr("web", { connectionPool: pool })]).cluster("inbound|8080||")!;
  assert.equal(c.connect_timeout, "2s");
  assert.equal(c.circuit_breakers.thresholds[0].max_connections, 7);
  // As istiod: empty common options (a keepalive was set) and HTTP/1.1 named; no keepalive on an HTTP/1.1 upstream.
  assert.deepEqual(c.typed_extension_protocol_options[HPO].common_http_protocol_options, {});
  assert.deepEqual(c.typed_extension_protocol_options[HPO].explicit_http_config, { http_protocol_options: {} });

  const selector = dr("web", { connectionPool: pool }, { workloadSelector: { matchLabels: { app: "web" } } });
  assert.notEqual(gen([...base, selector]).cluster("inbound|8080||")!.connect_timeout, "2s");

  const sidecar = {
    kind: "Sidecar",
    apiVersion: "networking.istio.io/v1",
    metadata: { name: "default", namespace: "default" },
    spec: { inboundConnectionPool: { tcp: { maxConnections: 3 } } },
  } as MeshObject;
  const s = gen([...base, dr("web", { connectionPool: pool }), sidecar]).cluster("inbound|8080||")!;
  assert.equal(s.circuit_breakers.thresholds[0].max_connections, 3);
  assert.notEqual(s.connect_timeout, "2s", "the Sidecar's pool replaces the rule's whole");
});

test("one connection accepted per socket event on virtualOutbound, virtualInbound and gateway listeners only", () => {
  const g = gen([
    svc(
      "web",
      [
        { name: "http", port: 80 },
        { name: "tcp", port: 9000 },
      ],
      { app: "web" },
    ),
  ]);
  for (const l of g.listeners) {
    const expected = l.name === "virtualOutbound" || l.name === "virtualInbound" ? 1 : undefined;
    assert.equal(l.max_connections_to_accept_per_socket_event, expected, l.name);
  }
  const gw = {
    kind: "Gateway",
    apiVersion: "networking.istio.io/v1",
    metadata: { name: "gw", namespace: "default" },
    spec: { selector: { app: "web" }, servers: [{ port: { number: 8080, name: "http", protocol: "HTTP" }, hosts: ["*"] }] },
  } as MeshObject;
  const r = gen([gw], "router");
  assert.ok(r.listeners.length > 0);
  for (const l of r.listeners) assert.equal(l.max_connections_to_accept_per_socket_event, 1, l.name);
});

test("gateway servers: GRPC-WEB gets the gRPC-Web filter, a MONGO server's tcp route the Mongo filter", () => {
  const gw = {
    kind: "Gateway",
    apiVersion: "networking.istio.io/v1",
    metadata: { name: "gw", namespace: "default" },
    spec: {
      selector: { app: "web" },
      servers: [
        { port: { number: 8080, name: "grpc-web", protocol: "GRPC-WEB" }, hosts: ["*"] },
        { port: { number: 8081, name: "http", protocol: "HTTP" }, hosts: ["*"] },
        { port: { number: 27017, name: "mongo", protocol: "MONGO" }, hosts: ["*"] },
      ],
    },
  } as MeshObject;
  const vs = {
    kind: "VirtualService",
    apiVersion: "networking.istio.io/v1",
    metadata: { name: "db", namespace: "default" },
    spec: { hosts: ["*"], gateways: ["gw"], tcp: [{ match: [{ port: 27017 }], route: [{ destination: { host: "db", port: { number: 27017 } } }] }] },
  } as MeshObject;
  const r = gen([gw, vs, svc("db", [{ name: "mongo", port: 27017 }], undefined, "10.96.0.30")], "router");
  assert.ok(filterNames(hcmOf(r.listener("0.0.0.0_8080")!.filter_chains[0])).includes("envoy.filters.http.grpc_web"));
  assert.ok(!filterNames(hcmOf(r.listener("0.0.0.0_8081")!.filter_chains[0])).includes("envoy.filters.http.grpc_web"));
  const mongo = r.listener("0.0.0.0_27017")!.filter_chains[0].filters as Json[];
  assert.deepEqual(
    mongo.map((f) => f.name),
    ["envoy.filters.network.mongo_proxy", "envoy.filters.network.tcp_proxy"],
  );
});
