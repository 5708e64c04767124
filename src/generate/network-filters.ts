/**
 * Network filters shared by sidecar and gateway listeners: the HTTP
 * connection manager (RDS over ADS, or an inline route config) and tcp_proxy.
 */
import { adsConfigSource, typed } from "./common";
import type { HttpConnectionManager, HttpFilter, ListenerFilter, NetworkFilter, RouteConfiguration, TcpProxy, TcpProxyClusterWeight } from "./envoy";
import { type GatewayTopology, type ListenerClass, classHcmFields, commonHcmFields } from "./istio-defaults";

export const HCM_FILTER = "envoy.filters.network.http_connection_manager";
export const TCP_PROXY_FILTER = "envoy.filters.network.tcp_proxy";

export interface HcmOptions {
  statPrefix: string;
  /** RDS name (fetched over ADS) ... */
  rds?: string;
  /** ... or an inline RouteConfiguration. */
  routeConfig?: RouteConfiguration;
  httpFilters: HttpFilter[];
  /** Which of istiod's connection managers this is (default sidecar outbound): decides the class defaults. */
  listenerClass?: ListenerClass;
  /** Gateways: MeshConfig gatewayTopology. */
  gatewayTopology?: GatewayTopology;
  /** Fields that replace or extend the defaults. */
  extra?: HttpConnectionManager;
}

export function httpConnectionManager(o: HcmOptions): NetworkFilter {
  const hcm: HttpConnectionManager = { stat_prefix: o.statPrefix };
  if (o.rds !== undefined) hcm.rds = { config_source: adsConfigSource(), route_config_name: o.rds };
  else if (o.routeConfig) hcm.route_config = o.routeConfig;
  hcm.http_filters = o.httpFilters;
  // istiod's defaults (istio-defaults.ts): shared ones, then the class's (remote address, client cert details, server name).
  Object.assign(hcm, commonHcmFields(), classHcmFields(o.listenerClass ?? "sidecar-outbound", o.gatewayTopology));
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
