/**
 * Key pairs for the CA and the certificates it issues: which algorithms are
 * accepted, how a Node KeyObject becomes a WebCrypto key for @peculiar/x509,
 * and which signature algorithm goes with it.
 */
import { createPublicKey, generateKeyPair, webcrypto, type KeyObject } from "node:crypto";
import { promisify } from "node:util";

const generate = promisify(generateKeyPair);

/**
 * Algorithms for keys this CA generates. ECDSA P-256 is the default: a key is
 * made in about a millisecond (RSA 2048 takes tens to hundreds), certificates and
 * handshakes are smaller, and Envoy, BoringSSL, OpenSSL and Go all accept it.
 * RSA 2048 is offered for parity with Istio's self-signed root.
 */
export const KEY_ALGORITHMS = ["ecdsa-p256", "rsa-2048"] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];

export function isKeyAlgorithm(v: string): v is KeyAlgorithm {
  return (KEY_ALGORITHMS as readonly string[]).includes(v);
}

export async function generateKeys(alg: KeyAlgorithm): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  if (alg === "rsa-2048") return generate("rsa", { modulusLength: 2048 });
  return generate("ec", { namedCurve: "prime256v1" });
}

/** The WebCrypto parameters for a key: import parameters and the matching signature algorithm. */
interface KeyParams {
  importAs: webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams;
  signWith: webcrypto.RsaHashedImportParams | webcrypto.EcdsaParams;
}

/**
 * What a key is, in words, or why it is not acceptable. Accepted: RSA of at
 * least 2048 bits, ECDSA on P-256 or P-384 (what Istio's agents and plugged-in
 * CAs use). Weaker or exotic keys are refused rather than silently signed.
 */
export function keyParams(key: KeyObject): KeyParams | { refused: string } {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === "rsa") {
    const bits = details.modulusLength ?? 0;
    if (bits < 2048) return { refused: `RSA key of ${bits} bits is too weak (want at least 2048)` };
    const p = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
    return { importAs: p, signWith: p };
  }
  if (key.asymmetricKeyType === "ec") {
    if (details.namedCurve === "prime256v1") return { importAs: { name: "ECDSA", namedCurve: "P-256" }, signWith: { name: "ECDSA", hash: "SHA-256" } };
    if (details.namedCurve === "secp384r1") return { importAs: { name: "ECDSA", namedCurve: "P-384" }, signWith: { name: "ECDSA", hash: "SHA-384" } };
    return { refused: `EC curve ${details.namedCurve ?? "(unknown)"} is not supported (want P-256 or P-384)` };
  }
  return { refused: `${key.asymmetricKeyType ?? "unknown"} keys are not supported (want RSA 2048+ or ECDSA P-256/P-384)` };
}

/** A signing CryptoKey for a private KeyObject (not extractable: the PEM stays the only copy). */
export async function signingKey(privateKey: KeyObject, params: KeyParams): Promise<webcrypto.CryptoKey> {
  const der = privateKey.export({ type: "pkcs8", format: "der" });
  return webcrypto.subtle.importKey("pkcs8", der, params.importAs, false, ["sign"]);
}

/** DER SubjectPublicKeyInfo: how two keys are compared and how a public key goes into a certificate. */
export function spki(key: KeyObject): Buffer {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  return pub.export({ type: "spki", format: "der" });
}

export function privateKeyPem(key: KeyObject): string {
  return String(key.export({ type: "pkcs8", format: "pem" }));
}
