/**
 * MeshConfig `tlsDefaults`: ECDH curves, cipher suites and a minimum TLS
 * version for the TLS Envoy speaks on behalf of users. Where istiod applies
 * them (1.31):
 *
 * - DestinationRule SIMPLE / MUTUAL origination (cluster_tls.go
 *   applyTLSDefaults): curves and cipher suites; the version stays TLS 1.2-1.3;
 * - gateway servers in SIMPLE, MUTUAL or OPTIONAL_MUTUAL (listener.go
 *   applyDownstreamTLSDefaults): curves, cipher suites and the minimum version,
 *   before the server's own `minProtocolVersion`/`cipherSuites`, which win;
 * - not Istio mTLS (ISTIO_MUTUAL, sidecar inbound): that is meshMTLS.
 *
 * Checking: Istio warns about unknown or repeated curves
 * (ValidateMeshTLSDefaults) and then hands them to Envoy as written, which
 * would make Envoy refuse every cluster or listener carrying them. mini-pilot
 * warns the same way and leaves such names out; cipher suites are filtered as
 * a Gateway's are (validate/ciphers.ts).
 */
import { filterCipherSuites, isValidCipherSuite } from "./validate/ciphers";
import type { TlsDefaults } from "./mesh-types";

/** As written in the MeshConfig (after the schema check). */
export interface MeshTlsDefaults {
  ecdhCurves?: string[];
  cipherSuites?: string[];
  minProtocolVersion?: "TLS_AUTO" | "TLSV1_2" | "TLSV1_3";
}

/** Istio's ValidECDHCurves (BoringSSL's names). */
const VALID_ECDH_CURVES = new Set(["P-224", "P-256", "P-521", "P-384", "X25519", "X25519Kyber768Draft00", "X25519MLKEM768"]);

/** Drop unknown and repeated curves and cipher names, each with a warning naming it. */
export function checkTlsDefaults(t: MeshTlsDefaults, warn: (path: string, message: string) => void): MeshTlsDefaults {
  const out: MeshTlsDefaults = { ...t };
  if (t.ecdhCurves) {
    const unknown = [...new Set(t.ecdhCurves.filter((c) => c !== "" && !VALID_ECDH_CURVES.has(c)))].sort();
    const seen = new Set<string>();
    const repeated = new Set<string>();
    for (const c of t.ecdhCurves)
      if (VALID_ECDH_CURVES.has(c) && seen.has(c)) repeated.add(c);
      else seen.add(c);
    if (unknown.length)
      warn(
        "tlsDefaults.ecdhCurves",
        `detected unrecognized ECDH curves: ${unknown.join(", ")} (left out: Envoy would refuse them; known: ${[...VALID_ECDH_CURVES].join(", ")})`,
      );
    if (repeated.size) warn("tlsDefaults.ecdhCurves", `detected duplicate ECDH curves: ${[...repeated].sort().join(", ")} (kept once)`);
    out.ecdhCurves = [...new Set(t.ecdhCurves.filter((c) => VALID_ECDH_CURVES.has(c)))];
  }
  if (t.cipherSuites) {
    const unknown = [...new Set(t.cipherSuites.filter((c) => !isValidCipherSuite(c)))].sort();
    if (unknown.length) warn("tlsDefaults.cipherSuites", `unrecognized cipher suites: ${unknown.join(", ")} (left out: Envoy would refuse them)`);
    out.cipherSuites = filterCipherSuites(t.cipherSuites).filter((c) => c !== "");
  }
  return out;
}

/** The options the generators read: empty lists and TLS_AUTO left out; undefined when nothing is left. */
export function tlsDefaultsOptions(t: MeshTlsDefaults): TlsDefaults | undefined {
  const out: TlsDefaults = {};
  if (t.ecdhCurves?.length) out.ecdhCurves = t.ecdhCurves;
  if (t.cipherSuites?.length) out.cipherSuites = t.cipherSuites;
  if (t.minProtocolVersion && t.minProtocolVersion !== "TLS_AUTO") out.minProtocolVersion = t.minProtocolVersion;
  return Object.keys(out).length > 0 ? out : undefined;
}
