/**
 * Gateway TCP and TLS passthrough, as Istio's gateway listener builder:
 * - a TCP server (or a TLS server that terminates) forwards with the first
 *   `tcp[]` rule, of the first VirtualService bound to its gateway whose hosts
 *   meet the server's, that applies to the server port and gateway;
 * - a passthrough server gets one SNI filter chain per applicable `tls[]`
 *   match (its sniHosts); SNI names already used on the listener are skipped
 *   with a diagnostic (Envoy refuses duplicate filter chain matches).
 * One destination: tcp_proxy to its cluster (stat prefix the cluster);
 * several: weighted clusters, stat prefix `<vs name>.<vs namespace>`.
 */
import type { Diagnostic, L4MatchAttributes, RouteDestination } from "../model/types";
import type { MeshVirtualService } from "../model/mesh";
import { resolveGateway } from "../model/mesh";
import type { FilterChain, NetworkFilter } from "./envoy";
import { tcpProxy } from "./network-filters";
import { DestinationContext, resolveDestination } from "./route-action";
import { vsMatchesServer } from "./gateway-hosts";
import type { BoundServer } from "./gateway-merge";
import type { GatewayContext } from "./gateway-routes";

/** The tcp_proxy of a TCP or TLS-terminating server, or undefined when no rule routes it. */
export function gatewayTcpFilter(ctx: GatewayContext, s: BoundServer): NetworkFilter | undefined {
  for (const vs of ctx.virtualServices.get(s.gatewayName) ?? []) {
    if (!vsMatchesServer(vs, s.server.hosts, s.gateway.metadata.namespace)) continue;
    for (const rule of vs.vs.spec.tcp ?? []) {
      const applies = !rule.match || rule.match.length === 0 || rule.match.some((m) => l4Applies(m, s, vs));
      if (applies && rule.route && rule.route.length > 0) return forward(ctx, rule.route, vs, s);
    }
  }
  return undefined;
}

/**
 * SNI filter chains of a passthrough server. `claimed` holds the names the
 * listener already matches ("*" for a chain without SNI match); it grows.
 */
export function passthroughChains(ctx: GatewayContext, s: BoundServer, claimed: Set<string>, diagnostics: Diagnostic[]): FilterChain[] {
  const chains: FilterChain[] = [];
  for (const vs of ctx.virtualServices.get(s.gatewayName) ?? []) {
    if (!vsMatchesServer(vs, s.server.hosts, s.gateway.metadata.namespace)) continue;
    (vs.vs.spec.tls ?? []).forEach((rule, ri) => {
      if (!rule.route || rule.route.length === 0) return;
      rule.match.forEach((m, mi) => {
        if (!l4Applies(m, s, vs)) return;
        const names = sniNames(m.sniHosts);
        const dup = names.filter((n) => claimed.has(n));
        if (dup.length > 0) {
          diagnostics.push(
            vsDiagnostic(
              vs,
              `spec.tls[${ri}].match[${mi}].sniHosts`,
              `gateway ${s.gatewayName} port ${s.serverPort}: duplicate SNI host names ${dup.join(", ")}; rule left out`,
            ),
          );
          return;
        }
        names.forEach((n) => claimed.add(n));
        const chain: FilterChain = { filters: [forward(ctx, rule.route!, vs, s)] };
        if (!names.includes("*")) chain.filter_chain_match = { server_names: names };
        chains.push(chain);
      });
    });
  }
  return chains;
}

/** Sorted, deduplicated SNI names; a `*` means "any name" and stands alone. */
function sniNames(hosts: string[]): string[] {
  const names = [...new Set(hosts.map((h) => h.toLowerCase()))].sort();
  return names.includes("*") ? ["*"] : names;
}

/** Istio's l4SingleMatch for gateways: the port (if any) is the server's, the gateways (if any) include this one. */
function l4Applies(m: L4MatchAttributes, s: BoundServer, vs: MeshVirtualService): boolean {
  if (m.port !== undefined && m.port !== s.serverPort) return false;
  if (m.gateways && m.gateways.length > 0 && !m.gateways.some((g) => resolveGateway(g, vs.namespace) === s.gatewayName)) return false;
  return true;
}

function forward(ctx: GatewayContext, dests: RouteDestination[], vs: MeshVirtualService, s: BoundServer): NetworkFilter {
  const scope = ctx.scope;
  const dctx: DestinationContext = {
    mesh: scope.mesh,
    clientNamespace: scope.proxy.namespace,
    listenerPort: s.serverPort,
    destinationRule: (svc) => scope.destinationRule(svc),
  };
  const resolve = (d: RouteDestination) => resolveDestination(d.destination, vs.namespace, dctx).cluster;
  if (dests.length === 1) {
    const cluster = resolve(dests[0]!);
    return tcpProxy(cluster, cluster);
  }
  const weighted = dests.filter((d) => (d.weight ?? 0) > 0).map((d) => ({ name: resolve(d), weight: d.weight! }));
  // Validation refuses a zero total; should one slip through, use the first destination rather than an empty list.
  if (weighted.length === 0) {
    const cluster = resolve(dests[0]!);
    return tcpProxy(cluster, cluster);
  }
  return tcpProxy(`${vs.vs.metadata.name}.${vs.namespace}`, weighted);
}

function vsDiagnostic(vs: MeshVirtualService, field: string, message: string): Diagnostic {
  const d: Diagnostic = { severity: "warning", kind: "VirtualService", namespace: vs.namespace, name: vs.vs.metadata.name, field, message };
  if (vs.vs.origin) d.origin = vs.vs.origin;
  return d;
}
