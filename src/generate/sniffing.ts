/**
 * Protocol detection ("sniffing") on sidecar listeners, as istiod writes it
 * (pilot/pkg/networking/core/listener.go, listener_inbound.go,
 * filterchain_options.go):
 *
 * - the HTTP inspector listener filter reads the first bytes of a plaintext
 *   connection and sets the application protocol (`http/1.1`, `h2c`); an HTTP
 *   chain matches on that (and `transport_protocol: raw_buffer`), everything
 *   else (TLS, raw TCP, a server-first protocol) takes the TCP chain;
 * - `listener_filters_timeout` is MeshConfig protocolDetectionTimeout where an
 *   inspector runs (Istio's default 0s: wait for the client as long as it
 *   takes), and `continue_on_listener_filters_timeout` lets a timed-out
 *   connection go on as TCP;
 * - on the inbound listener each inspector runs only for the ports whose
 *   chains need it (`filter_disabled` on the other ports); undeclared ports
 *   take the passthrough chains, sniffed the same way.
 */
import { msToDuration, typed } from "./common";
import type { EnvoyMessages, FilterChain, Listener, ListenerFilter, NetworkFilter } from "./envoy";
import { PASSTHROUGH_FILTER_CHAIN } from "./names";
import { tcpProxy, tlsInspectorListenerFilter } from "./network-filters";

type ListenerFilterChainMatchPredicate = EnvoyMessages["envoy.config.listener.v3.ListenerFilterChainMatchPredicate"];
type FilterChainMatch = NonNullable<FilterChain["filter_chain_match"]>;

export const HTTP_INSPECTOR = "envoy.filters.listener.http_inspector";

/** What the HTTP inspector reports for plaintext HTTP (Istio's plaintextHTTPALPNs; HTTP/1.0 only with PILOT_HTTP10). */
export const PLAINTEXT_HTTP_ALPNS = ["http/1.1", "h2c"];
/** ALPNs an Istio client sends over mTLS for traffic its outbound listener detected as HTTP (Istio's mtlsHTTPALPNs). */
export const MTLS_HTTP_ALPNS = ["istio-http/1.0", "istio-http/1.1", "istio-h2"];
/** ALPNs an Istio client sends over mTLS for TCP (Istio's mtlsTCPWithMxcALPNs). */
export const MTLS_TCP_ALPNS = ["istio-peer-exchange", "istio"];

export const TRANSPORT_TLS = "tls";
export const TRANSPORT_RAW = "raw_buffer";

export function httpInspectorListenerFilter(): ListenerFilter {
  return { name: HTTP_INSPECTOR, typed_config: typed("envoy.extensions.filters.listener.http_inspector.v3.HttpInspector") };
}

/** The match of an outbound chain that takes what the HTTP inspector recognised. */
export function sniffedHttpMatch(): FilterChainMatch {
  return { application_protocols: PLAINTEXT_HTTP_ALPNS, transport_protocol: TRANSPORT_RAW };
}

/**
 * Where outbound traffic no chain takes goes (Istio's buildOutboundCatchAllNetworkFiltersOnly):
 * on to its original destination under ALLOW_ANY, nowhere under REGISTRY_ONLY.
 */
export function outboundCatchAllFilters(cluster: string): NetworkFilter[] {
  return [tcpProxy(cluster, cluster)];
}

/** The default chain of an outbound listener whose chains all match on something (Istio's PassthroughFilterChain). */
export function outboundPassthroughChain(cluster: string): FilterChain {
  return { filter_chain_match: {}, filters: outboundCatchAllFilters(cluster), name: PASSTHROUGH_FILTER_CHAIN };
}

/**
 * The listener-filter fields every outbound listener gets (Istio's buildListenerFromEntry): the timeout only
 * counts when the HTTP inspector runs; otherwise 0s, no timeout.
 */
export function outboundInspectionFields(
  httpInspector: boolean,
  timeoutMs: number,
): Pick<Listener, "listener_filters_timeout" | "continue_on_listener_filters_timeout"> {
  return { listener_filters_timeout: msToDuration(httpInspector ? timeoutMs : 0), continue_on_listener_filters_timeout: true };
}

/** The inbound listener's: the timeout applies whatever inspectors run (Istio's buildInboundListener). */
export function inboundInspectionFields(timeoutMs: number): Pick<Listener, "listener_filters_timeout" | "continue_on_listener_filters_timeout"> {
  return { listener_filters_timeout: msToDuration(timeoutMs), continue_on_listener_filters_timeout: true };
}

/**
 * The inspectors the inbound listener's chains need (Istio's populateListenerFilters, after original_dst):
 * the TLS inspector where a chain matches `transport_protocol: tls`, then the HTTP inspector where one
 * matches a plaintext HTTP ALPN, each turned off (`filter_disabled`) on the ports that do not need it.
 * Port 0 stands for chains without a destination port (the catch-all).
 */
export function inboundInspectors(chains: FilterChain[]): ListenerFilter[] {
  const byPort = new Map<number, { tls: boolean; http: boolean }>();
  for (const c of chains) {
    const m = c.filter_chain_match ?? {};
    const port = typeof m.destination_port === "number" ? m.destination_port : 0;
    const cur = byPort.get(port) ?? { tls: false, http: false };
    cur.tls ||= m.transport_protocol === TRANSPORT_TLS;
    cur.http ||= (m.application_protocols ?? []).some((a) => a === "http/1.1" || a === "h2c");
    byPort.set(port, cur);
  }
  const out: ListenerFilter[] = [];
  const all = [...byPort.entries()].sort((a, b) => a[0] - b[0]);
  if (all.some(([, i]) => i.tls)) {
    const tls = tlsInspectorListenerFilter();
    // With the catch-all needing it, opt the ports that do not out; otherwise opt the ports that do in.
    const defaultOn = byPort.get(0)?.tls ?? false;
    const ports = all.filter(([p, i]) => p !== 0 && i.tls !== defaultOn).map(([p]) => p);
    if (ports.length > 0) tls.filter_disabled = defaultOn ? excludePorts(ports) : { not_match: excludePorts(ports) };
    out.push(tls);
  }
  // After the TLS inspector: a connection it marked as TLS is not inspected for HTTP. Turned off on every port
  // (port 0, the catch-all, included: a range that matches nothing, as istiod writes it) whose chains do not need it.
  if (all.some(([, i]) => i.http)) {
    const http = httpInspectorListenerFilter();
    const ports = all.filter(([, i]) => !i.http).map(([p]) => p);
    if (ports.length > 0) http.filter_disabled = excludePorts(ports);
    out.push(http);
  }
  return out;
}

/** A predicate matching connections to any of `ports` (Istio's listenerPredicateExcludePorts). */
function excludePorts(ports: number[]): ListenerFilterChainMatchPredicate {
  const rules: ListenerFilterChainMatchPredicate[] = ports.map((p) => ({ destination_port_range: { start: p, end: p + 1 } }));
  return rules.length === 1 ? rules[0]! : { or_match: { rules } };
}
