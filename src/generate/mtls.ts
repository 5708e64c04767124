/**
 * Istio mutual TLS between sidecars, as istiod writes it:
 *
 * - the workload's certificate and the mesh root come over SDS from the
 *   proxy's own agent (`default` and `ROOTCA`, bootstrap cluster `sds-grpc`);
 * - clients (UpstreamTlsContext) check the server's SPIFFE id against the
 *   destination service's service accounts and send SNI
 *   `outbound_.<port>_.<subset>_.<host>`;
 * - servers (DownstreamTlsContext) require a client certificate from the same
 *   root.
 *
 * ALPN: istiod advertises `istio-peer-exchange` next to `istio` when its
 * metadata-exchange filter (an Istio-only Envoy extension) is on. Upstream
 * Envoy has no such filter, so mini-pilot sends what istiod sends with
 * metadata exchange off: `istio` (`istio`, `h2` for HTTP/2 clusters). A real
 * Istio sidecar accepts that on every inbound chain; announcing
 * `istio-peer-exchange` without speaking it would break TCP traffic to one.
 */
import { typed } from "./common";
import type { CommonTlsContext, DownstreamTlsContext, TlsParameters, TransportSocket, UpstreamTlsContext } from "./envoy";
import type { EnvoyMessages } from "./envoy";

export const SDS_CLUSTER = "sds-grpc";
export const WORKLOAD_CERT_SECRET = "default";
export const ROOT_CA_SECRET = "ROOTCA";

/** Client ALPN (Istio's ALPNInMesh / ALPNInMeshH2). */
export const ALPN_IN_MESH = ["istio"];
export const ALPN_IN_MESH_H2 = ["istio", "h2"];
/** Server ALPN (Istio's ALPNDownstream). */
export const ALPN_DOWNSTREAM = ["h2", "http/1.1"];
/** Every ALPN an Istio client may send over mTLS (Istio's allIstioMtlsALPNs): PERMISSIVE matches on these. */
export const ISTIO_MTLS_ALPNS = ["istio", "istio-peer-exchange", "istio-http/1.0", "istio-http/1.1", "istio-h2"];

/** Istio's SupportedCiphers for sidecar servers (TLS 1.2; TLS 1.3 suites are fixed by BoringSSL). */
const SIDECAR_CIPHERS = [
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "AES256-GCM-SHA384",
  "AES128-GCM-SHA256",
];

type SdsSecretConfig = EnvoyMessages["envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig"];

/** A secret from the proxy's agent over SDS (Istio's ConstructSdsSecretConfig). */
export function agentSecret(name: string): SdsSecretConfig {
  return {
    name,
    sds_config: {
      api_config_source: {
        api_type: "GRPC",
        set_node_on_first_message_only: true,
        transport_api_version: "V3",
        grpc_services: [{ envoy_grpc: { cluster_name: SDS_CLUSTER } }],
      },
      initial_fetch_timeout: "0s",
      resource_api_version: "V3",
    },
  };
}

/** The workload certificate plus the root, with SAN checks when given. */
function workloadCommonTls(alpn: string[], sans: readonly string[], params: TlsParameters): CommonTlsContext {
  const common: CommonTlsContext = { tls_params: params };
  if (alpn.length > 0) common.alpn_protocols = alpn;
  common.tls_certificate_sds_secret_configs = [agentSecret(WORKLOAD_CERT_SECRET)];
  common.combined_validation_context = {
    default_validation_context: sans.length > 0 ? { match_typed_subject_alt_names: sans.map((san) => ({ san_type: "URI", matcher: { exact: san } })) } : {},
    validation_context_sds_secret_config: agentSecret(ROOT_CA_SECRET),
  };
  return common;
}

export interface IstioMutualOptions {
  /** SNI: a DestinationRule's `sni`, else the cluster's Istio SNI (`istioSni`). */
  sni: string;
  /** Server identities accepted: the rule's subjectAltNames, else the service's SPIFFE ids. */
  subjectAltNames: readonly string[];
  http2: boolean;
}

/** The client side of Istio mTLS (Istio's buildUpstreamClusterTLSContext for ISTIO_MUTUAL). */
export function istioMutualTransportSocket(o: IstioMutualOptions): TransportSocket {
  const params: TlsParameters = { tls_minimum_protocol_version: "TLSv1_2", tls_maximum_protocol_version: "TLSv1_3" };
  const ctx: UpstreamTlsContext = { common_tls_context: workloadCommonTls(o.http2 ? ALPN_IN_MESH_H2 : ALPN_IN_MESH, o.subjectAltNames, params), sni: o.sni };
  return { name: "envoy.transport_sockets.tls", typed_config: typed("envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", ctx) };
}

/** Istio's SNI for in-mesh mTLS: `outbound_.<port>_.<subset>_.<host>` (BuildDNSSrvSubsetKey). */
export function istioSni(port: number, subset: string | undefined, host: string): string {
  return `outbound_.${port}_.${subset ?? ""}_.${host}`;
}

export function rawBufferTransportSocket(): TransportSocket {
  return { name: "envoy.transport_sockets.raw_buffer", typed_config: typed("envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer") };
}

/** The metadata key and value endpoints with a sidecar carry (EDS), and auto-mTLS clusters match on. */
export const TRANSPORT_SOCKET_MATCH_KEY = "envoy.transport_socket_match";
export const TLS_MODE_MATCH = { tlsMode: "istio" };

/** Auto-mTLS: mTLS to endpoints labelled `tlsMode: istio`, plaintext to the rest (Istio's names). */
export function autoMtlsSocketMatches(mtls: TransportSocket): NonNullable<import("./envoy").Cluster["transport_socket_matches"]> {
  return [
    { name: "tlsMode-istio", match: TLS_MODE_MATCH, transport_socket: mtls },
    { name: "tlsMode-disabled", match: {}, transport_socket: rawBufferTransportSocket() },
  ];
}

/** The server side of Istio mTLS on an inbound chain (Istio's BuildInboundTLS). */
export function inboundMtlsTransportSocket(): TransportSocket {
  const params: TlsParameters = {
    tls_minimum_protocol_version: "TLSv1_2",
    tls_maximum_protocol_version: "TLSv1_3",
    cipher_suites: SIDECAR_CIPHERS,
  };
  const ctx: DownstreamTlsContext = { common_tls_context: workloadCommonTls(ALPN_DOWNSTREAM, [], params), require_client_certificate: true };
  return { name: "envoy.transport_sockets.tls", typed_config: typed("envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext", ctx) };
}
