/**
 * Sidecar injection in the install: the MutatingWebhookConfiguration that
 * sends Pod CREATEs to serve's webhook (port 443 of the Service, 15017 in the
 * pod; Istio's shape and failurePolicy, src/inject/webhook-config.ts), and the
 * one permission serve needs for it: get and patch that single configuration
 * (resourceNames), to keep its caBundle equal to the CA root.
 */
import { DEFAULT_WEBHOOK_CONFIG_NAME, webhookConfiguration } from "../inject/webhook-config";
import { LABELS, NAME, WEBHOOK_SERVICE_PORT, type InstallOptions, type K8sObject } from "./objects";

/** Separate from the main ClusterRole: only the webhook needs it, and resourceNames keeps it to one object. */
export const INJECTOR_ROLE = `${NAME}-injector`;

export function injectorClusterRole(): K8sObject {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name: INJECTOR_ROLE, labels: { ...LABELS } },
    rules: [
      {
        apiGroups: ["admissionregistration.k8s.io"],
        resources: ["mutatingwebhookconfigurations"],
        resourceNames: [DEFAULT_WEBHOOK_CONFIG_NAME],
        verbs: ["get", "patch"],
      },
    ],
  };
}

export function injectorClusterRoleBinding(o: InstallOptions): K8sObject {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name: INJECTOR_ROLE, labels: { ...LABELS } },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: INJECTOR_ROLE },
    subjects: [{ kind: "ServiceAccount", name: NAME, namespace: o.namespace }],
  };
}

/** Without caBundle: serve writes the CA root there at start (and puts it back if an apply resets it). */
export function mutatingWebhookConfiguration(o: InstallOptions): K8sObject {
  const config = webhookConfiguration({
    target: { service: { name: NAME, namespace: o.namespace, port: WEBHOOK_SERVICE_PORT, path: "/inject" } },
  }) as K8sObject;
  return { ...config, metadata: { ...config.metadata, labels: { ...LABELS } } };
}
