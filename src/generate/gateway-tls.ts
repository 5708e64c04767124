/**
 * DownstreamTlsContext for a TLS-terminating gateway server (Istio's
 * BuildListenerTLSContext): ALPN h2 and http/1.1, the server certificate and
 * key, client certificate validation for MUTUAL (and optional for
 * OPTIONAL_MUTUAL), TLS versions and ciphers when set. Also the
 * UpstreamTlsContext of a DestinationRule `credentialName` on a gateway.
 *
 * With `credentialName` the certificate comes over SDS on the ADS stream, as
 * istiod serves it: `kubernetes://<name>` (certificate and key) and
 * `kubernetes://<name>-cacert` (the CA that validates peers), read from the
 * Secret in the proxy's own namespace (generate/secrets.ts). The SDS config
 * source deliberately has no `initial_fetch_timeout: 0s` (unlike LDS/RDS):
 * when the Secret is missing, Envoy stops waiting after its default 15 s and
 * activates the listener, so one bad credential does not hold back the other
 * servers on the port. Handshakes on the bad server fail until it is fixed.
 *
 * Deviation: with file paths, Istio hands them to Envoy through its agent's
 * SDS server (`file-cert:<cert>~<key>`, `file-root:<ca>`); mini-pilot puts the
 * paths into the context directly. Envoy reads the same files.
 */
import type { ClientTLSSettings, ServerTLSSettings } from "../model/types";
import type { TlsDefaults } from "../model/mesh-types";
import { CA_SUFFIX } from "../model/credentials";
import { filterCipherSuites } from "../model/validate/ciphers";
import { typed } from "./common";
import { upstreamTlsParams } from "./tls-origination";
import type { CertificateValidationContext, CommonTlsContext, SdsSecretConfig, TlsParameters, TransportSocket, UpstreamTlsContext } from "./envoy";

export const TLS_TRANSPORT_SOCKET = "envoy.transport_sockets.tls";
const ALPN_HTTP = ["h2", "http/1.1"];
/** istiod's prefix for a credential read from a Kubernetes Secret. */
export const KUBERNETES_SECRET_PREFIX = "kubernetes://";

const TLS_VERSION: Record<string, NonNullable<TlsParameters["tls_minimum_protocol_version"]>> = {
  TLS_AUTO: "TLS_AUTO",
  TLSV1_0: "TLSv1_0",
  TLSV1_1: "TLSv1_1",
  TLSV1_2: "TLSv1_2",
  TLSV1_3: "TLSv1_3",
};

/** `kubernetes://<name>`, served over ADS (the shared convention for gateway credentials). */
export function credentialSdsConfig(resourceName: string): SdsSecretConfig {
  return { name: resourceName, sds_config: { ads: {}, resource_api_version: "V3" } };
}

export function certificateResourceName(credentialName: string): string {
  return KUBERNETES_SECRET_PREFIX + credentialName;
}

export function caResourceName(credentialName: string): string {
  return KUBERNETES_SECRET_PREFIX + credentialName + CA_SUFFIX;
}

function credentialNamesOf(tls: ServerTLSSettings): string[] {
  if (tls.credentialNames && tls.credentialNames.length > 0) return tls.credentialNames;
  return tls.credentialName ? [tls.credentialName] : [];
}

/** Subject alt name matchers: a URI SAN (spiffe://...) or a DNS name. */
function sanMatchers(sans: string[] | undefined): Pick<CertificateValidationContext, "match_typed_subject_alt_names"> {
  if (!sans || sans.length === 0) return {};
  return { match_typed_subject_alt_names: sans.map((san) => ({ san_type: san.includes("://") ? "URI" : "DNS", matcher: { exact: san } })) };
}

export function downstreamTlsSocket(tls: ServerTLSSettings, tlsDefaults?: TlsDefaults): TransportSocket {
  const requireClient = tls.mode === "MUTUAL";
  const validateClient = requireClient || tls.mode === "OPTIONAL_MUTUAL";
  const common: CommonTlsContext = { alpn_protocols: ALPN_HTTP };
  const credentials = credentialNamesOf(tls);
  if (credentials.length > 0) {
    common.tls_certificate_sds_secret_configs = credentials.map((n) => credentialSdsConfig(certificateResourceName(n)));
    if (validateClient) {
      // Istio: the SANs stay in the listener, the CA comes over SDS; with several credentials the first one's CA.
      common.combined_validation_context = {
        default_validation_context: sanMatchers(tls.subjectAltNames),
        validation_context_sds_secret_config: credentialSdsConfig(caResourceName(credentials[0]!)),
      };
    }
  } else {
    // tlsCertificates: up to two file pairs (RSA and ECDSA); else the single serverCertificate/privateKey.
    const files = tls.tlsCertificates?.length ? tls.tlsCertificates : [{ serverCertificate: tls.serverCertificate, privateKey: tls.privateKey }];
    common.tls_certificates = files.map((f) => ({ certificate_chain: { filename: f.serverCertificate }, private_key: { filename: f.privateKey } }));
    if (validateClient && tls.caCertificates) common.validation_context = { trusted_ca: { filename: tls.caCertificates }, ...sanMatchers(tls.subjectAltNames) };
  }
  const params = tlsParams(tls, tlsDefaults);
  if (params) common.tls_params = params;
  return {
    name: TLS_TRANSPORT_SOCKET,
    typed_config: typed("envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext", {
      common_tls_context: common,
      require_client_certificate: requireClient,
    }),
  };
}

/**
 * A DestinationRule's SIMPLE or MUTUAL TLS with `credentialName`, on a gateway
 * (Istio honours it only there): MUTUAL presents `kubernetes://<name>`, both
 * validate the server with `kubernetes://<name>-cacert` unless
 * insecureSkipVerify. SANs stay in the cluster, as Istio puts them.
 */
export function upstreamCredentialTlsContext(
  tls: ClientTLSSettings & { credentialName: string },
  http2 = false,
  tlsDefaults?: TlsDefaults,
): UpstreamTlsContext {
  // As file-based origination (tls-origination.ts): TLS 1.2-1.3 and the mesh tlsDefaults, ALPN h2 alone to an HTTP/2 upstream.
  const common: CommonTlsContext = { tls_params: upstreamTlsParams(tlsDefaults) };
  if (tls.mode === "MUTUAL") common.tls_certificate_sds_secret_configs = [credentialSdsConfig(certificateResourceName(tls.credentialName))];
  if (!tls.insecureSkipVerify) {
    const sans = tls.subjectAltNames?.length
      ? { match_typed_subject_alt_names: tls.subjectAltNames.map((san) => ({ san_type: "DNS" as const, matcher: { exact: san } })) }
      : {};
    common.combined_validation_context = {
      default_validation_context: sans,
      validation_context_sds_secret_config: credentialSdsConfig(caResourceName(tls.credentialName)),
    };
  }
  if (http2) common.alpn_protocols = ["h2"];
  const ctx: UpstreamTlsContext = { common_tls_context: common };
  if (tls.sni) ctx.sni = tls.sni;
  return ctx;
}

/**
 * The mesh tlsDefaults (curves, ciphers, minimum version; istiod's applyDownstreamTLSDefaults), then what the
 * server sets, which wins (applyServerTLSSettings). Istio leaves Envoy's defaults otherwise.
 */
function tlsParams(tls: ServerTLSSettings, defaults: TlsDefaults | undefined): TlsParameters | undefined {
  const out: TlsParameters = {};
  if (tls.mode === "SIMPLE" || tls.mode === "MUTUAL" || tls.mode === "OPTIONAL_MUTUAL") {
    if (defaults?.ecdhCurves?.length) out.ecdh_curves = defaults.ecdhCurves;
    if (defaults?.cipherSuites?.length) out.cipher_suites = defaults.cipherSuites;
    if (defaults?.minProtocolVersion) out.tls_minimum_protocol_version = TLS_VERSION[defaults.minProtocolVersion]!;
  }
  const min = tls.minProtocolVersion && tls.minProtocolVersion !== "TLS_AUTO" ? TLS_VERSION[tls.minProtocolVersion] : undefined;
  const max = tls.maxProtocolVersion && tls.maxProtocolVersion !== "TLS_AUTO" ? TLS_VERSION[tls.maxProtocolVersion] : undefined;
  if (min) out.tls_minimum_protocol_version = min;
  if (max) out.tls_maximum_protocol_version = max;
  // Like istiod: unknown names and repeats are dropped (validation warns about them).
  const ciphers = filterCipherSuites(tls.cipherSuites ?? []);
  if (ciphers.length > 0) out.cipher_suites = ciphers;
  return Object.keys(out).length > 0 ? out : undefined;
}
