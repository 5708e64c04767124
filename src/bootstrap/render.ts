/**
 * The pilot-agent-style bootstrap (`envoy-rev0.json`) as canonical Envoy v3
 * JSON, from fully resolved options. Pure: no environment, no files, no clock;
 * the same options always give the same object (map-like keys sorted).
 *
 * Shape (after Istio's envoy_bootstrap.json, trimmed to what mini-pilot serves):
 * - node: id `<type>~<ip>~<pod>.<ns>~<domain>`, cluster, locality, metadata
 * - dynamic_resources: LDS and CDS over ADS to the static cluster `xds-grpc`
 * - static_resources: `xds-grpc` (HTTP/2, keepalive, generous breakers, TLS if
 *   asked), `prometheus_stats` → admin for the stats listener, `readiness` →
 *   admin `/ready` for the readiness listener, `zipkin` when tracing is on
 * - admin on 127.0.0.1 only: the admin API can stop Envoy and rewrite runtime,
 *   so only the two listeners above expose a read-only slice of it
 */
import * as net from "node:net";

export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };
type JsonObject = { [k: string]: JsonValue };

export type ProxyType = "sidecar" | "router";
export type XdsApi = "sotw" | "delta";

export interface HostPort {
  host: string;
  port: number;
}

export interface Locality {
  region?: string;
  zone?: string;
  subZone?: string;
}

export interface XdsTls {
  /** CA bundle file; omitted when the roots come over SDS (`ROOTCA` from the agent). */
  caFile?: string;
  /** Present the workload certificate (SDS `default`) and trust SDS `ROOTCA`, as pilot-agent's Envoy does. */
  viaSds?: boolean;
  /** Client certificate for mutual TLS; both or neither of certFile/keyFile. */
  certFile?: string;
  keyFile?: string;
  sni?: string;
  /** DNS SANs the control plane's certificate must carry; empty: chain check only. */
  subjectAltNames: string[];
}

export interface BootstrapOptions {
  proxyType: ProxyType;
  podName: string;
  namespace: string;
  instanceIp: string;
  serviceAccount?: string;
  /** The node id's last part, normally `<namespace>.svc.cluster.local`. */
  dnsDomain: string;
  labels: Record<string, string>;
  /** `ISTIO_META_*` values (prefix stripped); the well-known keys below win over them. */
  extraMetadata: Record<string, JsonValue>;
  clusterId: string;
  meshId: string;
  istioVersion: string;
  workloadName: string;
  interceptionMode: string;
  locality?: Locality;
  xds: {
    address: HostPort;
    api: XdsApi;
    tls?: XdsTls;
    /** How long Envoy waits for the first LDS/CDS answer before it starts anyway; "0s" waits forever (Istio's choice). */
    initialFetchTimeout: string;
  };
  adminPort: number;
  statsPort: number;
  /** Omitted: no readiness listener. */
  readinessPort?: number;
  /** Address the stats and readiness listeners bind, 0.0.0.0 in a pod. */
  bindAddress: string;
  /** The agent's SDS Unix socket: adds the `sds-grpc` cluster that serves `default` and `ROOTCA`. */
  sdsSocket?: string;
  zipkin?: HostPort;
}

export const XDS_CLUSTER = "xds-grpc";
export const STATS_CLUSTER = "prometheus_stats";
export const READINESS_CLUSTER = "readiness";
export const ZIPKIN_CLUSTER = "zipkin";
export const SDS_CLUSTER = "sds-grpc";
/** Istio's names for the SDS secrets pilot-agent serves. */
export const WORKLOAD_SECRET_NAME = "default";
export const ROOT_SECRET_NAME = "ROOTCA";
/** Where pilot-agent's SDS socket lives in an Istio pod. */
export const DEFAULT_SDS_SOCKET = "/var/run/secrets/workload-spiffe-uds/socket";
const ADMIN_HOST = "127.0.0.1";

export function nodeId(o: Pick<BootstrapOptions, "proxyType" | "instanceIp" | "podName" | "namespace" | "dnsDomain">): string {
  return `${o.proxyType}~${o.instanceIp}~${o.podName}.${o.namespace}~${o.dnsDomain}`;
}

/** Istio's service cluster: `<app label>.<ns>`, else `<workload>.<ns>`. */
export function serviceCluster(o: Pick<BootstrapOptions, "labels" | "workloadName" | "namespace">): string {
  const app = o.labels.app;
  return `${app !== undefined && app !== "" ? app : o.workloadName}.${o.namespace}`;
}

export function renderBootstrap(o: BootstrapOptions): JsonObject {
  const clusters: JsonValue[] = [xdsCluster(o), adminCluster(STATS_CLUSTER, o.adminPort)];
  if (o.sdsSocket !== undefined) clusters.push(sdsCluster(o.sdsSocket));
  const listeners: JsonValue[] = [
    adminRouteListener("prometheus_stats", o.bindAddress, o.statsPort, "stats", { prefix: "/stats/prometheus" }, { cluster: STATS_CLUSTER }),
  ];
  if (o.readinessPort !== undefined) {
    clusters.push(adminCluster(READINESS_CLUSTER, o.adminPort));
    listeners.push(
      adminRouteListener(
        "readiness",
        o.bindAddress,
        o.readinessPort,
        "readiness",
        { prefix: "/healthz/ready" },
        { cluster: READINESS_CLUSTER, prefix_rewrite: "/ready" },
      ),
    );
  }
  if (o.zipkin) clusters.push(plainCluster(ZIPKIN_CLUSTER, o.zipkin));
  const out: JsonObject = {
    node: node(o),
    admin: { address: socketAddress(ADMIN_HOST, o.adminPort) },
    dynamic_resources: dynamicResources(o),
    static_resources: { clusters, listeners },
  };
  if (o.zipkin) out.tracing = zipkinTracing();
  return out;
}

// ---------------------------------------------------------------- node

function node(o: BootstrapOptions): JsonObject {
  const out: JsonObject = { id: nodeId(o), cluster: serviceCluster(o) };
  const locality = localityJson(o.locality);
  if (locality) out.locality = locality;
  out.metadata = nodeMetadata(o);
  return out;
}

function localityJson(l: Locality | undefined): JsonObject | undefined {
  if (!l) return undefined;
  const out: JsonObject = {};
  if (l.region) out.region = l.region;
  if (l.zone) out.zone = l.zone;
  if (l.subZone) out.sub_zone = l.subZone;
  return Object.keys(out).length ? out : undefined;
}

/** Istio's BootstrapNodeMetadata keys; the server reads these to build its proxy view. */
export function nodeMetadata(o: BootstrapOptions): JsonObject {
  const meta: JsonObject = { ...o.extraMetadata };
  meta.CLUSTER_ID = o.clusterId;
  meta.ENVOY_PROMETHEUS_PORT = o.statsPort;
  if (o.readinessPort !== undefined) meta.ENVOY_STATUS_PORT = o.readinessPort;
  meta.INSTANCE_IPS = o.instanceIp;
  meta.INTERCEPTION_MODE = o.interceptionMode;
  meta.ISTIO_VERSION = o.istioVersion;
  meta.LABELS = sortedObject(o.labels);
  meta.MESH_ID = o.meshId;
  // NAME is Istio's key for the pod name; POD_NAME is the older spelling that
  // the seed documents show in envoy-rev0.json. Both, so either reader works.
  meta.NAME = o.podName;
  meta.NAMESPACE = o.namespace;
  meta.POD_NAME = o.podName;
  // The agent serves this Envoy a workload certificate: the control plane may give it mutual TLS (model/proxy.ts).
  if (o.sdsSocket !== undefined) meta.SDS = "true";
  else delete meta.SDS;
  if (o.serviceAccount) meta.SERVICE_ACCOUNT = o.serviceAccount;
  else delete meta.SERVICE_ACCOUNT;
  meta.WORKLOAD_NAME = o.workloadName;
  return sortedObject(meta) as JsonObject;
}

function sortedObject<T extends JsonValue>(obj: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const k of Object.keys(obj).sort()) out[k] = obj[k]!;
  return out;
}

// ---------------------------------------------------------------- dynamic resources

function dynamicResources(o: BootstrapOptions): JsonObject {
  const viaAds = (): JsonObject => ({ ads: {}, initial_fetch_timeout: o.xds.initialFetchTimeout, resource_api_version: "V3" });
  return {
    lds_config: viaAds(),
    cds_config: viaAds(),
    ads_config: {
      api_type: o.xds.api === "delta" ? "DELTA_GRPC" : "GRPC",
      transport_api_version: "V3",
      set_node_on_first_message_only: true,
      grpc_services: [{ envoy_grpc: { cluster_name: XDS_CLUSTER } }],
    },
  };
}

// ---------------------------------------------------------------- static clusters

function socketAddress(host: string, port: number): JsonObject {
  return { socket_address: { address: host, port_value: port } };
}

function loadAssignment(name: string, hp: HostPort): JsonObject {
  return { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(hp.host, hp.port) } }] }] };
}

/**
 * STATIC for an IP literal, STRICT_DNS for a name (IPv4 first: a Service name
 * in a v4 cluster must not stall on AAAA). Istio also sets respect_dns_ttl,
 * which Envoy 1.40 deprecates, so it is left out.
 */
function plainCluster(name: string, hp: HostPort, connectTimeout = "1s"): JsonObject {
  const out: JsonObject = { name, type: net.isIP(hp.host) ? "STATIC" : "STRICT_DNS", connect_timeout: connectTimeout, lb_policy: "ROUND_ROBIN" };
  if (!net.isIP(hp.host)) out.dns_lookup_family = "V4_PREFERRED";
  out.load_assignment = loadAssignment(name, hp);
  return out;
}

function adminCluster(name: string, adminPort: number): JsonObject {
  return plainCluster(name, { host: ADMIN_HOST, port: adminPort }, "0.250s");
}

/** Every proxy holds one long-lived ADS stream; the defaults (1024) only bite under a storm of retries. */
const XDS_BREAKER = { max_connections: 100000, max_pending_requests: 100000, max_requests: 100000 };

function xdsCluster(o: BootstrapOptions): JsonObject {
  const out = plainCluster(XDS_CLUSTER, o.xds.address);
  out.circuit_breakers = {
    thresholds: [
      { priority: "DEFAULT", ...XDS_BREAKER },
      { priority: "HIGH", ...XDS_BREAKER },
    ],
  };
  // TCP keepalive finds a control plane that vanished without a FIN (node died);
  // HTTP/2 PINGs find one whose stream is stuck.
  out.upstream_connection_options = { tcp_keepalive: { keepalive_time: 300 } };
  out.typed_extension_protocol_options = {
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
      "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
      explicit_http_config: { http2_protocol_options: { connection_keepalive: { interval: "30s", timeout: "10s" } } },
    },
  };
  if (o.xds.tls) out.transport_socket = upstreamTls(o.xds.tls);
  return out;
}

/**
 * Envoy's way to the agent's SDS server: a Unix socket, HTTP/2 (gRPC), as
 * Istio's bootstrap spells it.
 */
function sdsCluster(socketPath: string): JsonObject {
  return {
    name: SDS_CLUSTER,
    type: "STATIC",
    connect_timeout: "1s",
    lb_policy: "ROUND_ROBIN",
    load_assignment: { cluster_name: SDS_CLUSTER, endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: socketPath } } } }] }] },
    typed_extension_protocol_options: {
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        explicit_http_config: { http2_protocol_options: {} },
      },
    },
  };
}

/** An SDS secret from the agent, exactly as istiod writes the reference into generated TLS contexts. */
export function sdsSecretConfig(name: string): JsonObject {
  return {
    name,
    sds_config: {
      api_config_source: { api_type: "GRPC", transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: SDS_CLUSTER } }] },
      resource_api_version: "V3",
    },
  };
}

function upstreamTls(tls: XdsTls): JsonObject {
  const validation: JsonObject = tls.caFile !== undefined ? { trusted_ca: { filename: tls.caFile } } : {};
  if (tls.subjectAltNames.length) {
    validation.match_typed_subject_alt_names = tls.subjectAltNames.map((name) => ({ san_type: "DNS", matcher: { exact: name } }));
  }
  const common: JsonObject = { alpn_protocols: ["h2"] };
  if (tls.certFile && tls.keyFile) {
    common.tls_certificates = [{ certificate_chain: { filename: tls.certFile }, private_key: { filename: tls.keyFile } }];
  } else if (tls.viaSds) {
    common.tls_certificate_sds_secret_configs = [sdsSecretConfig(WORKLOAD_SECRET_NAME)];
  }
  if (tls.viaSds && tls.caFile === undefined) {
    common.combined_validation_context = { default_validation_context: validation, validation_context_sds_secret_config: sdsSecretConfig(ROOT_SECRET_NAME) };
  } else common.validation_context = validation;
  const ctx: JsonObject = { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", common_tls_context: common };
  if (tls.sni) ctx.sni = tls.sni;
  return { name: "envoy.transport_sockets.tls", typed_config: ctx };
}

// ---------------------------------------------------------------- static listeners

/** A listener whose only route forwards to a slice of the admin API. */
function adminRouteListener(name: string, bind: string, port: number, statPrefix: string, match: JsonObject, route: JsonObject): JsonObject {
  return {
    name,
    address: socketAddress(bind, port),
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
              stat_prefix: statPrefix,
              codec_type: "AUTO",
              route_config: {
                name,
                virtual_hosts: [{ name: "backend", domains: ["*"], routes: [{ match, route }] }],
              },
              http_filters: [
                { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
              ],
            },
          },
        ],
      },
    ],
  };
}

// ---------------------------------------------------------------- tracing

/**
 * Bootstrap-level tracing, as Istio writes it. Envoy marks this field
 * deprecated in favour of per-listener tracing but still honours it, and the
 * HTTP connection managers that mini-pilot generates do not set a provider.
 */
function zipkinTracing(): JsonObject {
  return {
    http: {
      name: "envoy.tracers.zipkin",
      typed_config: {
        "@type": "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig",
        collector_cluster: ZIPKIN_CLUSTER,
        collector_endpoint: "/api/v2/spans",
        collector_endpoint_version: "HTTP_JSON",
        trace_id_128bit: true,
        shared_span_context: false,
      },
    },
  };
}
