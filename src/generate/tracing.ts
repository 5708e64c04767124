/**
 * The HTTP connection manager's `tracing`, as istiod builds it from mesh
 * config (pilot/pkg/networking/core/tracing.go, no Telemetry resources):
 *
 * - sampling: client 100, overall 100, random = defaultConfig.tracing.sampling
 *   (default 1);
 * - custom tags: the istio.* literals (canonical service/revision, mesh,
 *   namespace, cluster) and the four authorization dry-run tags, by tag name;
 * - with a default tracing provider (defaultProviders.tracing), the HCM names
 *   the tracer itself: Zipkin (HTTP JSON v2, 128-bit ids, collector_service
 *   `http://<host><path>` over cluster `outbound|<port>||<service>`, timeout 5s) or OpenTelemetry (OTLP over gRPC or HTTP).
 *   Without one (legacy `enableTracing`), the tracer is the bootstrap's.
 *
 * istiod leaves tracing out when the provider's service is not in the
 * registry; so does this, with a diagnostic saying why.
 */
import type { Mesh, TracingProvider } from "../model/mesh";
import type { ProxyView } from "../model/proxy";
import type { Diagnostic } from "../model/types";
import { istioDuration, typed } from "./common";
import type { HttpConnectionManager } from "./envoy";
import { outboundClusterName } from "./names";

export type HcmTracing = NonNullable<HttpConnectionManager["tracing"]>;
type CustomTag = NonNullable<HcmTracing["custom_tags"]>[number];
type Provider = NonNullable<HcmTracing["provider"]>;

const RBAC_FILTER = "envoy.filters.http.rbac";

/** `tracing` for this proxy's connection managers, or undefined (off, or the provider cannot be found). */
export function hcmTracing(mesh: Mesh, proxy: ProxyView, diagnostics: Diagnostic[]): HcmTracing | undefined {
  const t = mesh.options.tracing;
  if (!t) return undefined;
  const out: HcmTracing = {};
  if (t.provider) {
    const provider = providerConfig(mesh, t.provider, proxy, diagnostics);
    if (!provider) return undefined;
    out.provider = provider;
    // PILOT_SPAWN_UPSTREAM_SPAN_FOR_GATEWAY (default on): a gateway's upstream call gets its own span.
    if (proxy.kind === "router") out.spawn_upstream_span = true;
    if (t.provider.maxTagLength) out.max_path_tag_length = t.provider.maxTagLength;
  }
  out.client_sampling = { value: 100 };
  out.random_sampling = { value: t.sampling };
  out.overall_sampling = { value: 100 };
  const tags = t.istioTags ? istioTags(proxy) : [];
  if (tags.length > 0) out.custom_tags = tags;
  if (out.max_path_tag_length === undefined && t.maxPathTagLength) out.max_path_tag_length = t.maxPathTagLength;
  return out;
}

function providerConfig(mesh: Mesh, p: TracingProvider, proxy: ProxyView, diagnostics: Diagnostic[]): Provider | undefined {
  const host = lookupHost(mesh, p.service);
  if (!host) {
    diagnostics.push({
      severity: "warning",
      kind: "MeshConfig",
      namespace: mesh.options.rootNamespace,
      name: "mesh",
      field: "extensionProviders",
      message: `tracing provider "${p.name}": service "${p.service}" is not in the registry, so connection managers carry no tracing (as istiod)`,
    });
    return undefined;
  }
  const cluster = outboundClusterName(p.port, "", host);
  if (p.kind === "zipkin") {
    // istiod (zipkinConfig) for a 1.29+ proxy: the collector as an HttpService (URI, cluster, timeout, headers),
    // not the legacy collector_cluster/endpoint/hostname; USE_B3 trace context (the enum default).
    return {
      name: "envoy.tracers.zipkin",
      typed_config: typed("envoy.config.trace.v3.ZipkinConfig", {
        trace_id_128bit: p.traceId128,
        shared_span_context: false,
        collector_endpoint_version: "HTTP_JSON",
        collector_service: {
          http_uri: { uri: `http://${host}${p.path}`, cluster, timeout: istioDuration(p.timeout) ?? "5s" },
          ...(p.headers.length ? { request_headers_to_add: headersToAdd(p.headers) } : {}),
        },
      }),
    };
  }
  const otel: Record<string, unknown> = {};
  if (p.http) {
    otel.http_service = {
      http_uri: { uri: joinPath(host, p.http.path), cluster, timeout: istioDuration(p.http.timeout) ?? "0s" },
      ...(p.http.headers.length ? { request_headers_to_add: headersToAdd(p.http.headers) } : {}),
    };
  } else {
    const timeout = istioDuration(p.grpc?.timeout);
    const metadata = p.grpc?.initialMetadata ?? [];
    otel.grpc_service = {
      envoy_grpc: { cluster_name: cluster, authority: host },
      ...(timeout ? { timeout } : {}),
      ...(metadata.length ? { initial_metadata: metadata.map((h) => ({ key: h.name, value: h.value })) } : {}),
    };
  }
  otel.service_name = serviceCluster(proxy);
  return { name: "envoy.tracers.opentelemetry", typed_config: typed("envoy.config.trace.v3.OpenTelemetryConfig", otel) };
}

/** istiod's buildHTTPHeaders: each header set, replacing a value the request has. */
function headersToAdd(headers: { name: string; value: string }[]): { header: { key: string; value: string }; append_action: "OVERWRITE_IF_EXISTS_OR_ADD" }[] {
  return headers.map((h) => ({ header: { key: h.name, value: h.value }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" }));
}

/** istiod's model.LookupCluster: "host" or "namespace/host", found in the service registry. */
function lookupHost(mesh: Mesh, service: string): string | undefined {
  const slash = service.indexOf("/");
  const host = slash >= 0 ? service.slice(slash + 1) : service;
  return mesh.servicesByHost.has(host) ? host : undefined;
}

/** url.JoinPath(hostname, path) as istiod writes the OTLP/HTTP URI. */
function joinPath(host: string, path: string): string {
  const p = path.replace(/^\/+/, "");
  return p ? `${host}/${p}` : host;
}

/** The node's service cluster as pilot-agent sets it: `<app label or pod>.<namespace>`. */
function serviceCluster(proxy: ProxyView): string {
  const app = proxy.labels.app;
  return `${app !== undefined && app !== "" ? app : proxy.podName}.${proxy.namespace}`;
}

function literal(tag: string, value: string): CustomTag {
  return { tag, literal: { value } };
}

function dryRunTag(tag: string, key: string): CustomTag {
  return { tag, metadata: { kind: { request: {} }, metadata_key: { key: RBAC_FILTER, path: [{ key }] } } };
}

/** istiod's buildServiceTags + optionalPolicyTags, sorted by tag. */
function istioTags(proxy: ProxyView): CustomTag[] {
  const tags = [
    literal("istio.canonical_revision", proxy.labels["service.istio.io/canonical-revision"] || "latest"),
    literal("istio.canonical_service", proxy.labels["service.istio.io/canonical-name"] || "unknown"),
    literal("istio.mesh_id", proxy.meshId || "unknown"),
    literal("istio.namespace", proxy.namespace || "default"),
    literal("istio.cluster_id", proxy.clusterId || "unknown"),
    dryRunTag("istio.authorization.dry_run.allow_policy.name", "istio_dry_run_allow_shadow_effective_policy_id"),
    dryRunTag("istio.authorization.dry_run.allow_policy.result", "istio_dry_run_allow_shadow_engine_result"),
    dryRunTag("istio.authorization.dry_run.deny_policy.name", "istio_dry_run_deny_shadow_effective_policy_id"),
    dryRunTag("istio.authorization.dry_run.deny_policy.result", "istio_dry_run_deny_shadow_engine_result"),
  ];
  return tags.sort((a, b) => (a.tag! < b.tag! ? -1 : a.tag! > b.tag! ? 1 : 0));
}
