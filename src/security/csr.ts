/**
 * PKCS#10 certificate requests as pilot-agent sends them: parsed with
 * @peculiar/x509, the self-signature checked (proof the requester holds the
 * key), the key's strength checked, and the names it asks for read from its
 * subjectAltName extension request.
 */
import { createPublicKey, type KeyObject } from "node:crypto";
import { CsrRefusedError } from "./errors";
import { keyParams } from "./keys";
import { pemBlocks } from "./pem";
import { x509 } from "./x509";

export interface CheckedCsr {
  publicKey: KeyObject;
  /** subjectAltName entries asked for, as "URI:...", "DNS:...", "IP:..." etc. */
  requestedNames: { type: string; value: string }[];
}

const CSR_LABELS = new Set(["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"]);

export async function checkCsr(pem: string): Promise<CheckedCsr> {
  const blocks = pemBlocks(pem);
  if (blocks.some((b) => b.label.endsWith("PRIVATE KEY"))) {
    // Said without quoting the label, so no output ever contains a key's PEM header.
    throw new CsrRefusedError("it holds a private key; send only the certificate request (the key never leaves the workload)");
  }
  if (blocks.length !== 1 || !CSR_LABELS.has(blocks[0]?.label ?? "")) {
    throw new CsrRefusedError(
      `want exactly one PEM "CERTIFICATE REQUEST" block, found ${blocks.length === 0 ? "none" : blocks.map((b) => `"${b.label}"`).join(", ")}`,
    );
  }
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(blocks[0]?.text ?? "");
  } catch (e) {
    throw new CsrRefusedError(`it does not parse as PKCS#10 (${(e as Error).message})`);
  }
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: "der", type: "spki" });
  } catch (e) {
    throw new CsrRefusedError(`its public key does not parse (${(e as Error).message})`);
  }
  const params = keyParams(publicKey);
  if ("refused" in params) throw new CsrRefusedError(params.refused);
  let valid = false;
  try {
    valid = await csr.verify();
  } catch {
    valid = false;
  }
  if (!valid) throw new CsrRefusedError("its signature does not verify with its own public key (corrupted, or made without the private key)");
  const san = csr.extensions.find((e): e is x509.SubjectAlternativeNameExtension => e instanceof x509.SubjectAlternativeNameExtension);
  const requestedNames = (san?.names.items ?? []).map((n) => ({ type: n.type, value: n.value }));
  return { publicKey, requestedNames };
}

/** "URI:spiffe://..." style for messages (OpenSSL's spelling). */
export function describeName(n: { type: string; value: string }): string {
  const kind: Record<string, string> = { url: "URI", dns: "DNS", ip: "IP", email: "email", dn: "DirName", guid: "GUID", upn: "UPN", id: "RID" };
  return `${kind[n.type] ?? n.type}:${n.value}`;
}
