/**
 * Which AuthorizationPolicies apply to one workload, as istiod's
 * ListAuthorizationPolicies and ShouldAttachPolicy decide:
 * - policies in the root namespace (mesh-wide) and in the workload's own
 *   namespace, root namespace first, each oldest first;
 * - a policy without selector applies to every workload in its namespace
 *   (the root namespace's to every workload); with a selector, to workloads
 *   whose labels include all of matchLabels;
 * - a policy with targetRef(s) never applies to a sidecar or an Istio
 *   Gateway pod; it applies to a Kubernetes Gateway API gateway (a pod
 *   labelled `gateway.networking.k8s.io/gateway-name`) when it names that
 *   Gateway in the pod's namespace. Such gateways also take selector policies
 *   (Istio's default, ENABLE_SELECTOR_BASED_K8S_GATEWAY_POLICY=true).
 * The result is split by action; AUDIT is kept so the caller can say it is ignored.
 */
import type { Mesh } from "./mesh-types";
import { labelsMatch } from "./mesh-hosts";
import type { AuthorizationPolicy } from "./types";

export const GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name";

export interface WorkloadPolicies {
  allow: AuthorizationPolicy[];
  deny: AuthorizationPolicy[];
  audit: AuthorizationPolicy[];
  custom: AuthorizationPolicy[];
}

/** The workload as policy selection sees it: its namespace and labels (a recording view during generation). */
export interface PolicyWorkload {
  namespace: string;
  labels: Record<string, string>;
}

function targetRefs(p: AuthorizationPolicy): { group?: string; kind: string; name: string; namespace?: string }[] {
  if (p.spec.targetRefs && p.spec.targetRefs.length > 0) return p.spec.targetRefs;
  return p.spec.targetRef ? [p.spec.targetRef] : [];
}

function attaches(p: AuthorizationPolicy, w: PolicyWorkload): boolean {
  const refs = targetRefs(p);
  // Without targetRef every workload kind goes by the selector; the gateway label is only asked about when a policy has targetRefs.
  if (refs.length === 0) return labelsMatch(p.spec.selector?.matchLabels, w.labels);
  const gatewayName = Object.prototype.hasOwnProperty.call(w.labels, GATEWAY_NAME_LABEL) ? w.labels[GATEWAY_NAME_LABEL] : undefined;
  if (gatewayName === undefined || p.metadata.namespace !== w.namespace) return false;
  return refs.some(
    (r) => r.group === "gateway.networking.k8s.io" && r.kind === "Gateway" && r.name === gatewayName && (!r.namespace || r.namespace === w.namespace),
  );
}

export function authorizationPoliciesFor(mesh: Mesh, w: PolicyWorkload): WorkloadPolicies {
  const out: WorkloadPolicies = { allow: [], deny: [], audit: [], custom: [] };
  const namespaces = [...new Set([mesh.options.rootNamespace, w.namespace])];
  for (const ns of namespaces) {
    for (const p of mesh.authorizationPolicies.get(ns) ?? []) {
      if (!attaches(p, w)) continue;
      const action = p.spec.action ?? "ALLOW";
      if (action === "ALLOW") out.allow.push(p);
      else if (action === "DENY") out.deny.push(p);
      else if (action === "AUDIT") out.audit.push(p);
      else out.custom.push(p);
    }
  }
  return out;
}
