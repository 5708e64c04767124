/**
 * Workload identities are SPIFFE URIs the way Istio spells them:
 * `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`.
 */

export interface WorkloadIdentity {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

// A trust domain is a DNS-like name (SPIFFE allows lowercase letters, digits, '.', '-', '_').
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
// Namespaces and service accounts are Kubernetes names (DNS-1123 subdomain for SAs, label for namespaces).
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const SERVICE_ACCOUNT = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export function spiffeId(id: WorkloadIdentity): string {
  return `spiffe://${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}

/** Parse and check a SPIFFE workload identity; throws an Error that says what is wrong with it. */
export function parseSpiffeId(uri: string): WorkloadIdentity {
  const bad = (why: string) => new Error(`"${uri}" is not a workload identity: ${why} (want spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>)`);
  if (!uri.startsWith("spiffe://")) throw bad("it does not start with spiffe://");
  const parts = uri.slice("spiffe://".length).split("/");
  if (parts.length !== 5 || parts[1] !== "ns" || parts[3] !== "sa") throw bad("the path is not /ns/<namespace>/sa/<service-account>");
  const [trustDomain = "", , namespace = "", , serviceAccount = ""] = parts;
  if (!TRUST_DOMAIN.test(trustDomain)) throw bad(`trust domain "${trustDomain}" may hold only lowercase letters, digits, '.', '-' and '_'`);
  if (!NAMESPACE.test(namespace)) throw bad(`namespace "${namespace}" is not a Kubernetes namespace name`);
  if (!SERVICE_ACCOUNT.test(serviceAccount)) throw bad(`service account "${serviceAccount}" is not a Kubernetes name`);
  return { trustDomain, namespace, serviceAccount };
}

/** Check a trust domain given on its own (a flag, a config field). */
export function checkTrustDomain(trustDomain: string): void {
  if (!TRUST_DOMAIN.test(trustDomain)) throw new Error(`trust domain "${trustDomain}" may hold only lowercase letters, digits, '.', '-' and '_'`);
}
