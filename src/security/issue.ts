/**
 * Building certificates: the self-signed root, and leaf certificates signed by
 * the CA with Istio's profile (empty subject, one critical subjectAltName,
 * keyUsage digitalSignature+keyEncipherment, extKeyUsage serverAuth+clientAuth).
 */
import { randomBytes, type KeyObject, type X509Certificate, type webcrypto } from "node:crypto";
import { keyParams, signingKey, spki } from "./keys";
import { x509 } from "./x509";

/** 16 random bytes, top bit clear so the DER integer stays positive and 16 bytes long (RFC 5280: at most 20). */
function serialNumber(): string {
  const b = randomBytes(16);
  b[0] = ((b[0] ?? 0) & 0x7f) | 0x40;
  return b.toString("hex");
}

function paramsOrThrow(key: KeyObject) {
  const p = keyParams(key);
  if ("refused" in p) throw new Error(p.refused);
  return p;
}

export async function selfSignedRoot(opts: { privateKey: KeyObject; subject: string; notBefore: Date; notAfter: Date }): Promise<string> {
  const params = paramsOrThrow(opts.privateKey);
  const key = await signingKey(opts.privateKey, params);
  const publicKey = spki(opts.privateKey);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: opts.subject,
    issuer: opts.subject,
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
    publicKey,
    signingKey: key,
    signingAlgorithm: params.signWith,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
    ],
  });
  return cert.toString("pem") + "\n";
}

/** A CA ready to sign: its certificate, and its key imported once for WebCrypto. */
export interface Signer {
  caCert: X509Certificate;
  key: webcrypto.CryptoKey;
  algorithm: webcrypto.Algorithm;
}

export async function makeSigner(caCert: X509Certificate, caKey: KeyObject): Promise<Signer> {
  const params = paramsOrThrow(caKey);
  return { caCert, key: await signingKey(caKey, params), algorithm: params.signWith };
}

export interface LeafRequest {
  publicKey: KeyObject;
  names: { type: "url" | "dns"; value: string }[];
  notBefore: Date;
  notAfter: Date;
}

/** A leaf certificate (PEM) for `req.publicKey`, signed by the CA. */
export async function issueLeaf(signer: Signer, req: LeafRequest): Promise<string> {
  const caPx = new x509.X509Certificate(signer.caCert.raw);
  // Name the issuer by the CA's own encoded subject, so name chaining is byte-exact with any CA (OpenSSL, cfssl, Vault...).
  const ski = caPx.getExtension(x509.SubjectKeyIdentifierExtension);
  const aki = ski ? new x509.AuthorityKeyIdentifierExtension(ski.keyId) : await x509.AuthorityKeyIdentifierExtension.create(caPx.publicKey);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: "",
    issuer: caPx.subjectName,
    notBefore: req.notBefore,
    notAfter: req.notAfter,
    publicKey: spki(req.publicKey),
    signingKey: signer.key,
    signingAlgorithm: signer.algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      aki,
      // Critical because the subject is empty (RFC 5280 4.2.1.6), as in Istio's workload certificates.
      new x509.SubjectAlternativeNameExtension(req.names, true),
    ],
  });
  return cert.toString("pem") + "\n";
}
