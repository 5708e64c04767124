/**
 * Checks on a CA's certificates and key before it signs anything: each
 * certificate is a CA and within its validity, the key belongs to the signing
 * certificate, and the chain verifies link by link up to a trusted root.
 * Problems are collected (not thrown one at a time) so `ca check` can show all.
 */
import type { KeyObject, X509Certificate } from "node:crypto";
import { spki } from "./keys";
import { describeName } from "./pem";
import { x509 } from "./x509";

export interface CaCertificates {
  /** The certificate that signs workload certificates (the root itself when self-signed). */
  caCert: X509Certificate;
  caKey: KeyObject;
  /** Trust anchors from root-cert.pem; the chain must end at one of them. */
  roots: X509Certificate[];
  /** cert-chain.pem as given (may repeat ca-cert and the root, as Istio's layout does). */
  chain: X509Certificate[];
}

export interface CheckedChain {
  /** Certificates strictly between the CA certificate and its root, nearest first. */
  intermediates: X509Certificate[];
  /** The root the chain ends at. */
  root: X509Certificate;
}

function label(file: string, cert: X509Certificate, index?: number): string {
  return `${file}${index !== undefined ? ` certificate ${index + 1}` : ""} (${describeName(cert.subject)})`;
}

function sameCert(a: X509Certificate, b: X509Certificate): boolean {
  return a.raw.equals(b.raw);
}

/** basicConstraints CA:TRUE, and keyCertSign when a key usage extension is present. */
function caProblems(cert: X509Certificate, where: string): string[] {
  if (!cert.ca) return [`${where} is not a CA certificate (basicConstraints CA:TRUE is missing)`];
  const usage = new x509.X509Certificate(cert.raw).getExtension(x509.KeyUsagesExtension);
  if (usage && (usage.usages & x509.KeyUsageFlags.keyCertSign) === 0) return [`${where} may not sign certificates (keyUsage lacks keyCertSign)`];
  return [];
}

function validityProblems(cert: X509Certificate, where: string, now: Date): string[] {
  const from = new Date(cert.validFrom);
  const to = new Date(cert.validTo);
  if (now < from) return [`${where} is not valid yet (notBefore ${from.toISOString()})`];
  if (now > to) return [`${where} has expired (notAfter ${to.toISOString()})`];
  return [];
}

/** Whether `child` names `parent` as issuer and carries its signature. */
function issuedBy(child: X509Certificate, parent: X509Certificate): boolean {
  return child.checkIssued(parent) && child.verify(parent.publicKey);
}

/**
 * Every problem with a CA's material at `now`, or the verified chain. `files`
 * names the source of each part in messages.
 */
export function checkCa(
  ca: CaCertificates,
  files: { caCert: string; caKey: string; rootCert: string; certChain: string },
  now: Date,
): { problems: string[]; warnings: string[]; chain?: CheckedChain } {
  const problems: string[] = [];
  const warnings: string[] = [];
  if (!spki(ca.caKey).equals(spki(ca.caCert.publicKey)))
    problems.push(`${files.caKey} does not match ${files.caCert}: the key is not the certificate's private key`);
  problems.push(...caProblems(ca.caCert, label(files.caCert, ca.caCert)), ...validityProblems(ca.caCert, label(files.caCert, ca.caCert), now));
  if (ca.roots.length === 0) problems.push(`${files.rootCert} holds no certificate`);
  ca.roots.forEach((r, i) => {
    const where = label(files.rootCert, r, ca.roots.length > 1 ? i : undefined);
    problems.push(...caProblems(r, where), ...validityProblems(r, where, now));
    if (!issuedBy(r, r)) warnings.push(`${where} is not self-signed; TLS clients that want a self-signed anchor will not trust it`);
  });
  // Istio's cert-chain.pem runs from ca-cert.pem up to the root, both usually included: keep only what is in between.
  const between = ca.chain.filter((c, i) => !(i === 0 && sameCert(c, ca.caCert)) && !ca.roots.some((r) => sameCert(r, c)));
  between.forEach((c) => {
    const where = label(files.certChain, c, ca.chain.indexOf(c));
    problems.push(...caProblems(c, where), ...validityProblems(c, where, now));
  });
  if (problems.length > 0) return { problems, warnings };

  const path = [ca.caCert, ...between];
  const where = (i: number) =>
    i === 0 ? label(files.caCert, ca.caCert) : label(files.certChain, path[i] as X509Certificate, ca.chain.indexOf(path[i] as X509Certificate));
  for (let i = 0; i + 1 < path.length; i++) {
    if (!issuedBy(path[i] as X509Certificate, path[i + 1] as X509Certificate)) {
      problems.push(`chain does not verify: ${where(i)} is not signed by the next certificate in ${files.certChain}, ${where(i + 1)}`);
    }
  }
  const top = path[path.length - 1] as X509Certificate;
  const root = ca.roots.find((r) => issuedBy(top, r));
  if (!root) {
    problems.push(
      `chain does not verify: ${where(path.length - 1)} is not signed by ${ca.roots.length === 1 ? label(files.rootCert, ca.roots[0] as X509Certificate) : `any certificate in ${files.rootCert}`}`,
    );
  }
  if (problems.length > 0 || !root) return { problems, warnings };
  const soon = new Date(now.getTime() + 30 * 24 * 3600 * 1000);
  for (const c of [...path, root])
    if (new Date(c.validTo) < soon) warnings.push(`${describeName(c.subject)} expires at ${new Date(c.validTo).toISOString()}, in under 30 days`);
  return { problems, warnings, chain: { intermediates: between, root } };
}
