import { test } from "node:test";
import assert from "node:assert/strict";
import { renderBootstrap, BootstrapOptions, nodeId, serviceCluster } from "../../src/bootstrap/render";
import { checkBootstrap, serializeBootstrap, BOOTSTRAP_TYPE } from "../../src/bootstrap/check";
import { fromJson } from "../../src/xds/json";
import { messageType } from "../../src/xds/protos";
import { BOOTSTRAP_EXAMPLES, BootstrapVariant, exampleOptions } from "../../scripts/gen-envoy-configs";

type J = any; // rendered JSON, walked freely in assertions

const base = (): BootstrapOptions => ({
  proxyType: "sidecar",
  podName: "bill-service-v1-abc",
  namespace: "default",
  instanceIp: "10.244.1.17",
  serviceAccount: "bill-service",
  dnsDomain: "default.svc.cluster.local",
  labels: { version: "v1", app: "bill-service" },
  extraMetadata: { ZZZ: "last", AAA: { nested: true }, NAMESPACE: "overridden-by-the-real-one" },
  clusterId: "Kubernetes",
  meshId: "cluster.local",
  istioVersion: "1.26.0",
  workloadName: "bill-service-v1",
  interceptionMode: "REDIRECT",
  xds: { address: { host: "127.0.0.1", port: 15010 }, api: "sotw", initialFetchTimeout: "0s" },
  adminPort: 15000,
  statsPort: 15090,
  readinessPort: 15021,
  bindAddress: "0.0.0.0",
});

const cluster = (b: J, name: string): J => b.static_resources.clusters.find((c: J) => c.name === name);
const listener = (b: J, name: string): J => b.static_resources.listeners.find((l: J) => l.name === name);
const hcm = (l: J): J => l.filter_chains[0].filters[0].typed_config;
const endpoint = (c: J): J => c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;

test("every bootstrap variant is a strict, rule-abiding Envoy v3 Bootstrap", () => {
  for (const variant of Object.keys(BOOTSTRAP_EXAMPLES) as BootstrapVariant[]) {
    const json = renderBootstrap(exampleOptions(BOOTSTRAP_EXAMPLES[variant]));
    // fromJson is strict: any unknown or misspelt field throws with its path.
    const t = messageType(BOOTSTRAP_TYPE);
    const wire = fromJson(t, json);
    assert.deepEqual(checkBootstrap(json), [], variant);
    // And it survives the wire: the decoded message carries the node identity.
    const decoded = t.toObject(t.decode(t.encode(wire).finish())) as J;
    assert.equal(decoded.node.id, (json as J).node.id, variant);
  }
  assert.deepEqual(checkBootstrap({ node: { id: "x" }, static_resources: { clusters: [{ name: "" }] } }), [
    "static_resources.clusters[0].name: value length must be at least 1 characters",
  ]);
  assert.match(checkBootstrap({ nodes: {} })[0]!, /^nodes: unknown field "nodes"/);
});

test("node: id, service cluster, locality and sorted Istio metadata", () => {
  const o = { ...base(), locality: { region: "us-east1", zone: "us-east1-b" } };
  const b = renderBootstrap(o) as J;
  assert.equal(b.node.id, "sidecar~10.244.1.17~bill-service-v1-abc.default~default.svc.cluster.local");
  assert.equal(nodeId({ ...o, proxyType: "router" }), "router~10.244.1.17~bill-service-v1-abc.default~default.svc.cluster.local");
  assert.equal(b.node.cluster, "bill-service.default");
  assert.equal(serviceCluster({ labels: {}, workloadName: "pod-x", namespace: "ns" }), "pod-x.ns");
  assert.deepEqual(b.node.locality, { region: "us-east1", zone: "us-east1-b" });
  assert.equal(renderBootstrap(base()).node && (renderBootstrap(base()) as J).node.locality, undefined);
  const meta = b.node.metadata;
  assert.deepEqual(Object.keys(meta), [...Object.keys(meta)].sort(), "metadata keys are sorted");
  assert.deepEqual(Object.keys(meta.LABELS), ["app", "version"], "labels are sorted");
  assert.equal(meta.NAMESPACE, "default", "the real namespace wins over an ISTIO_META_NAMESPACE extra");
  assert.deepEqual(meta.AAA, { nested: true });
  assert.equal(meta.ZZZ, "last");
  for (const [k, v] of Object.entries({
    CLUSTER_ID: "Kubernetes",
    MESH_ID: "cluster.local",
    ISTIO_VERSION: "1.26.0",
    INSTANCE_IPS: "10.244.1.17",
    SERVICE_ACCOUNT: "bill-service",
    WORKLOAD_NAME: "bill-service-v1",
    INTERCEPTION_MODE: "REDIRECT",
    NAME: "bill-service-v1-abc",
    POD_NAME: "bill-service-v1-abc",
    ENVOY_PROMETHEUS_PORT: 15090,
    ENVOY_STATUS_PORT: 15021,
  })) {
    assert.deepEqual(meta[k], v, k);
  }
  const { serviceAccount: _sa, ...noSa } = base();
  assert.equal((renderBootstrap({ ...noSa, extraMetadata: { SERVICE_ACCOUNT: "stale" } }) as J).node.metadata.SERVICE_ACCOUNT, undefined);
});

test("dynamic resources: LDS and CDS over ADS; GRPC or DELTA_GRPC to xds-grpc", () => {
  const sotw = renderBootstrap(base()) as J;
  const ads = { ads: {}, initial_fetch_timeout: "0s", resource_api_version: "V3" };
  assert.deepEqual(sotw.dynamic_resources.lds_config, ads);
  assert.deepEqual(sotw.dynamic_resources.cds_config, ads);
  assert.deepEqual(sotw.dynamic_resources.ads_config, {
    api_type: "GRPC",
    transport_api_version: "V3",
    set_node_on_first_message_only: true,
    grpc_services: [{ envoy_grpc: { cluster_name: "xds-grpc" } }],
  });
  const delta = renderBootstrap({ ...base(), xds: { ...base().xds, api: "delta", initialFetchTimeout: "2s" } }) as J;
  assert.equal(delta.dynamic_resources.ads_config.api_type, "DELTA_GRPC");
  assert.equal(delta.dynamic_resources.lds_config.initial_fetch_timeout, "2s");
});

test("xds-grpc: STATIC for an IP, STRICT_DNS for a name; HTTP/2, 1s connect timeout, keepalive, big breakers", () => {
  const ip = cluster(renderBootstrap(base()), "xds-grpc");
  assert.equal(ip.type, "STATIC");
  assert.deepEqual(endpoint(ip), { address: "127.0.0.1", port_value: 15010 });
  assert.equal(ip.connect_timeout, "1s");
  assert.equal(ip.dns_lookup_family, undefined);
  assert.deepEqual(ip.upstream_connection_options, { tcp_keepalive: { keepalive_time: 300 } });
  const http = ip.typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"];
  assert.ok(http.explicit_http_config.http2_protocol_options, "HTTP/2 to the control plane");
  assert.deepEqual(
    ip.circuit_breakers.thresholds.map((t: J) => [t.priority, t.max_connections, t.max_requests]),
    [
      ["DEFAULT", 100000, 100000],
      ["HIGH", 100000, 100000],
    ],
  );
  assert.equal(ip.transport_socket, undefined);
  const dns = cluster(renderBootstrap({ ...base(), xds: { ...base().xds, address: { host: "mini-pilot.istio-system.svc", port: 15010 } } }), "xds-grpc");
  assert.equal(dns.type, "STRICT_DNS");
  assert.equal(dns.dns_lookup_family, "V4_PREFERRED");
});

test("TLS to the control plane: CA, client cert, SNI, SAN match, ALPN h2", () => {
  const tls = { caFile: "/certs/ca.pem", certFile: "/certs/cert.pem", keyFile: "/certs/key.pem", sni: "cp.example", subjectAltNames: ["cp.example"] };
  const c = cluster(renderBootstrap({ ...base(), xds: { ...base().xds, tls } }), "xds-grpc");
  assert.equal(c.transport_socket.name, "envoy.transport_sockets.tls");
  const ctx = c.transport_socket.typed_config;
  assert.equal(ctx["@type"], "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext");
  assert.equal(ctx.sni, "cp.example");
  assert.deepEqual(ctx.common_tls_context.alpn_protocols, ["h2"]);
  assert.deepEqual(ctx.common_tls_context.tls_certificates, [
    { certificate_chain: { filename: "/certs/cert.pem" }, private_key: { filename: "/certs/key.pem" } },
  ]);
  assert.deepEqual(ctx.common_tls_context.validation_context, {
    trusted_ca: { filename: "/certs/ca.pem" },
    match_typed_subject_alt_names: [{ san_type: "DNS", matcher: { exact: "cp.example" } }],
  });
  const serverOnly = cluster(renderBootstrap({ ...base(), xds: { ...base().xds, tls: { caFile: "/ca.pem", subjectAltNames: [] } } }), "xds-grpc");
  const sctx = serverOnly.transport_socket.typed_config;
  assert.equal(sctx.common_tls_context.tls_certificates, undefined);
  assert.equal(sctx.sni, undefined);
  assert.deepEqual(sctx.common_tls_context.validation_context, { trusted_ca: { filename: "/ca.pem" } });
});

test("stats and readiness listeners forward to the admin API; readiness and zipkin are optional", () => {
  const o = { ...base(), adminPort: 19000, statsPort: 19090, readinessPort: 19021, bindAddress: "127.0.0.1" };
  const b = renderBootstrap(o) as J;
  assert.deepEqual(b.admin, { address: { socket_address: { address: "127.0.0.1", port_value: 19000 } } });
  const stats = listener(b, "prometheus_stats");
  assert.deepEqual(stats.address.socket_address, { address: "127.0.0.1", port_value: 19090 });
  const statsRoute = hcm(stats).route_config.virtual_hosts[0].routes[0];
  assert.deepEqual(statsRoute, { match: { prefix: "/stats/prometheus" }, route: { cluster: "prometheus_stats" } });
  assert.deepEqual(endpoint(cluster(b, "prometheus_stats")), { address: "127.0.0.1", port_value: 19000 });
  const ready = listener(b, "readiness");
  assert.deepEqual(ready.address.socket_address, { address: "127.0.0.1", port_value: 19021 });
  assert.deepEqual(hcm(ready).route_config.virtual_hosts[0].routes[0], {
    match: { prefix: "/healthz/ready" },
    route: { cluster: "readiness", prefix_rewrite: "/ready" },
  });
  assert.deepEqual(
    hcm(ready).http_filters.map((f: J) => f.name),
    ["envoy.filters.http.router"],
  );
  assert.equal(b.tracing, undefined);
  assert.equal(cluster(b, "zipkin"), undefined);

  const { readinessPort: _r, ...noReady } = o;
  const nr = renderBootstrap({ ...noReady, zipkin: { host: "zipkin.istio-system", port: 9411 } }) as J;
  assert.equal(listener(nr, "readiness"), undefined);
  assert.equal(cluster(nr, "readiness"), undefined);
  assert.equal(nr.node.metadata.ENVOY_STATUS_PORT, undefined);
  assert.equal(nr.tracing.http.name, "envoy.tracers.zipkin");
  assert.equal(nr.tracing.http.typed_config.collector_cluster, "zipkin");
  const z = cluster(nr, "zipkin");
  assert.equal(z.type, "STRICT_DNS");
  assert.deepEqual(endpoint(z), { address: "zipkin.istio-system", port_value: 9411 });
});

test("output is deterministic: same options, same bytes, whatever the input map order", () => {
  const a = base();
  const b = { ...base(), labels: { app: "bill-service", version: "v1" }, extraMetadata: { NAMESPACE: "x", AAA: { nested: true }, ZZZ: "last" } };
  assert.equal(serializeBootstrap(renderBootstrap(a)), serializeBootstrap(renderBootstrap(b)));
  assert.ok(serializeBootstrap(renderBootstrap(a)).endsWith("}\n"));
});
