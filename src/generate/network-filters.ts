/**
 * Network filters shared by sidecar and gateway listeners: the HTTP
 * connection manager (RDS over ADS, or an inline route config) and tcp_proxy.
 */
import { adsConfigSource, typed } from "./common";
import type { HttpConnectionManager, HttpFilter, ListenerFilter, NetworkFilter, RouteConfiguration, TcpProxy, TcpProxyClusterWeight } from "./envoy";

export const HCM_FILTER = "envoy.filters.network.http_connection_manager";
export const TCP_PROXY_FILTER = "envoy.filters.network.tcp_proxy";

export interface HcmOptions {
  statPrefix: string;
  /** RDS name (fetched over ADS) ... */
  rds?: string;
  /** ... or an inline RouteConfiguration. */
  routeConfig?: RouteConfiguration;
  httpFilters: HttpFilter[];
  /** Fields that replace or extend the sidecar defaults (gateways: edge settings). */
  extra?: HttpConnectionManager;
}

export function httpConnectionManager(o: HcmOptions): NetworkFilter {
  const hcm: HttpConnectionManager = { stat_prefix: o.statPrefix };
  if (o.rds !== undefined) hcm.rds = { config_source: adsConfigSource(), route_config_name: o.rds };
  else if (o.routeConfig) hcm.route_config = o.routeConfig;
  hcm.http_filters = o.httpFilters;
  // Istio: no idle stream timeout, websockets allowed, client address not trusted.
  hcm.stream_idle_timeout = "0s";
  hcm.use_remote_address = false;
  hcm.upgrade_configs = [{ upgrade_type: "websocket" }];
  if (o.extra) Object.assign(hcm, o.extra);
  return {
    name: HCM_FILTER,
    typed_config: typed("envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", hcm),
  };
}

/** tcp_proxy to one cluster, or weighted clusters (stat prefix then names the service). */
export function tcpProxy(statPrefix: string, target: string | TcpProxyClusterWeight[]): NetworkFilter {
  const cfg: TcpProxy = { stat_prefix: statPrefix };
  if (typeof target === "string") cfg.cluster = target;
  else cfg.weighted_clusters = { clusters: target };
  return { name: TCP_PROXY_FILTER, typed_config: typed("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", cfg) };
}

export function originalDstListenerFilter(): ListenerFilter {
  return {
    name: "envoy.filters.listener.original_dst",
    typed_config: typed("envoy.extensions.filters.listener.original_dst.v3.OriginalDst"),
  };
}

/** Istio's TLS inspector: a 512-byte first read (Envoy's default is 64 KiB), enough for a ClientHello's SNI and ALPN. */
export function tlsInspectorListenerFilter(): ListenerFilter {
  return {
    name: "envoy.filters.listener.tls_inspector",
    typed_config: typed("envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector", { initial_read_buffer_size: 512 }),
  };
}
