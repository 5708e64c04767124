/**
 * Sidecar listeners (LDS): the two capture listeners (virtualOutbound on
 * 15001, virtualInbound on 15006) and the outbound listeners virtualOutbound
 * hands connections to by original destination: `0.0.0.0_<port>` for HTTP
 * ports (RDS `<port>`), `<address>_<port>` for TCP ports (tcp_proxy), and
 * `0.0.0.0_<port>` with SNI chains for TLS ports of services without address.
 */
import { isHttpProtocol, isTcpProtocol } from "../model/mesh-protocol";
import { byName, socketAddress } from "./common";
import type { FilterChain, Listener, RouteConfiguration } from "./envoy";
import {
  BLACKHOLE_CLUSTER,
  INBOUND_PASSTHROUGH_CLUSTER,
  PASSTHROUGH_CLUSTER,
  PASSTHROUGH_FILTER_CHAIN,
  VIRTUAL_INBOUND_BLACKHOLE_CHAIN,
  VIRTUAL_INBOUND_CATCHALL_CHAIN,
  VIRTUAL_INBOUND_LISTENER,
  VIRTUAL_INBOUND_PORT,
  VIRTUAL_OUTBOUND_BLACKHOLE_CHAIN,
  VIRTUAL_OUTBOUND_LISTENER,
  VIRTUAL_OUTBOUND_PORT,
  addressListenerName,
  inboundClusterName,
  isCapturePort,
  inboundRouteName,
  inboundVirtualHostName,
  sidecarRouteName,
  wildcardListenerName,
} from "./names";
import { httpConnectionManager, originalDstListenerFilter, tcpProxy, tlsInspectorListenerFilter } from "./network-filters";
import { outboundHttpFilters, routerFilter } from "./route-filters";
import { timeoutFields } from "./route-action";
import { httpPorts } from "./sidecar-routes";
import { sniFilterChains, tcpProxyFor } from "./tcp-routes";
import { authorizationFilters, type AuthorizationFilters } from "./rbac-filters";
import type { InboundPort } from "./instances";
import type { ProxyScope } from "./scope";
import { type InboundMtls, inboundMtls } from "./inbound-mtls";

export function sidecarListeners(scope: ProxyScope, inbound: InboundPort[]): Listener[] {
  const http = httpPorts(scope).map(outboundHttpListener);
  const names = new Set(http.map((l) => String(l.name)));
  const tcp = outboundTcpListeners(scope, names);
  const authz = authorizationFilters(scope.mesh, scope.proxy);
  return [virtualOutbound(scope), virtualInbound(inbound, inboundMtls(scope.mesh, scope.proxy), authz), ...http, ...tcp].sort(byName);
}

/** Where unmatched outbound traffic goes: on to its destination (or the Sidecar's egressProxy), or nowhere under REGISTRY_ONLY. */
function outboundFallbackCluster(scope: ProxyScope): string {
  return scope.outboundTrafficPolicy === "ALLOW_ANY" ? (scope.egressProxyCluster ?? PASSTHROUGH_CLUSTER) : BLACKHOLE_CLUSTER;
}

function virtualOutbound(scope: ProxyScope): Listener {
  const fallback = outboundFallbackCluster(scope);
  return {
    name: VIRTUAL_OUTBOUND_LISTENER,
    address: socketAddress("0.0.0.0", VIRTUAL_OUTBOUND_PORT),
    filter_chains: [
      // Traffic addressed to 15001 itself would loop forever: drop it.
      {
        filter_chain_match: { destination_port: VIRTUAL_OUTBOUND_PORT },
        filters: [tcpProxy(BLACKHOLE_CLUSTER, BLACKHOLE_CLUSTER)],
        name: VIRTUAL_OUTBOUND_BLACKHOLE_CHAIN,
      },
    ],
    default_filter_chain: { filters: [tcpProxy(fallback, fallback)], name: PASSTHROUGH_FILTER_CHAIN },
    use_original_dst: true,
    listener_filters: [originalDstListenerFilter()],
    traffic_direction: "OUTBOUND",
  };
}

function outboundHttpListener(port: number): Listener {
  const name = wildcardListenerName(port);
  return {
    name,
    address: socketAddress("0.0.0.0", port),
    filter_chains: [{ filters: [httpConnectionManager({ statPrefix: `outbound_${name}`, rds: sidecarRouteName(port), httpFilters: outboundHttpFilters() })] }],
    bind_to_port: false,
    traffic_direction: "OUTBOUND",
  };
}

/**
 * TCP-family ports: one listener per service address; TLS ports of services
 * without address share `0.0.0.0_<port>`, split by SNI. Plain TCP without an
 * address gets no listener (its traffic takes virtualOutbound's default chain).
 */
function outboundTcpListeners(scope: ProxyScope, taken: Set<string>): Listener[] {
  const out: Listener[] = [];
  const sni = new Map<number, { chains: FilterChain[]; names: Set<string> }>();
  for (const svc of scope.listenerServices) {
    for (const p of svc.ports) {
      if (!isTcpProtocol(p.protocol)) continue;
      if (svc.addresses.length === 0) {
        if ((p.protocol !== "TLS" && p.protocol !== "HTTPS") || isCapturePort(p.port)) continue;
        const entry = sni.get(p.port) ?? { chains: [], names: new Set<string>() };
        entry.chains.push(...sniFilterChains(scope, svc, p.port, entry.names));
        sni.set(p.port, entry);
        continue;
      }
      for (const addr of svc.addresses) {
        const name = addressListenerName(addr, p.port);
        if (taken.has(name)) continue; // an older service already owns this address:port
        taken.add(name);
        out.push({
          name,
          address: socketAddress(addr, p.port),
          filter_chains: [{ filters: [tcpProxyFor(scope, svc, p.port)] }],
          bind_to_port: false,
          traffic_direction: "OUTBOUND",
        });
      }
    }
  }
  for (const [port, { chains }] of [...sni].sort((a, b) => a[0] - b[0])) {
    const name = wildcardListenerName(port);
    if (taken.has(name) || chains.length === 0) continue;
    const fallback = outboundFallbackCluster(scope);
    out.push({
      name,
      address: socketAddress("0.0.0.0", port),
      filter_chains: chains,
      default_filter_chain: { filters: [tcpProxy(fallback, fallback)], name: PASSTHROUGH_FILTER_CHAIN },
      listener_filters: [tlsInspectorListenerFilter()],
      bind_to_port: false,
      traffic_direction: "OUTBOUND",
    });
  }
  return out;
}

/**
 * virtualInbound: one chain per workload port (mTLS and/or plaintext as
 * PeerAuthentication says, inbound-mtls.ts), the rest passes through to the app.
 * AuthorizationPolicy RBAC filters (`authz`) go on every chain that reaches the app, the passthrough one included.
 */
function virtualInbound(inbound: InboundPort[], mtls: InboundMtls, authz: AuthorizationFilters): Listener {
  const chains: FilterChain[] = [
    {
      filter_chain_match: { destination_port: VIRTUAL_INBOUND_PORT },
      filters: [tcpProxy(BLACKHOLE_CLUSTER, BLACKHOLE_CLUSTER)],
      name: VIRTUAL_INBOUND_BLACKHOLE_CHAIN,
    },
  ];
  for (const ip of inbound) chains.push(...mtls.chains(ip.targetPort, isHttpProtocol(ip.port.protocol), inboundChain(ip, authz)));
  const catchAll = mtls.catchAll({
    filters: [...authz.network, tcpProxy(INBOUND_PASSTHROUGH_CLUSTER, INBOUND_PASSTHROUGH_CLUSTER)],
    name: VIRTUAL_INBOUND_CATCHALL_CHAIN,
  });
  chains.push(...catchAll.chains);
  return {
    name: VIRTUAL_INBOUND_LISTENER,
    address: socketAddress("0.0.0.0", VIRTUAL_INBOUND_PORT),
    filter_chains: chains,
    ...(catchAll.default ? { default_filter_chain: catchAll.default } : {}),
    listener_filters: mtls.listenerFilters([originalDstListenerFilter()]),
    traffic_direction: "INBOUND",
  };
}

function inboundChain(ip: InboundPort, authz: AuthorizationFilters): FilterChain {
  const cluster = inboundClusterName(ip.targetPort);
  const match = { destination_port: ip.targetPort };
  const name = `0.0.0.0_${ip.targetPort}`;
  if (!isHttpProtocol(ip.port.protocol)) return { filter_chain_match: match, filters: [...authz.network, tcpProxy(cluster, cluster)], name };
  const routeConfig: RouteConfiguration = {
    name: inboundRouteName(ip.targetPort),
    virtual_hosts: [
      {
        name: inboundVirtualHostName(ip.targetPort),
        domains: ["*"],
        routes: [
          {
            name: "default",
            match: { prefix: "/" },
            route: { cluster, ...timeoutFields(undefined) },
            decorator: { operation: `${ip.service.host}:${ip.port.port}/*` },
          },
        ],
      },
    ],
    validate_clusters: false,
  };
  const hcm = httpConnectionManager({ statPrefix: `inbound_${name}`, routeConfig, httpFilters: [...authz.http, routerFilter()] });
  return { filter_chain_match: match, filters: [hcm], name };
}
