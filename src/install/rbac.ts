/**
 * The ServiceAccount mini-pilot runs as and the least-privilege ClusterRole it
 * needs. The rules are derived from the Kubernetes source's table of watched
 * types (src/sources/kube/resources.ts): the source only lists and watches
 * them (src/sources/kube/access.ts probes exactly those two verbs; the
 * reflector never GETs one object), so no `get`, and nothing is written.
 *
 * Not granted, on purpose:
 *  - core/v1 `endpoints`: only read on clusters that do not serve
 *    discovery.k8s.io/v1 EndpointSlices (before Kubernetes 1.21);
 *  - apiextensions `customresourcedefinitions`: CRDs are found through API
 *    discovery (/apis/...), which every authenticated identity may read
 *    (the system:discovery ClusterRole), not by reading CRD objects;
 *
 * Secrets are listed and watched (gateway credentialName, served over SDS);
 * the source asks only for types that can hold a certificate (a field
 * selector on `type`), but RBAC cannot express that, so the rule is list and
 * watch on all Secrets.
 *
 * The security plane's own needs are in SECURITY_RULES, beside the watch table.
 */
import { ENDPOINT_SLICES, ISTIO_TYPES, NAMESPACES, NODES, PODS, SECRETS, SERVICES, type ResourceType } from "../sources/kube/resources";
import { LABELS, NAME, type InstallOptions, type K8sObject } from "./objects";

/** What the Kubernetes source watches on a cluster that serves EndpointSlices. */
export const WATCHED: readonly ResourceType[] = [SERVICES, PODS, NODES, NAMESPACES, ENDPOINT_SLICES, ...ISTIO_TYPES, SECRETS];

/** The verbs the source uses: a list, then a watch from its resourceVersion. */
export const VERBS: readonly string[] = ["list", "watch"];

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/**
 * What the CA in serve does on a cluster (src/security/): verify proxies'
 * tokens (TokenReview), publish the root as the istio-ca-root-cert ConfigMap
 * in every namespace and keep it (root-publisher.ts), and keep the CA in the
 * Secret istio-ca-secret (ca-secret.ts: read it, create it on first start).
 */
export const SECURITY_RULES: readonly PolicyRule[] = [
  { apiGroups: ["authentication.k8s.io"], resources: ["tokenreviews"], verbs: ["create"] },
  { apiGroups: [""], resources: ["configmaps"], verbs: ["create", "get", "list", "update", "watch"] },
  { apiGroups: [""], resources: ["secrets"], verbs: ["create", "get"] },
];

/** One rule per API group, resources sorted, groups in first-seen order. */
export function clusterRoleRules(types: readonly ResourceType[] = WATCHED): PolicyRule[] {
  const byGroup = new Map<string, Set<string>>();
  for (const t of types) {
    const set = byGroup.get(t.group) ?? new Set<string>();
    set.add(t.plural);
    byGroup.set(t.group, set);
  }
  return [...byGroup].map(([group, resources]) => ({ apiGroups: [group], resources: [...resources].sort(), verbs: [...VERBS] }));
}

export function serviceAccount(o: InstallOptions): K8sObject {
  return { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: NAME, namespace: o.namespace, labels: { ...LABELS } } };
}

export function clusterRole(): K8sObject {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name: NAME, labels: { ...LABELS } },
    rules: [...clusterRoleRules(), ...SECURITY_RULES.map((r) => ({ ...r, apiGroups: [...r.apiGroups], resources: [...r.resources], verbs: [...r.verbs] }))],
  };
}

/** Istio's mesh config: the `istio` ConfigMap in the root namespace (where mini-pilot is installed). */
export const MESH_CONFIGMAP = "istio";

/**
 * A Role in the install namespace: list and watch the one `istio` ConfigMap
 * (serve watches it with fieldSelector metadata.name=istio, which RBAC
 * authorizes against resourceNames), and no other ConfigMap.
 */
export function meshConfigRole(o: InstallOptions): K8sObject {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: { name: NAME, namespace: o.namespace, labels: { ...LABELS } },
    rules: [{ apiGroups: [""], resources: ["configmaps"], resourceNames: [MESH_CONFIGMAP], verbs: [...VERBS] }],
  };
}

export function meshConfigRoleBinding(o: InstallOptions): K8sObject {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name: NAME, namespace: o.namespace, labels: { ...LABELS } },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: NAME },
    subjects: [{ kind: "ServiceAccount", name: NAME, namespace: o.namespace }],
  };
}

export function clusterRoleBinding(o: InstallOptions): K8sObject {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name: NAME, labels: { ...LABELS } },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: NAME },
    subjects: [{ kind: "ServiceAccount", name: NAME, namespace: o.namespace }],
  };
}
