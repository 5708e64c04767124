/**
 * The MutatingWebhookConfiguration that sends pods to the injection webhook,
 * in Istio's shape: one webhook for namespaces labelled
 * istio-injection=enabled (pods may still opt out with the label
 * sidecar.istio.io/inject=false), one for pods labelled
 * sidecar.istio.io/inject=true in namespaces without the label. For the
 * install manifests and the tests; the caBundle is filled in by
 * `mini-pilot inject-webhook --ca-bundle`.
 */
import type { Json } from "./sidecar";

export type WebhookTarget = { url: string } | { service: { name: string; namespace: string; port: number; path?: string } };

export interface WebhookConfigOptions {
  name?: string;
  target: WebhookTarget;
  /** PEM; left out when the webhook fills it in. */
  caPem?: string;
  failurePolicy?: "Fail" | "Ignore";
  timeoutSeconds?: number;
}

export const DEFAULT_WEBHOOK_CONFIG_NAME = "mini-pilot-sidecar-injector";

export function webhookConfiguration(o: WebhookConfigOptions): Json {
  const clientConfig: Json = "url" in o.target ? { url: o.target.url } : { service: { ...o.target.service, path: o.target.service.path ?? "/inject" } };
  if (o.caPem !== undefined) clientConfig.caBundle = Buffer.from(o.caPem).toString("base64");
  const common = {
    clientConfig,
    rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"] }],
    failurePolicy: o.failurePolicy ?? "Fail",
    sideEffects: "None",
    admissionReviewVersions: ["v1"],
    reinvocationPolicy: "Never",
    timeoutSeconds: o.timeoutSeconds ?? 10,
  };
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "MutatingWebhookConfiguration",
    metadata: { name: o.name ?? DEFAULT_WEBHOOK_CONFIG_NAME },
    webhooks: [
      {
        name: "namespace.sidecar-injector.mini-pilot.io",
        ...structuredClone(common),
        namespaceSelector: { matchExpressions: [{ key: "istio-injection", operator: "In", values: ["enabled"] }] },
        objectSelector: { matchExpressions: [{ key: "sidecar.istio.io/inject", operator: "NotIn", values: ["false"] }] },
      },
      {
        name: "object.sidecar-injector.mini-pilot.io",
        ...structuredClone(common),
        namespaceSelector: { matchExpressions: [{ key: "istio-injection", operator: "DoesNotExist" }] },
        objectSelector: { matchExpressions: [{ key: "sidecar.istio.io/inject", operator: "In", values: ["true"] }] },
      },
    ],
  };
}
