/**
 * Filters a port's declared protocol adds, as istiod adds them:
 *
 * - gRPC-Web (listener_builder.go buildHTTPConnectionManager): an HTTP
 *   connection manager whose port protocol is GRPC-Web gets
 *   `envoy.filters.http.grpc_web` after the authorization filters, so a
 *   browser's gRPC-Web request (HTTP/1.1 or HTTP/2, `application/grpc-web*`)
 *   leaves as gRPC over HTTP/2 and the answer comes back as gRPC-Web. On a
 *   shared `0.0.0.0_<port>` listener the first service declaring the port
 *   decides (istiod: the service that created the listener).
 * - Mongo (networkfilter.go buildNetworkFiltersStack, PILOT_ENABLE_MONGO_FILTER
 *   on by default): a TCP chain of a MONGO port (name `mongo*`) puts
 *   `envoy.filters.network.mongo_proxy` before tcp_proxy, with tcp_proxy's stat
 *   prefix: Mongo wire-protocol stats and access to its operations; the bytes
 *   are passed on unchanged.
 * - HTTP/2 connection manager options (listener_inbound.go
 *   buildSidecarInboundHTTPOpts): an inbound chain of an HTTP/2 port (http2,
 *   grpc, grpc-web) carries `http2_protocol_options: {}`. The codec stays AUTO
 *   (HTTP/1.1 or HTTP/2 by the connection's preface), as in istiod.
 */
import { type Protocol, isHttpProtocol, isHttp2Protocol, isSniffedProtocol } from "../model/mesh-protocol";
import { typed } from "./common";
import type { HttpConnectionManager, HttpFilter, NetworkFilter } from "./envoy";
import { TCP_PROXY_FILTER } from "./network-filters";
import type { ProxyScope } from "./scope";

export const GRPC_WEB_FILTER = "envoy.filters.http.grpc_web";
export const MONGO_PROXY_FILTER = "envoy.filters.network.mongo_proxy";

/** The HTTP filters a port protocol adds before the fault / CORS / router filters. */
export function protocolHttpFilters(protocol: Protocol | undefined): HttpFilter[] {
  return protocol === "GRPC-WEB" ? [{ name: GRPC_WEB_FILTER, typed_config: typed("envoy.extensions.filters.http.grpc_web.v3.GrpcWeb") }] : [];
}

/** Extra inbound connection manager fields for a port protocol. */
export function inboundHcmProtocolFields(protocol: Protocol): HttpConnectionManager {
  return isHttp2Protocol(protocol) ? { http2_protocol_options: {} } : {};
}

/** The network filters of a TCP chain: the protocol's filter (Mongo) before the tcp_proxy, whose stat prefix it shares. */
export function networkFilterStack(protocol: Protocol, tcpProxyFilter: NetworkFilter): NetworkFilter[] {
  if (protocol !== "MONGO" || tcpProxyFilter.name !== TCP_PROXY_FILTER) return [tcpProxyFilter];
  const statPrefix = (tcpProxyFilter.typed_config as { stat_prefix?: string } | undefined)?.stat_prefix ?? "";
  return [
    { name: MONGO_PROXY_FILTER, typed_config: typed("envoy.extensions.filters.network.mongo_proxy.v3.MongoProxy", { stat_prefix: statPrefix }) },
    tcpProxyFilter,
  ];
}

/**
 * The protocol of the wildcard HTTP listener `0.0.0.0_<port>`: that of the first service (in the scope's order)
 * whose port puts it there (outbound-ports.ts httpPorts).
 */
export function wildcardHttpPortProtocol(scope: ProxyScope, port: number): Protocol | undefined {
  for (const s of scope.listenerServices) {
    for (const p of s.ports) {
      if (p.port !== port) continue;
      if (isHttpProtocol(p.protocol) || (isSniffedProtocol(p.protocol) && s.addresses.length === 0)) return p.protocol;
    }
  }
  return undefined;
}
