/**
 * PeerAuthentication on the inbound side: one workload port's plaintext
 * filter chain (built by sidecar-listeners.ts, filters and all) becomes the
 * chains Istio's filterchain_options.go gives that mode:
 *
 * - STRICT: only mTLS (`transport_protocol: tls`, the workload certificate,
 *   a client certificate required); plaintext to the port matches no chain
 *   and is closed, and under a workload-wide STRICT so is plaintext to ports
 *   no service declares;
 * - PERMISSIVE: mTLS for clients that offer an Istio ALPN, plaintext
 *   (`transport_protocol: raw_buffer`) for the rest, and on TCP and
 *   auto-detected ports TLS without an Istio ALPN passed through as it is;
 * - DISABLE: plaintext only (`raw_buffer`).
 *
 * Ports without a declared protocol ("auto") get both an HTTP and a TCP chain
 * per variant: the HTTP one matched on the ALPN the HTTP inspector sets
 * (plaintext) or an Istio client sends for HTTP (`istio-http/1.1`, ...), the
 * TCP one for the rest. Upstream Envoy clients (mini-pilot's) send `istio`
 * over mTLS whatever the protocol, so their mTLS traffic to an auto port takes
 * the TCP chain.
 *
 * Only the match and the transport socket are added here: the chain's
 * filters (HTTP connection manager with its HTTP filters, or tcp_proxy) are
 * the same object in every variant, so filters added to the plaintext chain
 * (AuthorizationPolicy's RBAC) apply to mTLS traffic too.
 *
 * A proxy without a workload certificate (no `SDS` node metadata, see
 * model/mesh-mtls.ts) has nothing to offer under PERMISSIVE and stays
 * plaintext; STRICT is generated as written.
 */
import type { ProxyView } from "../model/proxy";
import type { Mesh } from "../model/mesh";
import { type MtlsMode, clientHasWorkloadCert, portMtlsMode, workloadMtls } from "../model/mesh-mtls";
import type { FilterChain, HttpConnectionManager, NetworkFilter } from "./envoy";
import { ISTIO_MTLS_ALPNS, inboundMtlsTransportSocket } from "./mtls";
import { HCM_FILTER } from "./network-filters";
import { MTLS_HTTP_ALPNS, MTLS_TCP_ALPNS, PLAINTEXT_HTTP_ALPNS, TRANSPORT_RAW, TRANSPORT_TLS } from "./sniffing";

type FilterChainMatch = NonNullable<FilterChain["filter_chain_match"]>;

/** How a workload port's traffic is handled: its declared protocol, or "auto" (detected per connection). */
export type InboundKind = "http" | "tcp" | "auto";

/** A port's plaintext chains without match: the HTTP one (HCM) and the TCP one (tcp_proxy); "auto" needs both. */
export interface InboundBodies {
  http?: FilterChain;
  tcp?: FilterChain;
}

export interface InboundMtls {
  /** The chains for one workload port, from its plaintext chain bodies. */
  chains(targetPort: number, kind: InboundKind, bodies: InboundBodies): FilterChain[];
  /** The passthrough chains for ports no service declares (`declared`: the workload ports that have chains). */
  catchAll(declared: ReadonlySet<number>, bodies: Required<InboundBodies>): FilterChain[];
}

/** One filter chain match option (Istio's FilterChainMatchOptions): ALPNs, transport, which body, TLS terminated here. */
interface MatchOption {
  alpn?: string[];
  transport: "tls" | "raw_buffer";
  body: "http" | "tcp";
  mtls?: true;
}

/**
 * Istio's option tables (filterchain_options.go getFilterChainMatchOptions), by protocol and mode. PERMISSIVE
 * with metadata exchange is the table Istio uses by default; its ALPNs are what an Istio client sends.
 */
const OPTIONS: Record<InboundKind, Record<MtlsMode, MatchOption[]>> = {
  http: {
    STRICT: [{ transport: TRANSPORT_TLS, body: "http", mtls: true }],
    PERMISSIVE: [
      { alpn: ISTIO_MTLS_ALPNS, transport: TRANSPORT_TLS, body: "http", mtls: true },
      { transport: TRANSPORT_RAW, body: "http" },
    ],
    DISABLE: [{ transport: TRANSPORT_RAW, body: "http" }],
  },
  auto: {
    STRICT: [
      { alpn: MTLS_HTTP_ALPNS, transport: TRANSPORT_TLS, body: "http", mtls: true },
      { transport: TRANSPORT_TLS, body: "tcp", mtls: true },
    ],
    PERMISSIVE: [
      { alpn: MTLS_HTTP_ALPNS, transport: TRANSPORT_TLS, body: "http", mtls: true },
      { alpn: PLAINTEXT_HTTP_ALPNS, transport: TRANSPORT_RAW, body: "http" },
      { alpn: MTLS_TCP_ALPNS, transport: TRANSPORT_TLS, body: "tcp", mtls: true },
      { transport: TRANSPORT_RAW, body: "tcp" },
      // TLS that is not Istio's (the app's own, no Istio ALPN) passes through as bytes.
      { transport: TRANSPORT_TLS, body: "tcp" },
    ],
    DISABLE: [
      { alpn: PLAINTEXT_HTTP_ALPNS, transport: TRANSPORT_RAW, body: "http" },
      { transport: TRANSPORT_RAW, body: "tcp" },
    ],
  },
  tcp: {
    STRICT: [{ transport: TRANSPORT_TLS, body: "tcp", mtls: true }],
    PERMISSIVE: [
      { alpn: ISTIO_MTLS_ALPNS, transport: TRANSPORT_TLS, body: "tcp", mtls: true },
      { transport: TRANSPORT_TLS, body: "tcp" },
      { transport: TRANSPORT_RAW, body: "tcp" },
    ],
    DISABLE: [{ transport: TRANSPORT_RAW, body: "tcp" }],
  },
};

export function inboundMtls(mesh: Mesh, proxy: ProxyView): InboundMtls {
  const workload = workloadMtls(mesh, proxy.namespace, proxy.labels);
  const hasCert = clientHasWorkloadCert(proxy);
  return {
    chains(targetPort, kind, bodies) {
      return matchChains(targetPort, effectiveMode(portMtlsMode(workload, targetPort), hasCert), kind, bodies);
    },
    catchAll(declared, bodies) {
      // Ports no service declares take the workload's own mode, sniffed (Istio's buildInboundPassthroughChains);
      // a port-level mode for a port no service declares gets chains of its own (Istio's ForPassthrough).
      const out = matchChains(undefined, effectiveMode(workload.mode, hasCert), "auto", bodies);
      for (const [port, mode] of [...workload.perPort].sort((a, b) => a[0] - b[0])) {
        if (!declared.has(port)) out.push(...matchChains(port, effectiveMode(mode, hasCert), "auto", bodies));
      }
      return out;
    },
  };
}

/**
 * The chains of one port (or, `port` undefined, of every port: the catch-all) in one mode. There is no default
 * chain on virtualInbound: a connection no chain of its port matches (plaintext to a STRICT port) is closed;
 * Envoy does not fall back from a port's chains to the port-less ones.
 */
function matchChains(port: number | undefined, mode: MtlsMode, kind: InboundKind, bodies: InboundBodies): FilterChain[] {
  const out: FilterChain[] = [];
  for (const o of OPTIONS[kind][mode]) {
    const body = bodies[o.body];
    if (!body) throw new Error(`inbound port ${port ?? "(any)"}: no ${o.body} chain for a ${kind} port`);
    const match: FilterChainMatch = port === undefined ? {} : { destination_port: port };
    if (o.alpn) match.application_protocols = o.alpn;
    match.transport_protocol = o.transport;
    const chain: FilterChain = { ...body, filter_chain_match: match };
    if (o.mtls) {
      chain.filters = (body.filters ?? []).map(withClientCertDetails);
      chain.transport_socket = inboundMtlsTransportSocket();
    }
    out.push(chain);
  }
  return out;
}

function effectiveMode(mode: MtlsMode, hasCert: boolean): MtlsMode {
  return mode === "PERMISSIVE" && !hasCert ? "DISABLE" : mode;
}

/**
 * On mTLS chains the HTTP connection manager tells the app who called, as
 * Istio's inbound HCM does: `x-forwarded-client-cert` with the peer's URI SAN
 * (its SPIFFE id), subject and DNS names, appended to what came in.
 */
function withClientCertDetails(f: NetworkFilter): NetworkFilter {
  if (f.name !== HCM_FILTER || !f.typed_config) return f;
  const hcm = f.typed_config as HttpConnectionManager & { "@type": string };
  return {
    ...f,
    typed_config: { ...hcm, forward_client_cert_details: "APPEND_FORWARD", set_current_client_cert_details: { subject: true, dns: true, uri: true } },
  } as NetworkFilter;
}
