/**
 * Gateway listeners (Istio's buildGatewayListeners): one real, bound listener
 * `<bind>_<port>` per merged port.
 * - plain-text HTTP: one filter chain, HCM with RDS `http.<port>`;
 * - TLS: a filter chain per server: HTTPS terminates (DownstreamTlsContext,
 *   HCM with RDS `https....`), TLS terminates then tcp_proxy, passthrough
 *   splits by SNI into tcp_proxy chains; SNI matching needs the tls_inspector;
 * - TCP: one chain with tcp_proxy.
 * A listener left with no filter chain is not sent (Envoy refuses it), and
 * the server is reported.
 */
import type { Diagnostic } from "../model/types";
import type { TlsDefaults } from "../model/mesh-types";
import { byName, socketAddress } from "./common";
import type { FilterChain, HttpConnectionManager, Listener, NetworkFilter } from "./envoy";
import { HCM_FILTER, httpConnectionManager, tlsInspectorListenerFilter } from "./network-filters";
import { outboundHttpFilters } from "./route-filters";
import { downstreamTlsSocket } from "./gateway-tls";
import { gatewayTcpFilter, passthroughChains } from "./gateway-tcp";
import type { BoundServer, MergedListener } from "./gateway-merge";
import type { GatewayContext } from "./gateway-routes";
import { authorizationFilters, type AuthorizationFilters } from "./rbac-filters";
import { TRANSPORT_SOCKET_CONNECT_TIMEOUT } from "./istio-defaults";
import { acceptLimit } from "./listener-limits";
import { networkFilterStack, protocolHttpFilters } from "./protocol-filters";
import { type Protocol, namedProtocol } from "../model/mesh-protocol";

export function gatewayListeners(ctx: GatewayContext, listeners: MergedListener[], diagnostics: Diagnostic[]): Listener[] {
  const out: Listener[] = [];
  const authz = authorizationFilters(ctx.scope.mesh, ctx.scope.proxy);
  for (const l of listeners) {
    const chains = filterChains(ctx, l, diagnostics).map((c) => withAuthorization(c, authz));
    if (chains.length === 0) continue;
    const listener: Listener = { name: l.name, address: socketAddress(l.bind, l.port), filter_chains: chains };
    if (chains.some((c) => c.filter_chain_match || c.transport_socket)) listener.listener_filters = [tlsInspectorListenerFilter()];
    listener.bind_to_port = true;
    listener.traffic_direction = "OUTBOUND";
    Object.assign(listener, acceptLimit());
    out.push(listener);
  }
  return out.sort(byName);
}

function filterChains(ctx: GatewayContext, l: MergedListener, diagnostics: Diagnostic[]): FilterChain[] {
  const first = l.servers[0]!;
  if (first.kind === "http") {
    const protocol = namedProtocol(first.server.port.protocol, first.server.port.name ?? "").protocol;
    return [
      { filters: [gatewayHcm(ctx, `outbound_${l.name}`, first.routeName!, protocol)], transport_socket_connect_timeout: TRANSPORT_SOCKET_CONNECT_TIMEOUT },
    ];
  }
  const chains: FilterChain[] = [];
  const claimed = new Set(l.claimedSni);
  for (const s of l.servers) {
    if (s.kind === "passthrough") {
      const sni = passthroughChains(ctx, s, claimed, diagnostics);
      if (sni.length === 0) diagnostics.push(unrouted(s, "no VirtualService tls route applies"));
      chains.push(...sni.map(withTimeout));
      continue;
    }
    if (s.kind === "https") {
      chains.push(terminating(s, gatewayHcm(ctx, s.server.name || `outbound_${l.name}`, s.routeName!), ctx.scope.mesh.options.tlsDefaults));
      continue;
    }
    const tcp = gatewayTcpFilter(ctx, s);
    if (!tcp) {
      diagnostics.push(unrouted(s, "no VirtualService tcp route applies"));
      continue;
    }
    const protocol = namedProtocol(s.server.port.protocol, s.server.port.name ?? "").protocol;
    chains.push(
      s.kind === "tls-terminate" ? terminating(s, tcp, ctx.scope.mesh.options.tlsDefaults) : withTimeout({ filters: networkFilterStack(protocol, tcp) }),
    );
  }
  return chains;
}

/**
 * AuthorizationPolicy RBAC: HTTP filters first in the connection manager (before fault, cors and the router),
 * network filters before tcp_proxy on TCP and TLS chains.
 */
function withAuthorization(chain: FilterChain, authz: AuthorizationFilters): FilterChain {
  if (authz.http.length === 0 && authz.network.length === 0) return chain;
  const original = chain.filters ?? [];
  if (!original.some((f) => f.name === HCM_FILTER)) return { ...chain, filters: [...authz.network, ...original] };
  const filters = original.map((f) => {
    if (f.name !== HCM_FILTER) return f;
    const hcm = f.typed_config as HttpConnectionManager;
    return { ...f, typed_config: { ...f.typed_config, http_filters: [...authz.http, ...(hcm.http_filters ?? [])] } as NetworkFilter["typed_config"] };
  });
  return { ...chain, filters };
}

/** A chain that terminates TLS: SNI match (none for `*`), the server's TLS context, then `filter`. */
function terminating(s: BoundServer, filter: NetworkFilter, tlsDefaults: TlsDefaults | undefined): FilterChain {
  const chain: FilterChain = {};
  if (!s.sniHosts.includes("*")) chain.filter_chain_match = { server_names: s.sniHosts };
  chain.filters = [filter];
  chain.transport_socket = downstreamTlsSocket(s.server.tls!, tlsDefaults);
  chain.transport_socket_connect_timeout = TRANSPORT_SOCKET_CONNECT_TIMEOUT;
  return chain;
}

function withTimeout(chain: FilterChain): FilterChain {
  return { ...chain, transport_socket_connect_timeout: TRANSPORT_SOCKET_CONNECT_TIMEOUT };
}

/** `protocol`: the server port's (a GRPC-WEB server gets the gRPC-Web filter, protocol-filters.ts); HTTPS servers have none. */
function gatewayHcm(ctx: GatewayContext, statPrefix: string, rds: string, protocol?: Protocol): NetworkFilter {
  const gatewayTopology = ctx.scope.mesh.options.gatewayTopology;
  return httpConnectionManager({
    statPrefix,
    rds,
    httpFilters: [...protocolHttpFilters(protocol), ...outboundHttpFilters()],
    listenerClass: "gateway",
    ...(gatewayTopology ? { gatewayTopology } : {}),
  });
}

function unrouted(s: BoundServer, why: string): Diagnostic {
  const d: Diagnostic = {
    severity: "warning",
    kind: "Gateway",
    namespace: s.gateway.metadata.namespace,
    name: s.gateway.metadata.name,
    field: `spec.servers[${s.index}]`,
    message: `port ${s.serverPort}: ${why}; the server gets no filter chain`,
  };
  if (s.gateway.origin) d.origin = s.gateway.origin;
  return d;
}
