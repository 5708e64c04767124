/**
 * The defaults istiod writes (src/generate/istio-defaults.ts and the places
 * that use it), checked on generated output: retries, route timeouts, the
 * connection manager of each listener class, cluster panic threshold and DNS
 * settings, endpoint health and `istio.workload` metadata.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildMesh } from "../../src/model/mesh";
import type { MeshObject, Service } from "../../src/model/types";
import { generate } from "../../src/generate";
import { retryPolicy, defaultRetryPolicy } from "../../src/generate/route-action";
import { podWorkloadName, istioWorkloadValue } from "../../src/model/workload-meta";
import { sliceEndpointHealth } from "../../src/model/mesh-endpoints";
import { validateObject } from "../../src/model/validate";
import { parseMeshConfig } from "../../src/model/mesh-config";
import { meshOptionsFromConfig } from "../../src/model/mesh-config-options";
import { classHcmFields } from "../../src/generate/istio-defaults";
import { endpointSlice, proxy } from "../support/mesh-fixtures";

type Json = Record<string, unknown>;
const j = (v: unknown): Json => v as Json;

const WEB = proxy("sidecar~10.0.0.1~web-1.default~default.svc.cluster.local", { app: "web" });

const svc = (name: string, ports: Service["spec"]["ports"]): Service => ({
  kind: "Service",
  apiVersion: "v1",
  metadata: { name, namespace: "default" },
  spec: { clusterIP: "10.96.0.1" + name.length, selector: { app: name }, ports },
});

function objects(): MeshObject[] {
  return [
    svc("web", [
      { name: "http", port: 80, targetPort: 8080 },
      { name: "grpc", port: 9090, targetPort: 9090 },
    ]),
    svc("api", [{ name: "http", port: 80, targetPort: 8080 }]),
    {
      kind: "Pod",
      apiVersion: "v1",
      metadata: { name: "web-1", namespace: "default", labels: { app: "web" } },
      spec: { podIP: "10.0.0.1" },
    },
    endpointSlice("api", 8080, [
      { addresses: ["10.0.0.2"], conditions: { ready: true, serving: true, terminating: false } },
      { addresses: ["10.0.0.3"], conditions: { ready: false, serving: false, terminating: false } },
      { addresses: ["10.0.0.4"], conditions: { ready: false, serving: true, terminating: true } },
    ]),
    {
      kind: "DestinationRule",
      apiVersion: "networking.istio.io/v1",
      metadata: { name: "api", namespace: "default" },
      spec: {
        host: "api",
        subsets: [{ name: "guarded", labels: {}, trafficPolicy: { outlierDetection: { consecutive5xxErrors: 5, minHealthPercent: 50 } } }],
      },
    },
    {
      kind: "ServiceEntry",
      apiVersion: "networking.istio.io/v1",
      metadata: { name: "ext", namespace: "default" },
      spec: { hosts: ["ext.example.com"], ports: [{ number: 443, name: "tls", protocol: "TLS" }], resolution: "DNS", location: "MESH_EXTERNAL" },
    },
  ];
}

const out = () => generate(buildMesh(objects()).mesh, WEB);
const cluster = (name: string) => j(out().clusters.find((c) => c.name === name));
const hcmOf = (chain: unknown) => j(j((j(chain).filters as Json[]).find((f) => f.name === "envoy.filters.network.http_connection_manager")).typed_config);

test("default retry: no 503, previous hosts, 5 host selection attempts; codes only via a VirtualService", () => {
  const p = j(defaultRetryPolicy(false));
  assert.equal(p.retry_on, "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes");
  assert.equal(p.num_retries, 2);
  assert.equal(p.host_selection_retry_max_attempts, 5);
  assert.equal(p.retriable_status_codes, undefined, "istiod no longer retries 503 by default");
  assert.equal((p.retry_host_predicate as Json[])[0]!.name, "envoy.retry_host_predicates.previous_hosts");
  assert.equal(j(defaultRetryPolicy(true)).retry_host_predicate, undefined);
  const codesOnly = j(retryPolicy({ attempts: 3, retryOn: "503,429" }, false));
  assert.equal(codesOnly.retry_on, ",retriable-status-codes", "istiod appends the token as text");
  assert.deepEqual(codesOnly.retriable_status_codes, [503, 429]);
  assert.equal(j(retryPolicy({ attempts: 1, retryOn: "5xx" }, false)).retriable_status_codes, undefined);
});

test("outbound default route: timeout and max_grpc_timeout 0s, default retries", () => {
  const rc = out().routes.find((r) => r.name === "80")!;
  const vh = rc.virtual_hosts!.find((v) => v.name === "api.default.svc.cluster.local:80")!;
  const action = j(vh.routes![0]!.route);
  assert.equal(action.timeout, "0s");
  assert.equal(action.max_grpc_timeout, "0s");
  assert.equal(j(action.retry_policy).retriable_status_codes, undefined);
});

test("connection managers: shared defaults, then sidecar outbound / inbound classes", () => {
  const listeners = out().listeners;
  const outbound = hcmOf(listeners.find((l) => l.name === "0.0.0.0_80")!.filter_chains![0]);
  for (const [k, v] of Object.entries({
    normalize_path: true,
    path_with_escaped_slashes_action: "KEEP_UNCHANGED",
    proxy_100_continue: true,
    stream_idle_timeout: "0s",
    use_remote_address: false,
  }))
    assert.deepEqual(outbound[k], v, k);
  assert.equal(j(j(outbound.request_id_extension).typed_config).use_request_id_for_trace_sampling, true);
  assert.equal(outbound.server_name, undefined, "outbound keeps Envoy's own server name, as istiod");
  assert.equal(outbound.forward_client_cert_details, undefined);

  const inbound = listeners.find((l) => l.name === "virtualInbound")!;
  const chain = inbound.filter_chains!.find((c) => c.name === "0.0.0.0_8080")!;
  const hcm = hcmOf(chain);
  assert.equal(hcm.server_name, "istio-envoy");
  assert.equal(hcm.forward_client_cert_details, "APPEND_FORWARD");
  assert.deepEqual(hcm.set_current_client_cert_details, { subject: true, dns: true, uri: true });
  assert.equal(hcm.normalize_path, true);
  assert.deepEqual(
    (hcm.http_filters as Json[]).map((f) => f.name),
    ["envoy.filters.http.fault", "envoy.filters.http.cors", "envoy.filters.http.router"],
    "inbound has outbound's fault and CORS filters, router last",
  );
  const vhosts = j(hcm.route_config).virtual_hosts as Json[];
  const action = j((vhosts[0]!.routes as Json[])[0]!.route);
  assert.deepEqual(action.retry_policy, { retry_on: "reset-before-request", num_retries: 2 });
  assert.deepEqual(action.max_stream_duration, { max_stream_duration: "0s", grpc_timeout_header_max: "0s" });
});

test("inbound gRPC port: no reset-before-request retry (it breaks streams)", () => {
  const inbound = out().listeners.find((l) => l.name === "virtualInbound")!;
  const hcm = hcmOf(inbound.filter_chains!.find((c) => c.name === "0.0.0.0_9090")!);
  const vhosts = j(hcm.route_config).virtual_hosts as Json[];
  const action = j((vhosts[0]!.routes as Json[])[0]!.route);
  assert.equal(action.retry_policy, undefined);
});

test("clusters: panic threshold 0 unless outlier detection sets minHealthPercent; inbound never cleans up", () => {
  assert.deepEqual(cluster("outbound|80||api.default.svc.cluster.local").common_lb_config, { healthy_panic_threshold: { value: 0 } });
  assert.deepEqual(cluster("outbound|80|guarded|api.default.svc.cluster.local").common_lb_config, { healthy_panic_threshold: { value: 50 } });
  assert.equal(cluster("inbound|8080||").cleanup_interval, "9223372035s");
  assert.equal(cluster("inbound|8080||").common_lb_config, undefined, "istiod applies no load balancer settings inbound");
});

test("DNS clusters: refresh rate, TTL, c-ares resolver as istiod; ServiceEntry metadata named after the host", () => {
  const c = cluster("outbound|443||ext.example.com");
  assert.equal(c.type, "STRICT_DNS");
  assert.equal(c.dns_refresh_rate, "60s");
  assert.equal(c.respect_dns_ttl, true);
  assert.equal(c.dns_lookup_family, "V4_ONLY");
  const resolver = j(c.typed_dns_resolver_config);
  assert.equal(resolver.name, "envoy.network.dns_resolver.cares");
  assert.equal(j(resolver.typed_config).udp_max_queries, 100);
  // A MESH_EXTERNAL entry's main cluster says external: true (istiod's applyDestinationRule).
  assert.deepEqual(j(j(c.metadata).filter_metadata).istio, {
    services: [{ host: "ext.example.com", name: "ext.example.com", namespace: "default" }],
    external: true,
  });
  const localities = j(c.load_assignment).endpoints as Json[];
  const ep = (localities[0]!.lb_endpoints as Json[])[0]!;
  assert.deepEqual(j(ep.metadata).filter_metadata, { istio: { workload: "ext;default;ext;;Kubernetes" } });
});

test("endpoints: not-ready sent UNHEALTHY, terminating left out; a minHealthPercent cluster gets healthy ones only", () => {
  const eps = out().endpoints;
  const hosts = (name: string) =>
    eps
      .find((e) => e.cluster_name === name)!
      .endpoints!.flatMap((l) => l.lb_endpoints!)
      .map((e) => [j(j(e.endpoint).address).socket_address && j(j(j(e.endpoint).address).socket_address).address, e.health_status]);
  assert.deepEqual(hosts("outbound|80||api.default.svc.cluster.local"), [
    ["10.0.0.2", "HEALTHY"],
    ["10.0.0.3", "UNHEALTHY"],
  ]);
  assert.deepEqual(hosts("outbound|80|guarded|api.default.svc.cluster.local"), [["10.0.0.2", "HEALTHY"]]);
});

test("endpoint health follows istiod's endpointHealthStatus", () => {
  assert.equal(sliceEndpointHealth({}), "HEALTHY");
  assert.equal(sliceEndpointHealth({ ready: true, terminating: true }), "HEALTHY");
  assert.equal(sliceEndpointHealth({ ready: false }), "TERMINATING", "terminating unset counts as terminating");
  assert.equal(sliceEndpointHealth({ ready: false, terminating: false }), "UNHEALTHY");
  assert.equal(sliceEndpointHealth({ ready: false, serving: true, terminating: true }), "TERMINATING");
});

test("workload names: label, Deployment through its ReplicaSet, CronJob through its Job, else the pod", () => {
  const owned = (kind: string, name: string, labels: Record<string, string> = {}) => ({
    name: "x-abc12",
    generateName: "x-",
    labels,
    ownerReferences: [{ kind, name, controller: true }],
  });
  assert.equal(podWorkloadName(owned("ReplicaSet", "reviews-v1-7f9c8d6b5", { "pod-template-hash": "7f9c8d6b5" })), "reviews-v1");
  assert.equal(podWorkloadName(owned("ReplicaSet", "rs-without-hash")), "rs-without-hash");
  assert.equal(podWorkloadName(owned("Job", "backup-28810080")), "backup");
  assert.equal(podWorkloadName(owned("StatefulSet", "db")), "db");
  assert.equal(podWorkloadName({ name: "solo", labels: { "service.istio.io/workload-name": "named" } }), "named");
  assert.equal(podWorkloadName({ name: "solo", ownerReferences: [{ kind: "ReplicaSet", name: "rs", controller: true }] }), "solo", "not generated");
  assert.equal(istioWorkloadValue("reviews-v1", "default", { app: "reviews", version: "v1" }), "reviews-v1;default;reviews;v1;Kubernetes");
  assert.equal(
    istioWorkloadValue("w", "ns", { "service.istio.io/canonical-name": "c", app: "a", "service.istio.io/canonical-revision": "latest" }),
    "w;ns;c;;Kubernetes",
  );
});

test("a Pod read from YAML carries its workload name", () => {
  const r = validateObject(
    {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: "reviews-v1-7f9c8d6b5-abcde",
        generateName: "reviews-v1-7f9c8d6b5-",
        namespace: "default",
        labels: { app: "reviews", "pod-template-hash": "7f9c8d6b5" },
        ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: "reviews-v1-7f9c8d6b5", controller: true, uid: "u" }],
      },
      spec: { containers: [{ name: "app" }] },
      status: { podIP: "10.0.0.7" },
    },
    { file: "pod.yaml", line: 1 },
  );
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal((r.object as { spec: { workloadName?: string } }).spec.workloadName, "reviews-v1");
});

test("gateway topology from the mesh config: forwardClientCertDetails and numTrustedProxies; bad values refused", () => {
  const ok = parseMeshConfig("defaultConfig:\n  gatewayTopology:\n    numTrustedProxies: 2\n    forwardClientCertDetails: APPEND_FORWARD\n", "mesh.yaml");
  assert.ok(ok.ok, JSON.stringify(ok));
  assert.deepEqual(meshOptionsFromConfig(ok.config).gatewayTopology, { numTrustedProxies: 2, forwardClientCertDetails: "APPEND_FORWARD" });
  const undef = parseMeshConfig("defaultConfig:\n  gatewayTopology:\n    forwardClientCertDetails: UNDEFINED\n", "mesh.yaml");
  assert.ok(undef.ok);
  assert.equal(meshOptionsFromConfig(undef.config).gatewayTopology, undefined, "UNDEFINED keeps the gateway default");
  const bad = parseMeshConfig("defaultConfig:\n  gatewayTopology:\n    forwardClientCertDetails: SOMETIMES\n", "mesh.yaml");
  assert.ok(!bad.ok);
  assert.match(bad.errors.join("\n"), /mesh\.yaml.*defaultConfig\.gatewayTopology\.forwardClientCertDetails/);

  const hcm = (fcc?: "APPEND_FORWARD" | "FORWARD_ONLY") => {
    const gw = classHcmFields("gateway", fcc ? { forwardClientCertDetails: fcc, numTrustedProxies: 1 } : {});
    return gw;
  };
  assert.equal(hcm().forward_client_cert_details, "SANITIZE_SET");
  assert.ok(hcm().set_current_client_cert_details);
  assert.equal(hcm("APPEND_FORWARD").xff_num_trusted_hops, 1);
  assert.ok(hcm("APPEND_FORWARD").set_current_client_cert_details);
  assert.equal(hcm("FORWARD_ONLY").set_current_client_cert_details, undefined, "details are set only when Envoy forwards its own");
});

test("VirtualService retries: retryIgnorePreviousHosts decides the predicate, backoff is the base interval", () => {
  assert.ok(j(retryPolicy({ attempts: 2, retryIgnorePreviousHosts: true }, true)).retry_host_predicate, "set: on even with hashing");
  assert.equal(j(retryPolicy({ attempts: 2, retryIgnorePreviousHosts: false }, false)).retry_host_predicate, undefined, "false: off");
  assert.deepEqual(j(retryPolicy({ attempts: 2, backoff: "25ms" }, false)).retry_back_off, { base_interval: "0.025s" });
  assert.equal(j(retryPolicy({ attempts: 2 }, false)).retry_back_off, undefined);
});

test("mesh config pathNormalization and defaultHttpRetryPolicy reach the options; bad values refused", () => {
  const ok = parseMeshConfig("pathNormalization: {normalization: DECODE_AND_MERGE_SLASHES}\ndefaultHttpRetryPolicy: {attempts: 0}\n", "mesh.yaml");
  assert.ok(ok.ok, JSON.stringify(ok));
  const o = meshOptionsFromConfig(ok.config);
  assert.equal(o.pathNormalization, "DECODE_AND_MERGE_SLASHES");
  assert.deepEqual(o.defaultHttpRetryPolicy, { attempts: 0 });
  const base = parseMeshConfig("pathNormalization: {normalization: DEFAULT}\n", "mesh.yaml");
  assert.ok(base.ok);
  assert.equal(meshOptionsFromConfig(base.config).pathNormalization, undefined, "DEFAULT is BASE, the built-in");
  const bad = parseMeshConfig("pathNormalization: {normalization: SOMETIMES}\ndefaultHttpRetryPolicy: {attempts: many}\n", "mesh.yaml");
  assert.ok(!bad.ok);
  assert.match(bad.errors.join("\n"), /pathNormalization\.normalization/);
  assert.match(bad.errors.join("\n"), /defaultHttpRetryPolicy\.attempts/);

  // attempts 0 in the mesh default: routes without VirtualService retries get none, default routes included.
  const mesh = buildMesh(objects(), { defaultHttpRetryPolicy: { attempts: 0 }, pathNormalization: "DECODE_AND_MERGE_SLASHES" }).mesh;
  const g = generate(mesh, WEB);
  const vh = g.routes.find((r) => r.name === "80")!.virtual_hosts!.find((v) => v.name === "api.default.svc.cluster.local:80")!;
  assert.equal(j(vh.routes![0]!.route).retry_policy, undefined);
  const hcm = hcmOf(g.listeners.find((l) => l.name === "0.0.0.0_80")!.filter_chains![0]);
  assert.equal(hcm.merge_slashes, true);
  assert.equal(hcm.path_with_escaped_slashes_action, "UNESCAPE_AND_FORWARD");
  const inbound = hcmOf(g.listeners.find((l) => l.name === "virtualInbound")!.filter_chains!.find((c) => c.name === "0.0.0.0_8080"));
  assert.equal(inbound.merge_slashes, true, "inbound too");
});

test("an endpoint whose targetRef Pod is not known yet is held back (istiod waits for the Pod)", () => {
  const objs = objects().map((o) =>
    o.kind === "EndpointSlice"
      ? { ...o, spec: { ...o.spec, endpoints: [...o.spec.endpoints, { addresses: ["10.0.0.9"], targetRef: { kind: "Pod", name: "api-later" } }] } }
      : o,
  );
  const eps = buildMesh(objs).mesh.endpoints.get("api.default.svc.cluster.local")!.get(80)!;
  assert.deepEqual(
    eps.map((e) => e.address),
    ["10.0.0.2", "10.0.0.3"],
  );
  const withPod = buildMesh([
    ...objs,
    { kind: "Pod", apiVersion: "v1", metadata: { name: "api-later", namespace: "default", labels: { app: "api" } }, spec: { podIP: "10.0.0.9" } },
  ])
    .mesh.endpoints.get("api.default.svc.cluster.local")!
    .get(80)!;
  assert.deepEqual(
    withPod.map((e) => e.address),
    ["10.0.0.2", "10.0.0.3", "10.0.0.9"],
  );
});
