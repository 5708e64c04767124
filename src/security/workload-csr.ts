/**
 * The workload side of certificate issuance (pilot-agent's job): a fresh key
 * pair made in this process and a PKCS#10 request for one SPIFFE identity.
 * The private key is returned to the caller only; it is never written to a
 * file or a log by this module, and the CSR carries the public key only.
 */
import { webcrypto } from "node:crypto";
import { generateKeys, keyParams, privateKeyPem, signingKey, type KeyAlgorithm } from "./keys";
import { x509 } from "./x509";

export interface WorkloadKeyAndCsr {
  /** PKCS#8 PEM; keep it in memory, hand it to Envoy over SDS only. */
  keyPem: string;
  csrPem: string;
}

export async function workloadCsr(identity: string, alg: KeyAlgorithm = "ecdsa-p256"): Promise<WorkloadKeyAndCsr> {
  const keys = await generateKeys(alg);
  const params = keyParams(keys.privateKey);
  if ("refused" in params) throw new Error(params.refused);
  const privateKey = await signingKey(keys.privateKey, params);
  const publicKey = await webcrypto.subtle.importKey("spki", keys.publicKey.export({ type: "spki", format: "der" }), params.importAs, true, ["verify"]);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys: { privateKey, publicKey },
    signingAlgorithm: params.signWith,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: "url", value: identity }], true)],
  });
  return { keyPem: privateKeyPem(keys.privateKey), csrPem: csr.toString("pem") };
}
