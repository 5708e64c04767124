/**
 * Reading PEM files: certificates and private keys, with errors that name the
 * file and the reason. Key errors never quote the file's contents.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from "node:crypto";

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)\r?\n?-----END \1-----/g;

export interface PemBlock {
  label: string;
  /** The whole block, BEGIN to END, with a final newline. */
  text: string;
}

export function pemBlocks(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK)) out.push({ label: m[1] ?? "", text: `${m[0]}\n` });
  return out;
}

/** Text outside PEM blocks that is not blank: a sign of a truncated or mangled file. */
function hasStrayText(text: string): boolean {
  return text.replace(BLOCK, "").trim() !== "";
}

/**
 * Every certificate in a PEM text, in order. `what` names the source in errors
 * ("ca-cert.pem"). An empty text gives an empty list; anything that is not
 * CERTIFICATE blocks is an error.
 */
export function parseCertificates(text: string, what: string): X509Certificate[] {
  const blocks = pemBlocks(text);
  if (blocks.length === 0 && text.trim() !== "") throw new Error(`${what}: no PEM block found (is it PEM, not DER or base64 without BEGIN/END lines?)`);
  if (hasStrayText(text)) throw new Error(`${what}: holds text outside BEGIN/END lines or an unterminated PEM block`);
  return blocks.map((b, i) => {
    if (b.label !== "CERTIFICATE") throw new Error(`${what}: PEM block ${i + 1} is "${b.label}", want "CERTIFICATE"`);
    try {
      return new X509Certificate(b.text);
    } catch (e) {
      throw new Error(`${what}: certificate ${i + 1} does not parse (${(e as Error).message})`);
    }
  });
}

/** The one private key in a PEM text. Encrypted keys are refused: the CA has no passphrase to ask for. */
export function parsePrivateKey(text: string, what: string): KeyObject {
  const blocks = pemBlocks(text);
  if (blocks.length === 0) throw new Error(`${what}: no PEM private key found`);
  const keys = blocks.filter((b) => b.label.endsWith("PRIVATE KEY"));
  if (keys.length !== 1) throw new Error(`${what}: holds ${keys.length} private keys, want exactly one`);
  const label = keys[0]?.label ?? "";
  if (label === "ENCRYPTED PRIVATE KEY" || /Proc-Type: 4,ENCRYPTED/.test(text))
    throw new Error(`${what}: the private key is encrypted; give it unencrypted (file mode 0600)`);
  try {
    return createPrivateKey({ key: keys[0]?.text ?? "", format: "pem" });
  } catch (e) {
    // Node's message names the decoder step, never the key bytes.
    throw new Error(`${what}: the private key does not parse (${(e as Error).message})`);
  }
}

/** "CN=foo, O=bar" for messages: Node prints one attribute a line. */
export function describeName(name: string): string {
  return name.split("\n").filter(Boolean).join(", ") || "(empty subject)";
}

export function certificatePem(cert: X509Certificate): string {
  return cert.toString().endsWith("\n") ? cert.toString() : `${cert.toString()}\n`;
}
