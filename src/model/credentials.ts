/**
 * Gateway credentials from Secrets, the way istiod reads them
 * (pilot/pkg/credentials/kube): a certificate and key from `cert`/`key`
 * (generic Secret, preferred) or `tls.crt`/`tls.key` (kubernetes.io/tls), and
 * a CA bundle for client validation from `cacert` or `ca.crt`, looked up in
 * the Secret `<name>-cacert` first and then in `<name>` itself. Always in the
 * proxy's own namespace: a gateway never gets another namespace's Secret.
 *
 * Unlike istiod, a certificate and key are also checked before they are
 * served: PEM that does not parse or a key that does not belong to the
 * certificate would only make Envoy reject the whole SDS update, so such a
 * Secret is not served and a diagnostic says why. An expired or not yet valid
 * certificate is served (as istiod does) with a warning: clients will refuse
 * it, and the fix is a new Secret.
 *
 * Nothing here ever puts key material into a message: reasons name keys,
 * never values.
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import type { Secret } from "./types";

export const CA_SUFFIX = "-cacert";

/** One usable credential, with base64 values ready for Envoy's inline_bytes. */
export type Credential =
  | { ok: true; kind: "certificate"; certificateChain: string; privateKey: string; warning?: string }
  | { ok: true; kind: "ca"; trustedCa: string; warning?: string }
  | { ok: false; reason: string };

/** Which Secret a credential came from (or would have), for diagnostics. */
export interface CredentialLookup {
  /** The Secret the reason is about: "namespace/name". */
  secret: string;
  credential: Credential;
}

interface Window {
  notBefore: number;
  notAfter: number;
  subject: string;
}

/** A Secret read once: the credential, and the validity windows of its certificates. */
interface Parsed {
  credential: Credential;
  windows: Window[];
}

/** Parsing is by object: Secrets in the store are immutable and shared between pushes. */
const parsed = new WeakMap<Secret, Map<"certificate" | "ca", Parsed>>();

/** The certificate and key for `credentialName` in `namespace`. */
export function serverCredential(secrets: ReadonlyMap<string, Secret>, namespace: string, name: string, now: number): CredentialLookup {
  const secret = secrets.get(`${namespace}/${name}`);
  const where = `${namespace}/${name}`;
  if (!secret) return { secret: where, credential: { ok: false, reason: "not found" } };
  return { secret: where, credential: memo(secret, "certificate", () => readCertificate(secret), now) };
}

/** The client-validation CA for `credentialName` (resource `<name>-cacert`) in `namespace`. */
export function caCredential(secrets: ReadonlyMap<string, Secret>, namespace: string, name: string, now: number): CredentialLookup {
  const own = secrets.get(`${namespace}/${name}${CA_SUFFIX}`);
  const secret = own ?? secrets.get(`${namespace}/${name}`);
  const where = `${namespace}/${own ? name + CA_SUFFIX : name}`;
  if (!secret) return { secret: `${namespace}/${name}${CA_SUFFIX}`, credential: { ok: false, reason: `not found (nor ${namespace}/${name})` } };
  return { secret: where, credential: memo(secret, "ca", () => readCa(secret), now) };
}

function memo(secret: Secret, what: "certificate" | "ca", read: () => Parsed, now: number): Credential {
  let perSecret = parsed.get(secret);
  if (!perSecret) parsed.set(secret, (perSecret = new Map()));
  let got = perSecret.get(what);
  if (!got) perSecret.set(what, (got = read()));
  // Validity depends on the clock, so it is judged at each use, not memoized.
  const expired = validityProblem(got.windows, now);
  return expired && got.credential.ok ? { ...got.credential, warning: expired } : got.credential;
}

function value(secret: Secret, key: string): Buffer | undefined {
  const v = secret.spec.data[key];
  if (v === undefined) return undefined;
  return Buffer.from(v, "base64");
}

function has(secret: Secret, ...keys: string[]): boolean {
  return keys.every((k) => secret.spec.data[k] !== undefined);
}

function nonEmpty(secret: Secret, ...keys: string[]): boolean {
  return keys.every((k) => (value(secret, k)?.length ?? 0) > 0);
}

/** "cert, key, tls.crt" (at most three, then a count), as istiod words it. */
function foundKeys(secret: Secret): string {
  const keys = Object.keys(secret.spec.data).sort();
  if (keys.length === 0) return "no keys";
  return keys.length <= 3 ? keys.join(", ") : `${keys.slice(0, 3).join(", ")}, and ${keys.length - 3} more`;
}

function readCertificate(secret: Secret): Parsed {
  let certKey: string, keyKey: string;
  if (nonEmpty(secret, "cert", "key")) [certKey, keyKey] = ["cert", "key"];
  else if (nonEmpty(secret, "tls.crt", "tls.key")) [certKey, keyKey] = ["tls.crt", "tls.key"];
  else {
    const reason = has(secret, "cert", "key")
      ? 'keys "cert" and "key" are empty'
      : has(secret, "tls.crt", "tls.key")
        ? 'keys "tls.crt" and "tls.key" are empty'
        : `missing keys: want "tls.crt" and "tls.key" (kubernetes.io/tls) or "cert" and "key" (generic); found ${foundKeys(secret)}`;
    return { credential: { ok: false, reason }, windows: [] };
  }
  const certs = parseCertificates(value(secret, certKey)!);
  if (typeof certs === "string") return { credential: { ok: false, reason: `"${certKey}": ${certs}` }, windows: [] };
  const keyPem = value(secret, keyKey)!;
  let key;
  try {
    key = createPrivateKey({ key: keyPem, format: "pem" });
  } catch {
    // OpenSSL's own message is not shown: it is about the bytes, and says nothing a user can act on.
    return { credential: { ok: false, reason: `"${keyKey}" is not a PEM private key` }, windows: [] };
  }
  if (!certs[0]!.checkPrivateKey(key)) {
    return { credential: { ok: false, reason: `"${keyKey}" does not match the certificate in "${certKey}" (${describeCertificate(certs[0]!)})` }, windows: [] };
  }
  return {
    credential: { ok: true, kind: "certificate", certificateChain: secret.spec.data[certKey]!, privateKey: secret.spec.data[keyKey]! },
    windows: certs.map(windowOf),
  };
}

function readCa(secret: Secret): Parsed {
  const caKey = nonEmpty(secret, "cacert") ? "cacert" : nonEmpty(secret, "ca.crt") ? "ca.crt" : undefined;
  if (!caKey) {
    const reason = has(secret, "cacert")
      ? 'key "cacert" is empty'
      : has(secret, "ca.crt")
        ? 'key "ca.crt" is empty'
        : `missing key: want "ca.crt" or "cacert" for client certificate validation; found ${foundKeys(secret)}`;
    return { credential: { ok: false, reason }, windows: [] };
  }
  const certs = parseCertificates(value(secret, caKey)!);
  if (typeof certs === "string") return { credential: { ok: false, reason: `"${caKey}": ${certs}` }, windows: [] };
  return { credential: { ok: true, kind: "ca", trustedCa: secret.spec.data[caKey]! }, windows: certs.map(windowOf) };
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every certificate in a PEM bundle, or why there is none. */
function parseCertificates(pem: Buffer): X509Certificate[] | string {
  const blocks = pem.toString("latin1").match(PEM_CERT) ?? [];
  if (blocks.length === 0) return "no PEM certificate";
  const out: X509Certificate[] = [];
  for (const [i, b] of blocks.entries()) {
    try {
      out.push(new X509Certificate(b));
    } catch {
      return `PEM certificate ${i + 1} does not parse`;
    }
  }
  return out;
}

function windowOf(c: X509Certificate): Window {
  return { notBefore: Date.parse(c.validFrom), notAfter: Date.parse(c.validTo), subject: describeCertificate(c) };
}

/** "CN=x, O=y", or its SANs when the subject is empty (as in Istio's workload certificates). */
function describeCertificate(c: X509Certificate): string {
  const subject = (c.subject ?? "").replace(/\n/g, ", ");
  return subject || (c.subjectAltName ? `[${c.subjectAltName}]` : "(no subject)");
}

function validityProblem(windows: Window[], now: number): string | undefined {
  for (const w of windows) {
    if (now > w.notAfter) return `certificate ${w.subject} expired at ${new Date(w.notAfter).toISOString()}`;
    if (now < w.notBefore) return `certificate ${w.subject} is not valid before ${new Date(w.notBefore).toISOString()}`;
  }
  return undefined;
}
