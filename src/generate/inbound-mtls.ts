/**
 * PeerAuthentication on the inbound side: one workload port's plaintext
 * filter chain (built by sidecar-listeners.ts, filters and all) becomes the
 * chains Istio's filterchain_options.go gives that mode:
 *
 * - STRICT: only mTLS (`transport_protocol: tls`, the workload certificate,
 *   a client certificate required); plaintext to the port is closed
 *   (BlackHoleCluster), and under a workload-wide STRICT so is plaintext to
 *   ports no service declares;
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
import { HCM_FILTER, tcpProxy } from "./network-filters";
import { BLACKHOLE_CLUSTER } from "./names";
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
  /** The catch-all for ports no service declares: extra chains, and the default chain (none under STRICT). */
  catchAll(plaintext: FilterChain): { chains: FilterChain[]; default?: FilterChain };
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
      const mode = effectiveMode(portMtlsMode(workload, targetPort), hasCert);
      const out: FilterChain[] = [];
      let name = "";
      for (const o of OPTIONS[kind][mode]) {
        const body = bodies[o.body];
        if (!body) throw new Error(`inbound port ${targetPort}: no ${o.body} chain for a ${kind} port`);
        name = body.name ?? name;
        const match: FilterChainMatch = { destination_port: targetPort, transport_protocol: o.transport };
        if (o.alpn) match.application_protocols = o.alpn;
        const chain: FilterChain = { ...body, filter_chain_match: match };
        if (o.mtls) {
          chain.filters = (body.filters ?? []).map(withClientCertDetails);
          chain.transport_socket = inboundMtlsTransportSocket();
        }
        out.push(chain);
      }
      // Not Istio's: a plaintext connection to a STRICT port is closed here. Istio has no default chain on
      // virtualInbound; mini-pilot's catch-all is one, and Envoy takes it when no chain of the port matches.
      if (mode === "STRICT")
        out.push({
          filter_chain_match: { destination_port: targetPort, transport_protocol: TRANSPORT_RAW },
          filters: [tcpProxy(BLACKHOLE_CLUSTER, BLACKHOLE_CLUSTER)],
          name,
        });
      return out;
    },
    catchAll(plaintext) {
      // Ports no service declares take the workload's own mode. Under STRICT they accept mTLS only (then pass the
      // bytes on to the app) and there is no plaintext default chain; otherwise they stay as they were.
      if (workload.mode !== "STRICT") return { chains: [], default: plaintext };
      return { chains: [{ ...plaintext, filter_chain_match: { transport_protocol: TRANSPORT_TLS }, transport_socket: inboundMtlsTransportSocket() }] };
    },
  };
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
