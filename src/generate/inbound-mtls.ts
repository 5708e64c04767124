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
 *   (`transport_protocol: raw_buffer`) for the rest, and on TCP ports TLS
 *   without an Istio ALPN passed through as it is;
 * - DISABLE: plaintext only, the chain as it was.
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
import type { FilterChain, HttpConnectionManager, ListenerFilter, NetworkFilter } from "./envoy";
import { ISTIO_MTLS_ALPNS, inboundMtlsTransportSocket } from "./mtls";
import { HCM_FILTER, tcpProxy, tlsInspectorListenerFilter } from "./network-filters";
import { BLACKHOLE_CLUSTER } from "./names";

export interface InboundMtls {
  /** The chains for one workload port, from its plaintext chain. */
  chains(targetPort: number, http: boolean, plaintext: FilterChain): FilterChain[];
  /** The catch-all for ports no service declares: extra chains, and the default chain (none under STRICT). */
  catchAll(plaintext: FilterChain): { chains: FilterChain[]; default?: FilterChain };
  /** virtualInbound's listener filters: tls_inspector added when a chain matches on TLS (call last). */
  listenerFilters(base: ListenerFilter[]): ListenerFilter[];
}

export function inboundMtls(mesh: Mesh, proxy: ProxyView): InboundMtls {
  const workload = workloadMtls(mesh, proxy.namespace, proxy.labels);
  const hasCert = clientHasWorkloadCert(proxy);
  let tls = false;
  return {
    chains(targetPort, http, plaintext) {
      const mode = effectiveMode(portMtlsMode(workload, targetPort), hasCert);
      if (mode === "DISABLE") return [plaintext];
      tls = true;
      const match = plaintext.filter_chain_match ?? {};
      const secure: FilterChain = {
        ...plaintext,
        filters: (plaintext.filters ?? []).map(withClientCertDetails),
        filter_chain_match:
          mode === "STRICT" ? { ...match, transport_protocol: "tls" } : { ...match, transport_protocol: "tls", application_protocols: ISTIO_MTLS_ALPNS },
        transport_socket: inboundMtlsTransportSocket(),
      };
      // Envoy falls back to port-less chains, then the default chain, when no chain of a port matches: a
      // plaintext connection to a STRICT port must be closed here, not passed on to the catch-all.
      if (mode === "STRICT")
        return [
          secure,
          {
            filter_chain_match: { ...match, transport_protocol: "raw_buffer" },
            filters: [tcpProxy(BLACKHOLE_CLUSTER, BLACKHOLE_CLUSTER)],
            name: plaintext.name ?? "",
          },
        ];
      const raw: FilterChain = { ...plaintext, filter_chain_match: { ...match, transport_protocol: "raw_buffer" } };
      if (http) return [secure, raw];
      // TCP ports also pass TLS that is not Istio's (an app's own TLS, no Istio ALPN) through as bytes.
      return [secure, raw, { ...plaintext, filter_chain_match: { ...match, transport_protocol: "tls" } }];
    },
    catchAll(plaintext) {
      // Ports no service declares take the workload's own mode. Under STRICT they accept mTLS only (then pass the
      // bytes on to the app) and there is no plaintext default chain; otherwise they stay as they were.
      if (workload.mode !== "STRICT") return { chains: [], default: plaintext };
      tls = true;
      return { chains: [{ ...plaintext, filter_chain_match: { transport_protocol: "tls" }, transport_socket: inboundMtlsTransportSocket() }] };
    },
    listenerFilters(base) {
      return tls ? [...base, tlsInspectorListenerFilter()] : base;
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
