/**
 * The values istiod writes when nothing in the config asks for another, in
 * one place. Each constant names the istiod code it comes from (Istio 1.31,
 * pilot/pkg/...), so a reader can check it against the target version and the
 * fidelity harness can explain a difference. docs/ENVOY.md lists them.
 */
import { typed } from "./common";
import type { Cluster, HttpConnectionManager, RetryPolicy } from "./envoy";

// ---------------------------------------------------------------- routes

/**
 * retry.DefaultPolicy (networking/core/route/retry): 2 attempts on connection
 * failures, refused and reset streams, `unavailable` and `cancelled` gRPC
 * statuses. No `retriable_status_codes`: Istio stopped retrying 503 by default,
 * so `retriable-status-codes` in retry_on matches nothing until a
 * VirtualService lists codes.
 */
export const DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";
export const DEFAULT_NUM_RETRIES = 2;
export const HOST_SELECTION_RETRY_MAX_ATTEMPTS = 5;

export function previousHostsPredicate(): NonNullable<RetryPolicy["retry_host_predicate"]> {
  return [{ name: "envoy.retry_host_predicates.previous_hosts", typed_config: typed("envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate") }];
}

/**
 * BuildDefaultHTTPInboundRoute: a sidecar's inbound route retries only a
 * request that never reached the app (`reset-before-request`), twice; gRPC
 * ports get no retry (it breaks streaming).
 */
export function inboundRetryPolicy(): RetryPolicy {
  return { retry_on: "reset-before-request", num_retries: DEFAULT_NUM_RETRIES };
}

/** route.Notimeout: "0s" everywhere a timeout means "none". */
export const NO_TIMEOUT = "0s";

/**
 * istiod bounds the TLS handshake on every chain of a gateway listener and of a
 * sidecar's outbound listeners (not their default chains, not virtualOutbound):
 * slow-handshake protection (PILOT_GATEWAY_TRANSPORT_SOCKET_CONNECT_TIMEOUT, 15s).
 */
export const TRANSPORT_SOCKET_CONNECT_TIMEOUT = "15s";

// ---------------------------------------------------------------- clusters

/** maxSecondsValue (cluster_builder.go): inbound ORIGINAL_DST clusters never clean up their hosts. */
export const INBOUND_CLEANUP_INTERVAL = "9223372035s";

/** MeshConfig dnsRefreshRate default (pkg/config/mesh): used when a lookup fails; success follows the record's TTL. */
export const DNS_REFRESH_RATE = "60s";
/** PILOT_DNS_CARES_UDP_MAX_QUERIES default. */
export const DNS_CARES_UDP_MAX_QUERIES = 100;

/**
 * buildCluster's STRICT_DNS / LOGICAL_DNS fields. The lookup family is V4_ONLY
 * (SelectDNSLookupFamily for an IPv4 or unknown proxy address). istiod also
 * writes `dns_jitter: 0.100s`; Envoy's v3 API as loaded here predates that field
 * (see docs/ENVOY.md).
 */
export function dnsClusterFields(): Pick<Cluster, "dns_lookup_family" | "dns_refresh_rate" | "respect_dns_ttl" | "typed_dns_resolver_config"> {
  return {
    dns_refresh_rate: DNS_REFRESH_RATE,
    respect_dns_ttl: true,
    dns_lookup_family: "V4_ONLY",
    typed_dns_resolver_config: {
      name: "envoy.network.dns_resolver.cares",
      typed_config: typed("envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig", { udp_max_queries: DNS_CARES_UDP_MAX_QUERIES }),
    },
  };
}

/**
 * applyLoadBalancer: with PILOT_AUTO_SEND_UNHEALTHY_ENDPOINTS (on by default)
 * istiod sends not-ready endpoints as UNHEALTHY and switches Envoy's panic mode
 * off (threshold 0) so that they never get traffic, however few hosts are ready.
 * An outlier detection's minHealthPercent replaces it (traffic_policy.ts).
 */
export function noPanicLbConfig(): Pick<Cluster, "common_lb_config"> {
  return { common_lb_config: { healthy_panic_threshold: { value: 0 } } };
}

// ---------------------------------------------------------------- HTTP connection manager

export type ListenerClass = "sidecar-outbound" | "sidecar-inbound" | "gateway";

/** uuid_extension.go: the request id decides trace sampling (Telemetry's useRequestIdForTraceSampling default). */
export function requestIdExtension(): NonNullable<HttpConnectionManager["request_id_extension"]> {
  return { typed_config: typed("envoy.extensions.request_id.uuid.v3.UuidRequestIdConfig", { use_request_id_for_trace_sampling: true }) };
}

/** ProxyHeaders defaults (networking/util/proxy_headers.go): outbound keeps Envoy's "envoy", the rest say istio-envoy. */
export const SERVER_NAME = "istio-envoy";

/**
 * buildHTTPConnectionManager, the fields every class shares: MeshConfig
 * pathNormalization BASE (normalize, keep escaped slashes), no stream idle
 * timeout, websockets, the uuid request id, 100-continue proxied
 * (ENABLE_100_CONTINUE_HEADERS).
 */
export function commonHcmFields(): HttpConnectionManager {
  return {
    normalize_path: true,
    path_with_escaped_slashes_action: "KEEP_UNCHANGED",
    stream_idle_timeout: NO_TIMEOUT,
    upgrade_configs: [{ upgrade_type: "websocket" }],
    request_id_extension: requestIdExtension(),
    proxy_100_continue: true,
  };
}

export interface GatewayTopology {
  /** MeshConfig defaultConfig.gatewayTopology.forwardClientCertDetails (istiod's default SANITIZE_SET). */
  forwardClientCertDetails?: NonNullable<HttpConnectionManager["forward_client_cert_details"]>;
  /** ...numTrustedProxies -> xff_num_trusted_hops. */
  numTrustedProxies?: number;
}

/**
 * The fields that differ by listener class: sidecar outbound (buildSidecarOutboundHTTPRouteConfig's
 * options), sidecar inbound (buildSidecarInboundHTTPOpts), gateway (buildGatewayConnectionManager).
 */
export function classHcmFields(listenerClass: ListenerClass, topology: GatewayTopology = {}): HttpConnectionManager {
  switch (listenerClass) {
    case "sidecar-outbound":
      // PILOT_SIDECAR_USE_REMOTE_ADDRESS is off: the app's headers are not trusted as an edge's would be.
      return { use_remote_address: false };
    case "sidecar-inbound":
      return {
        use_remote_address: false,
        forward_client_cert_details: "APPEND_FORWARD",
        set_current_client_cert_details: { subject: true, dns: true, uri: true },
        server_name: SERVER_NAME,
      };
    case "gateway": {
      const fcc = topology.forwardClientCertDetails ?? "SANITIZE_SET";
      const out: HttpConnectionManager = { use_remote_address: true, forward_client_cert_details: fcc };
      if (topology.numTrustedProxies) out.xff_num_trusted_hops = topology.numTrustedProxies;
      // Envoy only takes the current client certificate's details when it forwards them.
      if (fcc === "APPEND_FORWARD" || fcc === "SANITIZE_SET") out.set_current_client_cert_details = { subject: true, cert: true, dns: true, uri: true };
      out.server_name = SERVER_NAME;
      out.http_protocol_options = {};
      return out;
    }
  }
}
