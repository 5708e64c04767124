/**
 * Mesh telemetry as istiod's defaults make it: tracing on every HTTP connection
 * manager unless the mesh config says `enableTracing: false`; the Zipkin
 * provider's collector as an HttpService (what Envoy 1.35+ and istiod 1.29+
 * use), kept through encoding; the access log on TCP proxies and, NR-filtered,
 * on virtualInbound/virtualOutbound, but not on the capture-port loop guards.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildMesh, type BuildMeshOptions } from "../../src/model/mesh";
import { parseMeshConfig } from "../../src/model/mesh-config";
import { meshOptionsFromConfig } from "../../src/model/mesh-config-options";
import { parseProxy, type ProxyView } from "../../src/model/proxy";
import { objectsFromManifests } from "../../src/cli/translate";
import { generate } from "../../src/generate";
import { encodeResource, resourceToJson } from "../../src/xds/resource";
import { LISTENER } from "../../src/xds/types";

type J = any;

const MANIFESTS = `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.96.0.10
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}, {name: tcp-db, port: 5432}]
---
apiVersion: v1
kind: Service
metadata: {name: zipkin, namespace: istio-system}
spec:
  clusterIP: 10.96.0.11
  ports: [{name: http, port: 9411}]
`;

function proxy(): ProxyView {
  const p = parseProxy("sidecar~10.0.0.1~web-1.default~default.svc.cluster.local", { LABELS: { app: "web" } });
  assert.ok(p.ok);
  return p.proxy;
}

function options(meshYaml: string | undefined): BuildMeshOptions {
  if (meshYaml === undefined) return {};
  const parsed = parseMeshConfig(meshYaml, "mesh.yaml");
  assert.ok(parsed.ok, parsed.ok ? "" : parsed.errors.join("\n"));
  return meshOptionsFromConfig(parsed.config);
}

/** The listeners as they go on the wire (encoded and decoded). */
function listeners(meshYaml?: string): J[] {
  const loaded = objectsFromManifests([{ file: "input.yaml", text: MANIFESTS }]);
  const { mesh } = buildMesh(loaded.objects, options(meshYaml));
  return generate(mesh, proxy()).listeners.map((l) => resourceToJson(encodeResource(LISTENER, l)) as J);
}

function hcms(ls: J[]): J[] {
  return ls
    .flatMap((l) => [...(l.filter_chains ?? []), ...(l.default_filter_chain ? [l.default_filter_chain] : [])])
    .flatMap((c: J) => c.filters ?? [])
    .filter((f: J) => f.name === "envoy.filters.network.http_connection_manager")
    .map((f: J) => f.typed_config);
}

test("without a mesh config, every connection manager traces at 1% with the istio.* tags (Istio's enableTracing default)", () => {
  const all = hcms(listeners());
  assert.ok(all.length >= 2, "outbound and inbound HTTP");
  for (const h of all) {
    assert.deepEqual(h.tracing.random_sampling, { value: 1 });
    assert.deepEqual(h.tracing.client_sampling, { value: 100 });
    const tags = Object.fromEntries(h.tracing.custom_tags.filter((t: J) => t.literal).map((t: J) => [t.tag, t.literal.value]));
    assert.deepEqual(tags, {
      "istio.canonical_revision": "latest",
      "istio.canonical_service": "unknown",
      "istio.cluster_id": "unknown",
      "istio.mesh_id": "unknown",
      "istio.namespace": "default",
    });
    assert.equal(h.tracing.provider, undefined, "the bootstrap's tracer");
  }
});

test("enableTracing: false turns tracing off; a mesh config that does not mention it keeps the default", () => {
  assert.ok(hcms(listeners("enableTracing: false")).every((h) => h.tracing === undefined));
  assert.ok(hcms(listeners("outboundTrafficPolicy: {mode: REGISTRY_ONLY}")).every((h) => h.tracing?.random_sampling?.value === 1));
});

test("a Zipkin provider names its collector as an HttpService (URI, cluster, timeout, headers), kept on the wire", () => {
  const all = hcms(
    listeners(`
extensionProviders:
  - name: zipkin
    zipkin: {service: zipkin.istio-system.svc.cluster.local, port: 9411, headers: [{name: x-tenant, value: blue}]}
defaultProviders: {tracing: [zipkin]}
`),
  );
  for (const h of all) {
    const z = h.tracing.provider.typed_config;
    assert.equal(z["@type"], "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig");
    assert.equal(z.collector_cluster, undefined);
    assert.deepEqual(z.collector_service, {
      http_uri: {
        uri: "http://zipkin.istio-system.svc.cluster.local/api/v2/spans",
        cluster: "outbound|9411||zipkin.istio-system.svc.cluster.local",
        timeout: "5s",
      },
      request_headers_to_add: [{ header: { key: "x-tenant", value: "blue" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" }],
    });
  }
});

test("an access log goes on TCP proxies and, for unmatched connections (NR), on virtualInbound/virtualOutbound; not on the loop guards", () => {
  const ls = listeners("accessLogFile: /dev/stdout\nenableTracing: false");
  const byName = new Map(ls.map((l) => [l.name, l]));
  const tcpProxies = (l: J) =>
    [...(l.filter_chains ?? []), ...(l.default_filter_chain ? [l.default_filter_chain] : [])].flatMap((c: J) =>
      (c.filters ?? []).filter((f: J) => f.name === "envoy.filters.network.tcp_proxy").map((f: J) => ({ match: c.filter_chain_match, cfg: f.typed_config })),
    );
  const db = tcpProxies(byName.get("10.96.0.10_5432"));
  assert.equal(db.length, 1);
  assert.equal(db[0].cfg.access_log[0].typed_config.path, "/dev/stdout");
  for (const name of ["virtualOutbound", "virtualInbound"]) {
    const l = byName.get(name);
    assert.deepEqual(
      l.access_log.map((a: J) => a.filter),
      [{ response_flag_filter: { flags: ["NR"] } }],
      name,
    );
    for (const t of tcpProxies(l)) {
      const guard = t.match?.destination_port === l.address.socket_address.port_value;
      assert.equal(t.cfg.access_log === undefined, guard, `${name} ${JSON.stringify(t.match)}: logged unless it is the loop guard`);
    }
  }
  // An outbound service listener logs in its chains, not as a listener.
  assert.equal(byName.get("10.96.0.10_5432").access_log, undefined);
  assert.deepEqual(
    listeners("enableTracing: false").flatMap((l) => tcpProxies(l).filter((t: J) => t.cfg.access_log)),
    [],
    "no access log configured: none anywhere",
  );
});
