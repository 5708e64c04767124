/**
 * TLS cipher suites Istio accepts in a Gateway's `tls.cipherSuites`
 * (pkg/config/security ValidCipherSuites). Others are ignored with a warning,
 * by validation and by the generator alike, so Envoy never sees a name it
 * might refuse.
 */
const VALID_CIPHER_SUITES = new Set([
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
  "ECDHE-ECDSA-AES128-SHA",
  "ECDHE-RSA-AES128-SHA",
  "ECDHE-ECDSA-AES256-SHA",
  "ECDHE-RSA-AES256-SHA",
  "AES128-GCM-SHA256",
  "AES256-GCM-SHA384",
  "AES128-SHA",
  "AES256-SHA",
  "DES-CBC3-SHA",
]);

/** Like Istio: "" and "ALL" pass, and so does anything starting with an operator ("-", "+", "!", "["). */
export function isValidCipherSuite(cs: string): boolean {
  if (cs === "" || cs === "ALL") return true;
  if (!/^[\p{L}\p{N}]/u.test(cs)) return true;
  return VALID_CIPHER_SUITES.has(cs);
}

/** The valid suites, each once, in the order written (what istiod programs). */
export function filterCipherSuites(suites: readonly string[]): string[] {
  return [...new Set(suites.filter(isValidCipherSuite))];
}
