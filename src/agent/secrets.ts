/**
 * The two secrets pilot-agent serves its Envoy over SDS, as Istio names them:
 * `default` (the workload certificate chain and its private key) and `ROOTCA`
 * (the roots peers' certificates must chain to), encoded as
 * envoy.extensions.transport_sockets.tls.v3.Secret. Inline bytes: the key
 * never touches a file.
 */
import { messageType } from "../xds/protos";

export const WORKLOAD_SECRET = "default";
export const ROOT_SECRET = "ROOTCA";
export const SECRET_TYPE_URL = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

export interface WorkloadCertificate {
  /** Leaf first, then intermediates (PEM). */
  certChainPem: string;
  /** PKCS#8 PEM, made in this process; never logged. */
  keyPem: string;
  /** The mesh roots (PEM). */
  rootPem: string;
  notAfter: Date;
}

/** The Secret message bytes for `name`, or undefined for a name the agent does not serve. */
export function encodeSecret(name: string, cert: WorkloadCertificate): Buffer | undefined {
  const Secret = messageType("envoy.extensions.transport_sockets.tls.v3.Secret");
  let obj: object;
  if (name === WORKLOAD_SECRET) {
    obj = {
      name,
      tls_certificate: { certificate_chain: { inline_bytes: Buffer.from(cert.certChainPem) }, private_key: { inline_bytes: Buffer.from(cert.keyPem) } },
    };
  } else if (name === ROOT_SECRET) {
    obj = { name, validation_context: { trusted_ca: { inline_bytes: Buffer.from(cert.rootPem) } } };
  } else return undefined;
  return Buffer.from(Secret.encode(Secret.fromObject(obj)).finish());
}
