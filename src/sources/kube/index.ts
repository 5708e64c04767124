/** The Kubernetes source: informers for core kinds and Istio CRDs feeding a ConfigStore. */
export { createKubeSource } from "./source";
export type { InformerStatus, KubeSource, KubeSourceOptions } from "./source";
export { KubeStartError } from "./messages";
export type { StartFailure } from "./messages";
export { KubeConfigError, loadKubeConfig } from "./kubeconfig";
