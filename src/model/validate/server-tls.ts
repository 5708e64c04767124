/**
 * The fields of Istio's ServerTLSSettings, read the same way wherever they stand (a Gateway server's `tls`, a Sidecar
 * ingress listener's `tls`); each kind adds its own checks and its own view of the fields it does not program.
 */
import type { ServerTLSSettings } from "../types";
import { bool, enumOf, list, object, str, type Fields } from "./read";

export type TLSCertificate = NonNullable<ServerTLSSettings["tlsCertificates"]>[number];

const tlsVersion = enumOf("TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3");

export const serverTLSFields: Fields<ServerTLSSettings> = {
  httpsRedirect: bool,
  mode: enumOf("PASSTHROUGH", "SIMPLE", "MUTUAL", "AUTO_PASSTHROUGH", "ISTIO_MUTUAL", "OPTIONAL_MUTUAL"),
  serverCertificate: str,
  privateKey: str,
  caCertificates: str,
  credentialName: str,
  credentialNames: list(str),
  tlsCertificates: list(object<TLSCertificate>({ serverCertificate: str, privateKey: str, caCertificates: str })),
  subjectAltNames: list(str),
  minProtocolVersion: tlsVersion,
  maxProtocolVersion: tlsVersion,
  cipherSuites: list(str),
};
