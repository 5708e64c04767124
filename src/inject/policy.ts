/**
 * Whether a pod gets a sidecar, by Istio's rules (its injector's
 * injectRequired plus the selectors of its MutatingWebhookConfiguration):
 *  1. hostNetwork pods, and pods in kube-system, kube-public,
 *     kube-node-lease and local-path-storage, never;
 *  2. already injected (the status annotation, or an istio-proxy container): no change;
 *  3. namespace label istio-injection=disabled: never;
 *  4. the pod's label sidecar.istio.io/inject if present (even empty), else
 *     its annotation: "true", "y", "yes", "on" inject; "" has no opinion; any
 *     other value opts out;
 *  5. otherwise the namespace label istio-injection=enabled injects. When the
 *     namespace's labels are not given (kube-inject offline, as `istioctl
 *     kube-inject`; the webhook, whose namespaceSelector already matched, as
 *     Istio's) the pod is injected.
 * A pod in an unlabelled namespace is injected only with the *label*
 * sidecar.istio.io/inject=true: Istio's object selector looks at labels, so
 * the annotation alone is never seen there.
 */
import { INJECT, NAMESPACE_LABEL, STATUS } from "./annotations";

export const IGNORED_NAMESPACES = ["kube-system", "kube-public", "kube-node-lease", "local-path-storage"];
export const PROXY_CONTAINER = "istio-proxy";
export const INIT_CONTAINER = "istio-init";

export interface PodFacts {
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  hostNetwork: boolean;
  containerNames: string[];
  initContainerNames: string[];
}

export interface Decision {
  inject: boolean;
  /** Why, in words for a log line or a kube-inject note. */
  reason: string;
}

/** true / false / undefined (no opinion), as Istio reads the value. */
function opinion(value: string): boolean | undefined {
  const v = value.trim().toLowerCase();
  if (v === "") return undefined;
  return ["y", "yes", "true", "on"].includes(v);
}

/** `namespaceLabels` undefined: the namespace is unknown (offline injection). */
export function decide(pod: PodFacts, namespaceLabels: Record<string, string> | undefined): Decision {
  if (pod.hostNetwork) return { inject: false, reason: "the pod uses the host network" };
  if (IGNORED_NAMESPACES.includes(pod.namespace)) return { inject: false, reason: `namespace ${pod.namespace} is never injected` };
  if (pod.annotations[STATUS] !== undefined) return { inject: false, reason: `already injected (annotation ${STATUS})` };
  if (pod.containerNames.includes(PROXY_CONTAINER) || pod.initContainerNames.includes(INIT_CONTAINER)) {
    return { inject: false, reason: `already has a ${PROXY_CONTAINER} or ${INIT_CONTAINER} container` };
  }
  const nsValue = namespaceLabels?.[NAMESPACE_LABEL];
  if (nsValue === "disabled") return { inject: false, reason: `namespace ${pod.namespace} has ${NAMESPACE_LABEL}=disabled` };
  // A label that is present wins over the annotation even when empty (Istio reads one value, label first).
  const by = pod.labels[INJECT] !== undefined ? "label" : pod.annotations[INJECT] !== undefined ? "annotation" : undefined;
  const value = by === "label" ? opinion(pod.labels[INJECT]!) : by === "annotation" ? opinion(pod.annotations[INJECT]!) : undefined;
  const podSays = by !== undefined && value !== undefined ? { v: value, by } : undefined;
  if (podSays && !podSays.v) return { inject: false, reason: `the pod's ${podSays.by} ${INJECT} opts out` };
  if (namespaceLabels === undefined)
    return {
      inject: true,
      reason: podSays
        ? `the pod's ${podSays.by} ${INJECT} opts in`
        : "namespace labels left to the webhook's selector (or unknown offline): injected unless the pod opts out",
    };
  if (nsValue === "enabled") return { inject: true, reason: `namespace ${pod.namespace} has ${NAMESPACE_LABEL}=enabled` };
  // The object selector matches the label's exact value "true".
  if (pod.labels[INJECT] === "true") return { inject: true, reason: `the pod's label ${INJECT}=true` };
  if (podSays)
    return {
      inject: false,
      reason: `namespace ${pod.namespace} is not labelled ${NAMESPACE_LABEL}=enabled, and Istio honours only the label ${INJECT} there, not the annotation`,
    };
  return { inject: false, reason: `namespace ${pod.namespace} is not labelled ${NAMESPACE_LABEL}=enabled and the pod does not opt in` };
}
