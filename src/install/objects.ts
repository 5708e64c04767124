/** What every generated manifest shares: the object shape, the install options and the labels. */

export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> } } & Record<
  string,
  unknown
>;

export interface InstallOptions {
  /** Where mini-pilot runs. */
  namespace: string;
  image: string;
  replicas: number;
}

/**
 * The image `docker build -t mini-pilot:0.1.0 .` makes (package.json's version;
 * a test keeps them equal). No public registry publishes it yet.
 */
export const DEFAULT_IMAGE = "mini-pilot:0.1.0";

export const DEFAULTS: InstallOptions = { namespace: "istio-system", image: DEFAULT_IMAGE, replicas: 2 };

/** The name of every namespaced object, the ServiceAccount and the cluster-wide RBAC objects. */
export const NAME = "mini-pilot";

/** On every object, so `kubectl get all,crd,clusterrole -l app.kubernetes.io/name=mini-pilot` finds the install. */
export const LABELS: Readonly<Record<string, string>> = { "app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": NAME };

/** What the Deployment's pods carry and the Service and PodDisruptionBudget select. */
export const SELECTOR: Readonly<Record<string, string>> = { app: NAME };

/** Ports, named as Istio names istiod's. */
export const XDS_PORT = 15010;
/** xDS over TLS and Istio's certificate service, as istiod's 15012. */
export const SECURE_XDS_PORT = 15012;
export const MONITORING_PORT = 15014;
/** The injection webhook in the pod (istiod's 15017) and on the Service (443, what the API server dials). */
export const WEBHOOK_PORT = 15017;
export const WEBHOOK_SERVICE_PORT = 443;

/** Why options are unusable, one reason per entry; empty when they are fine. */
export function checkOptions(o: InstallOptions): string[] {
  const out: string[] = [];
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(o.namespace)) {
    out.push(
      `namespace "${o.namespace}" is not a valid Kubernetes namespace name (lower-case letters, digits and '-', at most 63, starting and ending with a letter or digit)`,
    );
  }
  if (!o.image || /\s/.test(o.image)) out.push(`image "${o.image}" is not an image reference`);
  if (!Number.isInteger(o.replicas) || o.replicas < 1 || o.replicas > 100) out.push(`replicas ${o.replicas} must be a whole number from 1 to 100`);
  return out;
}
