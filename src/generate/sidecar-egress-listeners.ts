/**
 * Listeners of Sidecar egress listeners that have a port and their own
 * address, as istiod's buildSidecarOutboundListeners builds them (listener.go,
 * the port-specific branch):
 *
 * - the address is the egress `bind`, else 127.0.0.1 with `captureMode: NONE`;
 *   the listener is `<address>_<port>`;
 * - `captureMode: NONE`: Envoy binds the address itself (`bind_to_port`
 *   left at Envoy's default, true), for apps that call it directly without
 *   iptables; otherwise `bind_to_port: false` and virtualOutbound hands over
 *   captured connections to that address by original destination;
 * - the protocol is the egress port's (istiod's protocol.Parse, not the
 *   service's): HTTP family -> an HTTP connection manager on route config
 *   `<port>` (shared per port, as istiod's RDS name); a wildcard address also
 *   gets the HTTP inspector and the passthrough fallback chain, as the
 *   ordinary `0.0.0.0_<port>` listener; no protocol -> sniffing: HTTP to route
 *   config `<host>:<port>`, the rest to the service over TCP; other
 *   protocols -> tcp_proxy to the service (its VirtualService tcp routes apply);
 * - for TCP and sniffing one service owns the listener: the first by host
 *   (istiod merges the chains of several into one listener, where the first
 *   unmatched chain takes every connection too).
 *
 * The services come from that egress listener's hosts only; a listener
 * without services is not built (istiod loops over them).
 */
import { isHttpProtocol, isSniffedProtocol, namedProtocol, type Protocol } from "../model/mesh-protocol";
import type { BoundEgressListener } from "../model/mesh-sidecar";
import { socketAddress } from "./common";
import type { FilterChain, Listener } from "./envoy";
import { addressListenerName, sidecarRouteName, sniffedRouteName } from "./names";
import { acceptLimit } from "./listener-limits";
import { httpConnectionManager } from "./network-filters";
import { outboundHttpFilters } from "./route-filters";
import type { ProxyScope } from "./scope";
import { httpInspectorListenerFilter, outboundInspectionFields, outboundPassthroughChain, sniffedHttpMatch } from "./sniffing";
import { tcpProxyFor } from "./tcp-routes";

const WILDCARD = "0.0.0.0";

/** The egress port's protocol as istiod parses it (an unset protocol is auto-detected). */
export function egressProtocol(b: BoundEgressListener): Protocol {
  return namedProtocol(b.protocol, "").protocol;
}

/** One listener per bound egress listener with services, in the Sidecar's order; `fallbackCluster` is where a wildcard HTTP listener's non-HTTP traffic goes. */
export function boundEgressListeners(scope: ProxyScope, fallbackCluster: string): Listener[] {
  const out: Listener[] = [];
  const names = new Set<string>();
  for (const b of scope.boundEgress) {
    const first = b.services[0];
    if (!first) continue;
    const name = addressListenerName(b.address, b.port);
    if (names.has(name)) continue; // a later egress listener on the same address and port adds nothing (istiod's locked entry)
    names.add(name);
    const protocol = egressProtocol(b);
    const timeoutMs = scope.mesh.options.protocolDetectionTimeoutMs;
    const base: Listener = { name, address: socketAddress(b.address, b.port) };
    let rest: Listener;
    if (isHttpProtocol(protocol)) {
      const hcm = httpConnectionManager({ statPrefix: `outbound_${name}`, rds: sidecarRouteName(b.port), httpFilters: outboundHttpFilters() });
      rest =
        b.address === WILDCARD
          ? {
              filter_chains: [{ filter_chain_match: sniffedHttpMatch(), filters: [hcm] }],
              default_filter_chain: outboundPassthroughChain(fallbackCluster),
              listener_filters: [httpInspectorListenerFilter()],
              ...outboundInspectionFields(true, timeoutMs),
            }
          : { filter_chains: [{ filters: [hcm] }], ...outboundInspectionFields(false, timeoutMs) };
    } else if (isSniffedProtocol(protocol)) {
      const hcm = httpConnectionManager({ statPrefix: `outbound_${name}`, rds: sniffedRouteName(first.host, b.port), httpFilters: outboundHttpFilters() });
      rest = {
        filter_chains: [{ filter_chain_match: sniffedHttpMatch(), filters: [hcm] } as FilterChain],
        default_filter_chain: { filters: [tcpProxyFor(scope, first, b.port)] },
        listener_filters: [httpInspectorListenerFilter()],
        ...outboundInspectionFields(true, timeoutMs),
      };
    } else {
      rest = { filter_chains: [{ filters: [tcpProxyFor(scope, first, b.port)] }], ...outboundInspectionFields(false, timeoutMs) };
    }
    // A listener that binds its own socket accepts one connection per socket event, as istiod's (listener-limits.ts).
    const binding = b.bindToPort ? acceptLimit() : { bind_to_port: false };
    out.push({ ...base, ...rest, ...binding, traffic_direction: "OUTBOUND" });
  }
  return out;
}

/** The sniffing bound listeners' route configs to build: `<host>:<port>` of their first service. */
export function boundEgressSniffedRoutes(scope: ProxyScope): { service: BoundEgressListener["services"][number]; port: number }[] {
  const out: { service: BoundEgressListener["services"][number]; port: number }[] = [];
  for (const b of scope.boundEgress) {
    const first = b.services[0];
    if (first && isSniffedProtocol(egressProtocol(b))) out.push({ service: first, port: b.port });
  }
  return out;
}
