/**
 * DestinationRule SIMPLE / MUTUAL TLS origination with certificate files, as
 * istiod builds it (cluster_tls.go constructUpstreamTLS):
 *
 * - TLS 1.2 to 1.3 (defaultUpstreamCommonTLSContext), where Envoy's client
 *   default would be 1.2 only;
 * - ALPN `h2` alone when the cluster speaks HTTP/2 upstream (ALPNH2Only), so a
 *   TLS server that negotiates ALPN picks HTTP/2;
 * - `auto_sni` when the rule names no `sni`: each new upstream connection
 *   carries the request's Host (without port) as SNI, so one cluster reaches
 *   a server that picks its certificate by name; `auto_san_validation` when
 *   it sets auto_sni, names no `subjectAltNames` and does not skip
 *   verification: the server certificate must then name that Host
 *   (setAutoSniAndAutoSanValidation). istiod sets both on every such cluster,
 *   whatever its port's protocol (they only act on HTTP traffic).
 *
 * The server is always verified, as istiod 1.31 does (constructUpstreamTLS):
 * against `caCertificates`, else against the operating system's CA bundle
 * (istiod's `file-root:system`, model/tls-roots.ts), unless
 * `insecureSkipVerify: true` (then an empty validation context, as istiod).
 * With no system bundle on this host the cluster trusts a root nothing chains
 * to (untrusted-root.ts): Envoy accepts it and refuses every server, and a
 * diagnostic says why (model/mesh-diagnostics.ts). Not istiod's
 * `file-root:system` over ADS: Envoy 1.40 crashes on an ADS-served secret in a
 * static cluster (`mini-pilot static`), and a config naming a missing file is
 * refused whole.
 *
 * MeshConfig `tlsDefaults` add their ECDH curves and cipher suites here (not
 * the minimum version: istiod's applyTLSDefaults leaves that to servers).
 *
 * A rule mini-pilot cannot honour (a credentialName on a sidecar, a MUTUAL rule
 * without files) yields no TLS; model/mesh-diagnostics.ts reports it.
 */
import type { ClientTLSSettings } from "../model/types";
import type { TlsDefaults } from "../model/mesh-types";
import { unsupportedTls } from "../model/mesh-diagnostics";
import { DEFAULT_SYSTEM_CA_BUNDLE, verifiesWithSystemRoots } from "../model/tls-roots";
import { UNTRUSTED_ROOT_PEM } from "./untrusted-root";
import { typed } from "./common";
import type { CertificateValidationContext, Cluster, CommonTlsContext, TlsParameters, UpstreamHttpProtocolOptions, UpstreamTlsContext } from "./envoy";

/** What origination reads from the mesh options. */
export interface OriginationDefaults {
  tlsDefaults?: TlsDefaults | undefined;
  /** The system CA bundle file; null: this host has none. */
  systemCaBundle: string | null;
}

const LIBRARY_DEFAULTS: OriginationDefaults = { systemCaBundle: DEFAULT_SYSTEM_CA_BUNDLE };

export const HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/** True when `tls` originates TLS from files (SIMPLE or MUTUAL that mini-pilot can build). */
export function originatesTls(tls: ClientTLSSettings | undefined): tls is ClientTLSSettings {
  return !!tls && (tls.mode === "SIMPLE" || tls.mode === "MUTUAL") && !unsupportedTls(tls);
}

/** The cluster's transport socket for SIMPLE / MUTUAL; `http2`: the cluster speaks HTTP/2 upstream. */
export function tlsOriginationSocket(
  tls: ClientTLSSettings | undefined,
  http2: boolean,
  defaults: OriginationDefaults = LIBRARY_DEFAULTS,
): Pick<Cluster, "transport_socket"> {
  if (!originatesTls(tls)) return {};
  const common: CommonTlsContext = { tls_params: upstreamTlsParams(defaults.tlsDefaults) };
  Object.assign(common, serverValidation(tls, defaults.systemCaBundle));
  if (tls.mode === "MUTUAL") {
    common.tls_certificates = [{ certificate_chain: { filename: tls.clientCertificate }, private_key: { filename: tls.privateKey } }];
  }
  if (http2) common.alpn_protocols = ["h2"];
  const ctx: UpstreamTlsContext = { common_tls_context: common };
  if (tls.sni) ctx.sni = tls.sni;
  return {
    transport_socket: { name: "envoy.transport_sockets.tls", typed_config: typed("envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", ctx) },
  };
}

/** How the server's certificate is checked: the rule's CA file, else the system bundle; nothing with insecureSkipVerify. */
function serverValidation(tls: ClientTLSSettings, systemCaBundle: string | null): Pick<CommonTlsContext, "validation_context"> {
  if (tls.insecureSkipVerify) return { validation_context: {} };
  const sans: Pick<CertificateValidationContext, "match_typed_subject_alt_names"> = tls.subjectAltNames?.length
    ? { match_typed_subject_alt_names: tls.subjectAltNames.map((san) => ({ san_type: "DNS", matcher: { exact: san } })) }
    : {};
  const ca = tls.caCertificates || (verifiesWithSystemRoots(tls) ? systemCaBundle : null);
  if (ca) return { validation_context: { trusted_ca: { filename: ca }, ...sans } };
  // No bundle on this host: every server is refused (fail closed), and Envoy still accepts the cluster.
  return { validation_context: { trusted_ca: { inline_string: UNTRUSTED_ROOT_PEM }, ...sans } };
}

/**
 * defaultUpstreamCommonTLSContext: TLS 1.2 to 1.3 on every TLS connection a DestinationRule originates, plus the
 * MeshConfig tlsDefaults curves and cipher suites (applyTLSDefaults).
 */
export function upstreamTlsParams(defaults?: TlsDefaults): TlsParameters {
  const out: TlsParameters = { tls_minimum_protocol_version: "TLSv1_2", tls_maximum_protocol_version: "TLSv1_3" };
  if (defaults?.cipherSuites?.length) out.cipher_suites = defaults.cipherSuites;
  if (defaults?.ecdhCurves?.length) out.ecdh_curves = defaults.ecdhCurves;
  return out;
}

/** The cluster speaks HTTP/2 upstream (istiod's isHttp2Cluster: explicit HTTP/2 protocol options). */
export function speaksHttp2(c: Cluster): boolean {
  const body = c.typed_extension_protocol_options?.[HTTP_PROTOCOL_OPTIONS] as UpstreamHttpProtocolOptions | undefined;
  return body?.explicit_http_config?.http2_protocol_options !== undefined;
}

export interface AutoSni {
  autoSni: boolean;
  autoSanValidation: boolean;
}

/** auto_sni / auto_san_validation for a cluster with file-based SIMPLE / MUTUAL TLS (see autoSniRule). */
export function autoSniFor(tls: ClientTLSSettings | undefined): AutoSni | undefined {
  return originatesTls(tls) ? autoSniRule(tls) : undefined;
}

/** istiod's setAutoSniAndAutoSanValidation for a (non dynamic-forward-proxy) cluster that originates TLS. */
export function autoSniRule(tls: ClientTLSSettings): AutoSni | undefined {
  const autoSni = !tls.sni;
  const autoSanValidation = autoSni && !tls.subjectAltNames?.length && !tls.insecureSkipVerify;
  return autoSni || autoSanValidation ? { autoSni, autoSanValidation } : undefined;
}

/**
 * Add auto_sni / auto_san_validation to the cluster's HttpProtocolOptions, creating them as istiod's
 * clusterWrapper.build does when there were none (explicit HTTP/1.1: a protocol must be named).
 */
export function withAutoSni(c: Cluster, a: AutoSni | undefined): void {
  if (!a) return;
  const opts = c.typed_extension_protocol_options ?? {};
  const body = (opts[HTTP_PROTOCOL_OPTIONS] as UpstreamHttpProtocolOptions | undefined) ?? {};
  const upstream: NonNullable<UpstreamHttpProtocolOptions["upstream_http_protocol_options"]> = {};
  if (a.autoSni) upstream.auto_sni = true;
  if (a.autoSanValidation) upstream.auto_san_validation = true;
  const next: UpstreamHttpProtocolOptions = { ...body, upstream_http_protocol_options: upstream };
  if (!next.explicit_http_config && !next.use_downstream_protocol_config && !next.auto_config) next.explicit_http_config = { http_protocol_options: {} };
  c.typed_extension_protocol_options = { ...opts, [HTTP_PROTOCOL_OPTIONS]: typed(HTTP_PROTOCOL_OPTIONS, next) };
}
