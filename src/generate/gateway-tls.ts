/**
 * DownstreamTlsContext for a TLS-terminating gateway server with file
 * certificates (Istio's BuildListenerTLSContext): ALPN h2 and http/1.1, the
 * server certificate and key, client certificate validation for MUTUAL (and
 * optional for OPTIONAL_MUTUAL), TLS versions and ciphers when set.
 *
 * Deviation: Istio hands file paths to Envoy through its agent's SDS server
 * (`file-cert:<cert>~<key>`, `file-root:<ca>`); mini-pilot serves no SDS, so
 * the paths go into the context directly. Envoy reads the same files.
 */
import type { ServerTLSSettings } from "../model/types";
import { typed } from "./common";
import type { CertificateValidationContext, CommonTlsContext, TlsParameters, TransportSocket } from "./envoy";

export const TLS_TRANSPORT_SOCKET = "envoy.transport_sockets.tls";
const ALPN_HTTP = ["h2", "http/1.1"];

const TLS_VERSION: Record<string, NonNullable<TlsParameters["tls_minimum_protocol_version"]>> = {
  TLS_AUTO: "TLS_AUTO",
  TLSV1_0: "TLSv1_0",
  TLSV1_1: "TLSv1_1",
  TLSV1_2: "TLSv1_2",
  TLSV1_3: "TLSv1_3",
};

export function downstreamTlsSocket(tls: ServerTLSSettings): TransportSocket {
  const requireClient = tls.mode === "MUTUAL";
  const validateClient = requireClient || tls.mode === "OPTIONAL_MUTUAL";
  const common: CommonTlsContext = {
    alpn_protocols: ALPN_HTTP,
    tls_certificates: [{ certificate_chain: { filename: tls.serverCertificate }, private_key: { filename: tls.privateKey } }],
  };
  if (validateClient && tls.caCertificates) {
    const vc: CertificateValidationContext = { trusted_ca: { filename: tls.caCertificates } };
    if (tls.subjectAltNames && tls.subjectAltNames.length > 0) {
      // Client certificates usually carry a URI SAN (spiffe://...); anything else is matched as a DNS name.
      vc.match_typed_subject_alt_names = tls.subjectAltNames.map((san) => ({ san_type: san.includes("://") ? "URI" : "DNS", matcher: { exact: san } }));
    }
    common.validation_context = vc;
  }
  const params = tlsParams(tls);
  if (params) common.tls_params = params;
  return {
    name: TLS_TRANSPORT_SOCKET,
    typed_config: typed("envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext", {
      common_tls_context: common,
      require_client_certificate: requireClient,
    }),
  };
}

/** Only what the server sets (Istio leaves Envoy's defaults otherwise). */
function tlsParams(tls: ServerTLSSettings): TlsParameters | undefined {
  const out: TlsParameters = {};
  const min = tls.minProtocolVersion && tls.minProtocolVersion !== "TLS_AUTO" ? TLS_VERSION[tls.minProtocolVersion] : undefined;
  const max = tls.maxProtocolVersion && tls.maxProtocolVersion !== "TLS_AUTO" ? TLS_VERSION[tls.maxProtocolVersion] : undefined;
  if (min) out.tls_minimum_protocol_version = min;
  if (max) out.tls_maximum_protocol_version = max;
  if (tls.cipherSuites && tls.cipherSuites.length > 0) out.cipher_suites = tls.cipherSuites;
  return Object.keys(out).length > 0 ? out : undefined;
}
