/**
 * Which CA a DestinationRule's SIMPLE / MUTUAL TLS origination trusts when the
 * rule names no `caCertificates`. istiod (1.31; the old
 * VERIFY_CERTIFICATE_AT_CLIENT switch is gone, verification is always on)
 * then asks pilot-agent for `file-root:system`: the operating system's CA
 * bundle, the first of a fixed list of paths that exists on the proxy's host
 * (pkg/security GetOSRootFilePath). `insecureSkipVerify: true` turns
 * verification off, and a `credentialName` brings its own CA.
 *
 * mini-pilot names the bundle file in the cluster (as it does for
 * `caCertificates`); the path is found once on mini-pilot's host
 * (sources/system-ca.ts), which runs the same image as its sidecars. When no
 * bundle exists there, the cluster refuses every server (it trusts a root
 * nothing chains to, generate/untrusted-root.ts) and a diagnostic says why:
 * Envoy would refuse a config naming a file that does not exist, and
 * verifying nothing would be worse.
 */
import type { ClientTLSSettings } from "./types";

/** Istio's list (GetOSRootFilePath, from Go's crypto/x509 root_linux.go), in its order. */
export const SYSTEM_CA_BUNDLE_CANDIDATES: readonly string[] = [
  "/etc/ssl/certs/ca-certificates.crt", // Debian/Ubuntu/Gentoo (and the mini-pilot image, node:20-bookworm-slim + ca-certificates)
  "/etc/pki/tls/certs/ca-bundle.crt", // Fedora/RHEL 6
  "/etc/ssl/ca-bundle.pem", // OpenSUSE
  "/etc/pki/tls/cacert.pem", // OpenELEC
  "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // CentOS/RHEL 7
  "/etc/ssl/cert.pem", // Alpine Linux
  "/usr/local/etc/ssl/cert.pem", // FreeBSD
  "/etc/ssl/certs/ca-certificates", // Talos Linux
];

/** The bundle mini-pilot assumes when nobody looked on a host (library use, golden files): Debian's. */
export const DEFAULT_SYSTEM_CA_BUNDLE = SYSTEM_CA_BUNDLE_CANDIDATES[0]!;

/** SIMPLE / MUTUAL from files, without caCertificates and without insecureSkipVerify: the server is checked against the system roots. */
export function verifiesWithSystemRoots(tls: ClientTLSSettings): boolean {
  return (tls.mode === "SIMPLE" || tls.mode === "MUTUAL") && !tls.caCertificates && !tls.credentialName && !tls.insecureSkipVerify;
}

/** The diagnostic for such a rule when this host has no system bundle. */
export function missingSystemBundleMessage(mode: string): string {
  return (
    `tls mode ${mode} without caCertificates verifies the server against the system CA bundle, but none of ` +
    `${SYSTEM_CA_BUNDLE_CANDIDATES.join(", ")} exists on this host; every connection through this rule is refused ` +
    `(install the ca-certificates package, set caCertificates, or insecureSkipVerify: true to skip verification)`
  );
}
