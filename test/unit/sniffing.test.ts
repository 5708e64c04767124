/**
 * Protocol detection on sidecar listeners (generate/sniffing.ts and its use in sidecar-listeners.ts):
 * which chains match what, the fallback by outboundTrafficPolicy, and where the inspectors run.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildMesh, type BuildMeshOptions } from "../../src/model/mesh";
import { parseProxy, type ProxyView } from "../../src/model/proxy";
import type { MeshObject, Service } from "../../src/model/types";
import { generate } from "../../src/generate";
import type { FilterChain, Listener } from "../../src/generate/envoy";
import { inboundInspectors } from "../../src/generate/sniffing";

function proxy(labels: Record<string, string>, meta: Record<string, unknown> = {}): ProxyView {
  const r = parseProxy("sidecar~10.0.0.9~sleep-1.default~default.svc.cluster.local", { LABELS: labels, ...meta });
  if (!r.ok) throw new Error(r.error);
  return r.proxy;
}

function service(name: string, ip: string, ports: Service["spec"]["ports"]): Service {
  return { kind: "Service", apiVersion: "v1", metadata: { name, namespace: "default" }, spec: { clusterIP: ip, selector: { app: name }, ports } };
}

function listeners(objects: MeshObject[], p: ProxyView, options: BuildMeshOptions = {}): Map<string, Listener> {
  const out = generate(buildMesh(objects, options).mesh, p);
  return new Map(out.listeners.map((l) => [String(l.name), l]));
}

const tcpCluster = (c: FilterChain | undefined) => (c?.filters?.[0]?.typed_config as { cluster?: string } | undefined)?.cluster;

test("an HTTP port's listener takes HTTP on the inspector's ALPNs and passes the rest through (ALLOW_ANY) or drops it (REGISTRY_ONLY)", () => {
  const objs = [service("api", "10.96.0.10", [{ name: "http", port: 80 }])];
  for (const [policy, cluster] of [
    ["ALLOW_ANY", "PassthroughCluster"],
    ["REGISTRY_ONLY", "BlackHoleCluster"],
  ] as const) {
    const l = listeners(objs, proxy({ app: "sleep" }), { outboundTrafficPolicy: policy }).get("0.0.0.0_80")!;
    assert.deepEqual(l.filter_chains?.[0]?.filter_chain_match, { application_protocols: ["http/1.1", "h2c"], transport_protocol: "raw_buffer" });
    assert.equal(l.default_filter_chain?.name, "PassthroughFilterChain");
    assert.equal(tcpCluster(l.default_filter_chain), cluster);
    assert.deepEqual(
      l.listener_filters?.map((f) => f.name),
      ["envoy.filters.listener.http_inspector"],
    );
    assert.equal(l.continue_on_listener_filters_timeout, true);
    assert.equal(l.listener_filters_timeout, "0s");
  }
});

test("a port without a protocol: HTTP chain on its own RDS <host>:<port>, the service's tcp_proxy for the rest, protocolDetectionTimeout", () => {
  const objs = [service("echo", "10.96.0.50", [{ port: 9000 }])];
  const l = listeners(objs, proxy({ app: "sleep" }), { protocolDetectionTimeoutMs: 1500 }).get("10.96.0.50_9000")!;
  const hcm = l.filter_chains?.[0]?.filters?.[0]?.typed_config as { rds?: { route_config_name?: string } };
  assert.equal(hcm.rds?.route_config_name, "echo.default.svc.cluster.local:9000");
  assert.equal(tcpCluster(l.default_filter_chain), "outbound|9000||echo.default.svc.cluster.local");
  assert.equal(l.listener_filters_timeout, "1.500s");
  const out = generate(buildMesh(objs).mesh, proxy({ app: "sleep" }));
  const rc = out.routes.find((r) => r.name === "echo.default.svc.cluster.local:9000");
  assert.deepEqual(
    rc?.virtual_hosts?.map((v) => v.domains),
    [["*"]],
  );
  const cluster = out.clusters.find((c) => c.name === "outbound|9000||echo.default.svc.cluster.local")!;
  const opts = cluster.typed_extension_protocol_options?.["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"] as {
    use_downstream_protocol_config?: object;
  };
  assert.ok(opts?.use_downstream_protocol_config, "sniffed ports send on in the client's protocol");
});

test("inbound: an auto port gets an HTTP and a TCP chain per mTLS variant, as Istio's tables", () => {
  const objs = [service("sleep", "10.96.0.9", [{ port: 8080 }])];
  const plain = listeners(objs, proxy({ app: "sleep" })).get("virtualInbound")!;
  const matches = (l: Listener) => l.filter_chains!.filter((c) => c.name === "0.0.0.0_8080").map((c) => c.filter_chain_match);
  assert.deepEqual(matches(plain), [
    { destination_port: 8080, transport_protocol: "raw_buffer", application_protocols: ["http/1.1", "h2c"] },
    { destination_port: 8080, transport_protocol: "raw_buffer" },
  ]);
  const permissive = listeners(objs, proxy({ app: "sleep" }, { SDS: "true" })).get("virtualInbound")!;
  assert.deepEqual(
    matches(permissive).map((m) => [m?.transport_protocol, m?.application_protocols?.join(",") ?? ""]),
    [
      ["tls", "istio-http/1.0,istio-http/1.1,istio-h2"],
      ["raw_buffer", "http/1.1,h2c"],
      ["tls", "istio-peer-exchange,istio"],
      ["raw_buffer", ""],
      ["tls", ""],
    ],
  );
  const inbound = generate(buildMesh(objs).mesh, proxy({ app: "sleep" })).clusters.find((c) => c.name === "inbound|8080||")!;
  assert.ok(JSON.stringify(inbound.typed_extension_protocol_options).includes("use_downstream_protocol_config"), "the app gets h2c as h2c");
  // The HTTP inspector runs on 8080 and the undeclared ports (the passthrough sniffs too), not on 15006.
  const lf = permissive.listener_filters!.map((f) => [f.name, JSON.stringify(f.filter_disabled ?? null)]);
  assert.deepEqual(lf[0], ["envoy.filters.listener.original_dst", "null"]);
  assert.deepEqual(lf[2], ["envoy.filters.listener.http_inspector", JSON.stringify({ destination_port_range: { start: 15006, end: 15007 } })]);
});

test("inspectors: TLS opted in per port when the catch-all does not need it, out when it does; HTTP always opted out", () => {
  const chain = (port: number | undefined, transport?: string, alpn?: string[]): FilterChain => ({
    filter_chain_match: {
      ...(port ? { destination_port: port } : {}),
      ...(transport ? { transport_protocol: transport } : {}),
      ...(alpn ? { application_protocols: alpn } : {}),
    },
  });
  assert.deepEqual(inboundInspectors([chain(15006), chain(80, "raw_buffer")]), []);
  const optIn = inboundInspectors([chain(15006), chain(80, "tls"), chain(81, "tls"), chain(82, "raw_buffer", ["http/1.1", "h2c"])]);
  assert.deepEqual(
    optIn.map((f) => [f.name, f.filter_disabled]),
    [
      [
        "envoy.filters.listener.tls_inspector",
        { not_match: { or_match: { rules: [{ destination_port_range: { start: 80, end: 81 } }, { destination_port_range: { start: 81, end: 82 } }] } } },
      ],
      [
        "envoy.filters.listener.http_inspector",
        {
          or_match: {
            rules: [
              { destination_port_range: { start: 80, end: 81 } },
              { destination_port_range: { start: 81, end: 82 } },
              { destination_port_range: { start: 15006, end: 15007 } },
            ],
          },
        },
      ],
    ],
  );
  // A catch-all matching TLS (workload STRICT): on everywhere but the ports that do not need it.
  const optOut = inboundInspectors([chain(15006), chain(undefined, "tls"), chain(80, "tls")]);
  assert.deepEqual(optOut[0]?.filter_disabled, { destination_port_range: { start: 15006, end: 15007 } });
});
