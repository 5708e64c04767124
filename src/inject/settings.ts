/**
 * What the injector puts into a pod, mesh-wide: image, where the control plane
 * is, the proxy's user, capture defaults. Defaults match the install
 * manifests (`mini-pilot` Service in istio-system, image mini-pilot:0.1.0).
 */
import type { CaptureDefaults } from "./annotations";

export interface InjectSettings extends CaptureDefaults {
  /** Image with `mini-pilot` as its entrypoint (and Envoy, for the agent). */
  image: string;
  imagePullPolicy: "Always" | "IfNotPresent" | "Never";
  /** HOST:PORT of the control plane's plaintext xDS, for `mini-pilot agent --xds-address`. */
  discoveryAddress: string;
  /**
   * HOST:PORT of the control plane's TLS port, where the agent gets its workload certificate
   * (env CA_ADDR, as Istio's injector sets it); "" leaves certificates off.
   */
  caAddress: string;
  clusterId: string;
  meshId: string;
  trustDomain: string;
  /** Recorded in the status annotation, as Istio records its revision. */
  revision: string;
  /** Extra `mini-pilot agent` arguments (e.g. --xds-api delta). */
  agentArgs: string[];
  proxyResources: { requests: Record<string, string>; limits?: Record<string, string> };
}

export const DEFAULT_SETTINGS: InjectSettings = {
  image: "mini-pilot:0.1.0",
  imagePullPolicy: "IfNotPresent",
  discoveryAddress: "mini-pilot.istio-system.svc:15010",
  caAddress: "mini-pilot.istio-system.svc:15012",
  clusterId: "Kubernetes",
  meshId: "cluster.local",
  trustDomain: "cluster.local",
  revision: "default",
  agentArgs: [],
  proxyUid: 1337,
  proxyGid: 1337,
  includeOutboundIpRanges: "*",
  excludeOutboundIpRanges: "",
  includeInboundPorts: "*",
  excludeInboundPorts: "",
  proxyResources: { requests: { cpu: "100m", memory: "128Mi" } },
};
