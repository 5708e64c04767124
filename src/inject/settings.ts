/**
 * What the injector puts into a pod, mesh-wide: image, where the control plane
 * is, the proxy's user, capture defaults. Defaults match the install
 * manifests (`mini-pilot` Service in istio-system, image mini-pilot:0.1.0).
 *
 * Secure by default, as Istio's injected sidecars talk to istiod:15012: with a
 * CA address the agent gets a workload certificate there and its Envoy fetches
 * xDS from the same TLS port with it. Plaintext xDS (15010) only when asked:
 * no CA address, or `plaintextXds`.
 */
import type { CaptureDefaults } from "./annotations";

export interface InjectSettings extends CaptureDefaults {
  /** Image with `mini-pilot` as its entrypoint (and Envoy, for the agent). */
  image: string;
  imagePullPolicy: "Always" | "IfNotPresent" | "Never";
  /**
   * HOST:PORT for `mini-pilot agent --xds-address`; "" picks it: the CA address (TLS) when
   * certificates are on, else PLAINTEXT_DISCOVERY_ADDRESS.
   */
  discoveryAddress: string;
  /** Fetch xDS over plaintext even though the pod has a workload certificate (local development). */
  plaintextXds: boolean;
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
  discoveryAddress: "",
  plaintextXds: false,
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

/** The install's plaintext xDS port: what a pod without a workload certificate connects to. */
export const PLAINTEXT_DISCOVERY_ADDRESS = "mini-pilot.istio-system.svc:15010";

/** Where the injected agent fetches xDS, and whether over TLS (`--xds-tls`, its SDS certificate and ROOTCA). */
export function xdsTarget(s: Pick<InjectSettings, "discoveryAddress" | "caAddress" | "plaintextXds">): { address: string; tls: boolean } {
  const tls = s.caAddress !== "" && !s.plaintextXds;
  return { address: s.discoveryAddress || (tls ? s.caAddress : PLAINTEXT_DISCOVERY_ADDRESS), tls };
}
