/**
 * DestinationRule traffic policy -> Cluster fields: load balancer, connection
 * pool (circuit breakers, timeouts, HTTP options), outlier detection (TLS:
 * tls-origination.ts, cluster-tls.ts).
 * Follows Istio's cluster builder; the policy is resolved per port and subset
 * first (`effectivePolicy`).
 */
import type { ClientTLSSettings, ConnectionPoolSettings, LoadBalancerSettings, OutlierDetection, Subset, TrafficPolicy } from "../model/types";
import type { ResolvedDestinationRule } from "../model/mesh";
import { istioDuration, istioSeconds, typed } from "./common";
import type {
  CircuitBreakers,
  Cluster,
  CommonHttpProtocolOptions,
  Http2ProtocolOptions,
  OutlierDetection as EnvoyOutlierDetection,
  TcpKeepalive,
  UpstreamHttpProtocolOptions,
} from "./envoy";

/** The blocks that apply to one port (and subset); each block replaces, never merges. */
export interface EffectivePolicy {
  loadBalancer?: LoadBalancerSettings;
  connectionPool?: ConnectionPoolSettings;
  outlierDetection?: OutlierDetection;
  tls?: ClientTLSSettings;
}

const BLOCKS = ["loadBalancer", "connectionPool", "outlierDetection", "tls"] as const;

/**
 * istiod's MergeSubsetTrafficPolicy for one port. A port-level setting for the port replaces the whole policy it
 * belongs to: blocks it leaves out fall back to Envoy/Istio defaults, not to the policy around it (the API's
 * "port-level settings do not inherit"). A subset's policy then replaces the blocks it sets, except when it has
 * a port-level setting for the port: then that setting replaces all four blocks, set or not.
 */
export function effectivePolicy(dr: ResolvedDestinationRule | undefined, subset: Subset | undefined, port: number): EffectivePolicy {
  const base = forPort(dr?.trafficPolicy, port);
  if (!subset?.trafficPolicy) return base.policy;
  const over = forPort(subset.trafficPolicy, port);
  const out: EffectivePolicy = {};
  for (const b of BLOCKS) {
    const v = over.portLevel ? over.policy[b] : (over.policy[b] ?? base.policy[b]);
    if (v !== undefined) (out as Record<string, unknown>)[b] = v;
  }
  return out;
}

/** istiod's GetPortLevelTrafficPolicy: the port's own setting if there is one (and whether there was), else the policy. */
function forPort(policy: TrafficPolicy | undefined, port: number): { policy: EffectivePolicy; portLevel: boolean } {
  if (!policy) return { policy: {}, portLevel: false };
  const pl = (policy.portLevelSettings ?? []).find((p) => p.port?.number === port);
  const src = pl ?? policy;
  const out: EffectivePolicy = {};
  for (const b of BLOCKS) {
    const v = src[b];
    if (v !== undefined) (out as Record<string, unknown>)[b] = v;
  }
  return { policy: out, portLevel: pl !== undefined };
}

const MAX_U32 = 4294967295;

/** Circuit breakers are always present; unset thresholds are "unlimited" as in Istio. */
export function circuitBreakers(pool: ConnectionPoolSettings | undefined): CircuitBreakers {
  return {
    thresholds: [
      {
        max_connections: pool?.tcp?.maxConnections ?? MAX_U32,
        max_pending_requests: pool?.http?.http1MaxPendingRequests ?? MAX_U32,
        max_requests: pool?.http?.http2MaxRequests ?? MAX_U32,
        max_retries: pool?.http?.maxRetries ?? MAX_U32,
        track_remaining: true,
      },
    ],
  };
}

export const DEFAULT_CONNECT_TIMEOUT = "10s";

/** The DestinationRule's connectTimeout, else the mesh's (MeshConfig connectTimeout, default 10s). */
export function connectTimeout(pool: ConnectionPoolSettings | undefined, meshDefault = DEFAULT_CONNECT_TIMEOUT): string {
  return istioDuration(pool?.tcp?.connectTimeout, meshDefault) ?? meshDefault;
}

/** lb_policy and its config; ORIGINAL_DST clusters always use CLUSTER_PROVIDED. */
export function loadBalancerFields(lb: LoadBalancerSettings | undefined): Pick<Cluster, "lb_policy" | "maglev_lb_config" | "ring_hash_lb_config"> {
  const ch = lb?.consistentHash;
  if (ch) {
    if (ch.maglev) {
      return { lb_policy: "MAGLEV", ...(ch.maglev.tableSize ? { maglev_lb_config: { table_size: ch.maglev.tableSize } } : {}) };
    }
    const size = ch.ringHash?.minimumRingSize ?? ch.minimumRingSize ?? 1024;
    return { lb_policy: "RING_HASH", ring_hash_lb_config: { minimum_ring_size: size } };
  }
  switch (lb?.simple) {
    case "ROUND_ROBIN":
      return { lb_policy: "ROUND_ROBIN" };
    case "RANDOM":
      return { lb_policy: "RANDOM" };
    default:
      // UNSPECIFIED, LEAST_CONN (deprecated alias) and LEAST_REQUEST.
      return { lb_policy: "LEAST_REQUEST" };
  }
}

export function isPassthroughLb(lb: LoadBalancerSettings | undefined): boolean {
  return lb?.simple === "PASSTHROUGH" && !lb.consistentHash;
}

/** Istio ejects on consecutive errors only; success-rate ejection is switched off. */
export function outlierDetectionFields(od: OutlierDetection | undefined): Pick<Cluster, "outlier_detection" | "common_lb_config"> {
  if (!od) return {};
  const out: EnvoyOutlierDetection = { enforcing_success_rate: 0 };
  const fiveXx = od.consecutive5xxErrors ?? od.consecutiveErrors;
  if (fiveXx !== undefined) {
    out.consecutive_5xx = fiveXx;
    out.enforcing_consecutive_5xx = fiveXx > 0 ? 100 : 0;
  }
  if (od.consecutiveGatewayErrors !== undefined) {
    out.consecutive_gateway_failure = od.consecutiveGatewayErrors;
    out.enforcing_consecutive_gateway_failure = od.consecutiveGatewayErrors > 0 ? 100 : 0;
  }
  // Local-origin failures only count apart when they are split from upstream errors (istiod's applyOutlierDetection).
  if (od.splitExternalLocalOriginErrors) {
    out.split_external_local_origin_errors = true;
    if ((od.consecutiveLocalOriginFailures ?? 0) > 0) {
      out.consecutive_local_origin_failure = od.consecutiveLocalOriginFailures!;
      out.enforcing_consecutive_local_origin_failure = 100;
    }
    out.enforcing_local_origin_success_rate = 0;
  }
  const interval = istioDuration(od.interval);
  if (interval) out.interval = interval;
  const base = istioDuration(od.baseEjectionTime);
  if (base) out.base_ejection_time = base;
  if (od.maxEjectionPercent !== undefined && od.maxEjectionPercent > 0) out.max_ejection_percent = od.maxEjectionPercent;
  // minHealthPercent maps to the panic threshold (0 disables panic mode), as in Istio.
  return { outlier_detection: out, common_lb_config: { healthy_panic_threshold: { value: od.minHealthPercent ?? 0 } } };
}

/** TCP keepalive from connectionPool.tcp. */
export function upstreamConnectionOptions(pool: ConnectionPoolSettings | undefined): Pick<Cluster, "upstream_connection_options"> {
  const ka = pool?.tcp?.tcpKeepalive;
  if (!ka) return {};
  const tk: TcpKeepalive = {};
  if (ka.probes !== undefined) tk.keepalive_probes = ka.probes;
  const time = istioSeconds(ka.time);
  if (time !== undefined) tk.keepalive_time = time;
  const interval = istioSeconds(ka.interval);
  if (interval !== undefined) tk.keepalive_interval = interval;
  return { upstream_connection_options: { tcp_keepalive: tk } };
}

export type UpstreamHttp = "http1" | "http2" | "downstream";

/**
 * typed_extension_protocol_options for HTTP upstreams: HTTP/2 for http2/grpc
 * ports (or h2UpgradePolicy UPGRADE), the client's protocol with
 * useClientProtocol, plus idle timeout / requests per connection.
 */
export function httpProtocolOptions(pool: ConnectionPoolSettings | undefined, upstream: UpstreamHttp): Pick<Cluster, "typed_extension_protocol_options"> {
  const common: CommonHttpProtocolOptions = {};
  const idle = istioDuration(pool?.http?.idleTimeout ?? pool?.tcp?.idleTimeout);
  if (idle) common.idle_timeout = idle;
  if (pool?.http?.maxRequestsPerConnection) common.max_requests_per_connection = pool.http.maxRequestsPerConnection;
  const maxDuration = istioDuration(pool?.tcp?.maxConnectionDuration);
  if (maxDuration) common.max_connection_duration = maxDuration;
  const h2: Http2ProtocolOptions = pool?.http?.maxConcurrentStreams ? { max_concurrent_streams: pool.http.maxConcurrentStreams } : {};
  // istiod writes the (possibly empty) common options whenever one of these HTTP pool fields is set (applyConnectionPool).
  const hasCommon = Object.keys(common).length > 0 || !!pool?.http?.maxConcurrentStreams || pool?.http?.http2KeepAlive !== undefined;
  if (upstream === "http1" && !hasCommon) return {};
  const body: UpstreamHttpProtocolOptions = {};
  if (hasCommon) body.common_http_protocol_options = common;
  if (upstream === "downstream") body.use_downstream_protocol_config = { http_protocol_options: {}, http2_protocol_options: h2 };
  else if (upstream === "http2") {
    // As istiod: keepalive pings only where the upstream is known to speak HTTP/2.
    const ka = pool?.http?.http2KeepAlive;
    const interval = istioDuration(ka?.interval);
    const timeout = istioDuration(ka?.timeout);
    body.explicit_http_config = { http2_protocol_options: interval && timeout ? { ...h2, connection_keepalive: { interval, timeout } } : h2 };
  } else body.explicit_http_config = { http_protocol_options: {} };
  return {
    typed_extension_protocol_options: {
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": typed("envoy.extensions.upstreams.http.v3.HttpProtocolOptions", body),
    },
  };
}
