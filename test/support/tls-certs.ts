/**
 * Test certificates from the project's own CA library (src/security): a CA
 * and leaves for DNS names, with any validity window (an expired or
 * not-yet-valid certificate is one argument away). ECDSA P-256, so they are
 * quick to make.
 */
import { X509Certificate } from "node:crypto";
import { generateKeys, privateKeyPem } from "../../src/security/keys";
import { issueLeaf, makeSigner, selfSignedRoot, type Signer } from "../../src/security/issue";

const DAY = 24 * 3600 * 1000;

export interface TestCa {
  certPem: string;
  keyPem: string;
  signer: Signer;
}

export interface TestLeaf {
  certPem: string;
  keyPem: string;
}

export interface Validity {
  notBefore?: Date;
  notAfter?: Date;
}

export async function testCa(subject = "CN=mini-pilot test CA", v: Validity = {}): Promise<TestCa> {
  const { privateKey } = await generateKeys("ecdsa-p256");
  const certPem = await selfSignedRoot({
    privateKey,
    subject,
    notBefore: v.notBefore ?? new Date(Date.now() - DAY),
    notAfter: v.notAfter ?? new Date(Date.now() + 3650 * DAY),
  });
  return { certPem, keyPem: privateKeyPem(privateKey), signer: await makeSigner(new X509Certificate(certPem), privateKey) };
}

/** A leaf for `dnsNames` (or a SPIFFE-style URI when a name contains "://"), signed by `ca`. */
export async function testLeaf(ca: TestCa, dnsNames: string[], v: Validity = {}): Promise<TestLeaf> {
  const { privateKey, publicKey } = await generateKeys("ecdsa-p256");
  const certPem = await issueLeaf(ca.signer, {
    publicKey,
    names: dnsNames.map((n) => ({ type: n.includes("://") ? ("url" as const) : ("dns" as const), value: n })),
    notBefore: v.notBefore ?? new Date(Date.now() - DAY),
    notAfter: v.notAfter ?? new Date(Date.now() + 365 * DAY),
  });
  return { certPem, keyPem: privateKeyPem(privateKey) };
}

const b64 = (s: string) => Buffer.from(s).toString("base64");

/** A Secret manifest (YAML) in either of the shapes Istio reads. */
export function secretYaml(namespace: string, name: string, shape: "tls" | "generic", parts: { cert?: string; key?: string; ca?: string }): string {
  const keys = shape === "tls" ? { cert: "tls.crt", key: "tls.key", ca: "ca.crt" } : { cert: "cert", key: "key", ca: "cacert" };
  const data: string[] = [];
  if (parts.cert !== undefined) data.push(`  ${keys.cert}: ${b64(parts.cert)}`);
  if (parts.key !== undefined) data.push(`  ${keys.key}: ${b64(parts.key)}`);
  if (parts.ca !== undefined) data.push(`  ${keys.ca}: ${b64(parts.ca)}`);
  return [
    "apiVersion: v1",
    "kind: Secret",
    `metadata: {name: ${name}, namespace: ${namespace}}`,
    `type: ${shape === "tls" ? "kubernetes.io/tls" : "Opaque"}`,
    data.length > 0 ? "data:" : "data: {}",
    ...data,
    "",
  ].join("\n");
}
