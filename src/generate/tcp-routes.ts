/**
 * VirtualService `tcp[]` and `tls[]` -> tcp_proxy targets and SNI filter
 * chains for one service port. The first rule with an applicable match (or no
 * match) wins; without one, the service's own cluster.
 */
import type { L4MatchAttributes, RouteDestination } from "../model/types";
import type { MeshService } from "../model/mesh";
import { resolveGateway } from "../model/mesh";
import type { FilterChain, NetworkFilter, TcpProxyClusterWeight } from "./envoy";
import { outboundClusterName } from "./names";
import { matchApplies } from "./route-match";
import { resolveDestination } from "./route-action";
import { tcpProxy } from "./network-filters";
import type { ProxyScope } from "./scope";

type Target = string | TcpProxyClusterWeight[];

function applies(m: L4MatchAttributes, scope: ProxyScope, port: number, vsNamespace: string): boolean {
  return matchApplies(m, { client: scope.client, gateways: ["mesh"], listenerPort: port }, (g) => resolveGateway(g, vsNamespace));
}

function targetOf(dests: RouteDestination[], scope: ProxyScope, port: number, vsNamespace: string): Target {
  const ctx = { mesh: scope.mesh, clientNamespace: scope.proxy.namespace, listenerPort: port, destinationRule: scope.destinationRule };
  if (dests.length === 1) return resolveDestination(dests[0]!.destination, vsNamespace, ctx).cluster;
  const weighted = dests
    .filter((d) => (d.weight ?? 0) > 0)
    .map((d) => ({ name: resolveDestination(d.destination, vsNamespace, ctx).cluster, weight: d.weight! }));
  // Validation refuses a zero total; should one slip through, route to the first destination rather than send an empty list.
  return weighted.length > 0 ? weighted : resolveDestination(dests[0]!.destination, vsNamespace, ctx).cluster;
}

/** The tcp_proxy network filter for a TCP service port. */
export function tcpProxyFor(scope: ProxyScope, svc: MeshService, port: number): NetworkFilter {
  const own = outboundClusterName(port, undefined, svc.host);
  const vs = scope.virtualServices.get(svc.host);
  for (const rule of vs?.vs.spec.tcp ?? []) {
    const ok = !rule.match || rule.match.length === 0 || rule.match.some((m) => applies(m, scope, port, vs!.namespace));
    if (!ok || !rule.route || rule.route.length === 0) continue;
    const target = targetOf(rule.route, scope, port, vs!.namespace);
    return tcpProxy(typeof target === "string" ? target : own, target);
  }
  return tcpProxy(own, own);
}

/**
 * Filter chains for a TLS-carrying service port, matched on SNI: one per
 * applicable `tls[]` match (its sniHosts), then the service host itself.
 * `taken` holds server names already used on the listener (Envoy refuses duplicates).
 */
export function sniFilterChains(scope: ProxyScope, svc: MeshService, port: number, taken: Set<string>): FilterChain[] {
  const chains: FilterChain[] = [];
  const add = (names: string[], filter: NetworkFilter) => {
    const fresh = [...new Set(names)].filter((n) => !taken.has(n)).sort();
    if (fresh.length === 0) return;
    fresh.forEach((n) => taken.add(n));
    chains.push({ filter_chain_match: { server_names: fresh }, filters: [filter] });
  };
  const vs = scope.virtualServices.get(svc.host);
  for (const rule of vs?.vs.spec.tls ?? []) {
    if (!rule.route || rule.route.length === 0) continue;
    for (const m of rule.match) {
      if (!applies(m, scope, port, vs!.namespace)) continue;
      const target = targetOf(rule.route, scope, port, vs!.namespace);
      add(m.sniHosts, tcpProxy(typeof target === "string" ? target : outboundClusterName(port, undefined, svc.host), target));
    }
  }
  const own = outboundClusterName(port, undefined, svc.host);
  add([svc.host], tcpProxy(own, own));
  return chains;
}
