/**
 * The indexed mesh model that generators read: services by host, their ports
 * and endpoints, and the Istio rules that apply to them. Built once per config
 * change by `buildMesh`; immutable afterwards.
 */
import type {
  AuthorizationPolicy,
  DestinationRule,
  Gateway,
  LocalityLbSetting,
  HTTPRetry,
  Node,
  Origin,
  PeerAuthentication,
  Pod,
  Secret,
  Sidecar,
  Subset,
  TrafficPolicy,
  VirtualService,
} from "./types";
import type { Protocol } from "./mesh-protocol";

export interface MeshOptions {
  /** Where mesh-wide DestinationRules live (default "istio-system"). */
  rootNamespace: string;
  /** What a sidecar does with traffic to unknown destinations (default ALLOW_ANY). */
  outboundTrafficPolicy: "ALLOW_ANY" | "REGISTRY_ONLY";
  /** Cluster DNS suffix (default "cluster.local"). */
  domainSuffix: string;
  /** Send not-ready endpoints as UNHEALTHY instead of leaving them out (default true, as istiod's PILOT_AUTO_SEND_UNHEALTHY_ENDPOINTS). */
  includeNotReadyEndpoints: boolean;
  /** HTTP tracing (MeshConfig enableTracing, on by default as in Istio, / defaultProviders.tracing); absent: off. */
  tracing?: MeshTracing;
  /** MeshConfig accessLogFile/accessLogEncoding; absent: no access log. */
  accessLog?: { path: string; encoding: "TEXT" | "JSON" };
  /** MeshConfig connectTimeout in ms: service clusters whose DestinationRule sets none (default 10 s). */
  connectTimeoutMs: number;
  /** MeshConfig default*ExportTo: what an object without exportTo is exported to (default everywhere). */
  defaultExportTo: { virtualService?: string[]; destinationRule?: string[] };
  /** SPIFFE trust domain of workload identities (MeshConfig trustDomain, default "cluster.local"). */
  trustDomain: string;
  /** MeshConfig enableAutoMtls: mTLS to endpoints that carry a sidecar, without a DestinationRule (default true). */
  enableAutoMtls: boolean;
  /**
   * MeshConfig localityLbSetting, used where a DestinationRule sets none
   * (Istio's default `{enabled: true}`; undefined when the mesh config says
   * `enabled: false`, as istiod's GetEffectiveLbSetting then finds none).
   */
  localityLbSetting?: LocalityLbSetting;
  /** MeshConfig protocolDetectionTimeout in ms: listener_filters_timeout where an inspector runs (Istio's default 0: no timeout). */
  protocolDetectionTimeoutMs: number;
  /** MeshConfig defaultConfig.gatewayTopology: how gateways treat X-Forwarded-For and client certificate headers. */
  gatewayTopology?: GatewayTopology;
  /** MeshConfig pathNormalization.normalization; absent: BASE (istiod's DEFAULT). */
  pathNormalization?: PathNormalization;
  /** MeshConfig defaultHttpRetryPolicy: the retries of routes whose VirtualService sets none; absent: istiod's built-in policy. */
  defaultHttpRetryPolicy?: HTTPRetry;
  /** MeshConfig tlsDefaults: ECDH curves and cipher suites of DestinationRule TLS origination and gateway servers, and the servers' minimum version. */
  tlsDefaults?: TlsDefaults;
  /** The operating system CA bundle that SIMPLE/MUTUAL origination without caCertificates trusts (model/tls-roots.ts); null: this host has none. */
  systemCaBundle: string | null;
}

/** MeshConfig tlsDefaults (unknown curves and cipher names already dropped, with a warning). */
export interface TlsDefaults {
  ecdhCurves?: string[];
  cipherSuites?: string[];
  /** TLS_AUTO is left out. */
  minProtocolVersion?: "TLSV1_2" | "TLSV1_3";
}

export type PathNormalization = "NONE" | "BASE" | "MERGE_SLASHES" | "DECODE_AND_MERGE_SLASHES";

/** Istio's ForwardClientCertDetails values (the same names as Envoy's). */
export type ForwardClientCertDetails = "SANITIZE" | "FORWARD_ONLY" | "APPEND_FORWARD" | "SANITIZE_SET" | "ALWAYS_FORWARD_ONLY";

export interface GatewayTopology {
  /** Trusted proxies in front of the gateway: xff_num_trusted_hops. */
  numTrustedProxies?: number;
  /** Default SANITIZE_SET. */
  forwardClientCertDetails?: ForwardClientCertDetails;
}

/** What an HTTP connection manager's `tracing` is built from (istiod: configureTracing). */
export interface MeshTracing {
  /** random_sampling, percent (defaultConfig.tracing.sampling; Istio's default 1). */
  sampling: number;
  maxPathTagLength?: number;
  /** The istio.* custom tags (defaultConfig.tracing.enableIstioTags, default true). */
  istioTags: boolean;
  /**
   * The defaultProviders.tracing provider: the HCM names its tracer and collector cluster.
   * Absent (enableTracing alone, Istio's legacy mode): the tracer is the bootstrap's (`zipkin` cluster).
   */
  provider?: TracingProvider;
}

/** PILOT_TRACE_SAMPLING's default: istiod samples 1% when the mesh config does not say. */
export const DEFAULT_TRACE_SAMPLING = 1;

/**
 * Istio's built-in mesh tracing (DefaultMeshConfig: enableTracing true, no
 * default provider): every HTTP connection manager samples 1% and carries the
 * istio.* tags; the tracer is the bootstrap's. A mesh config turns it off with
 * `enableTracing: false`.
 */
export const DEFAULT_MESH_TRACING: Readonly<MeshTracing> = Object.freeze({ sampling: DEFAULT_TRACE_SAMPLING, istioTags: true });

export type TracingProvider =
  | {
      kind: "zipkin";
      name: string;
      service: string;
      port: number;
      path: string;
      traceId128: boolean;
      maxTagLength?: number;
      /** Collector request timeout (Istio duration; default 5s) and extra request headers. */
      timeout?: string;
      headers: { name: string; value: string }[];
    }
  | {
      kind: "opentelemetry";
      name: string;
      service: string;
      port: number;
      maxTagLength?: number;
      /** OTLP over HTTP (path, timeout); absent: OTLP over gRPC. */
      http?: { path: string; timeout?: string; headers: { name: string; value: string }[] };
      grpc?: { timeout?: string; initialMetadata: { name: string; value: string }[] };
    };

export interface MeshPort {
  /** Service port name ("" when unnamed). */
  name: string;
  /** The service port (what clients dial). */
  port: number;
  protocol: Protocol;
  /** The workload port behind it, when it can be resolved (numeric, or named via endpoints/pods). */
  targetPort?: number;
}

/**
 * How the upstream hosts of a service are found:
 * EDS (Kubernetes endpoints, STATIC ServiceEntry), ORIGINAL_DST (headless,
 * resolution NONE), STRICT_DNS / LOGICAL_DNS (DNS ServiceEntry, ExternalName).
 */
export type Resolution = "EDS" | "ORIGINAL_DST" | "STRICT_DNS" | "LOGICAL_DNS";

export interface MeshService {
  /** FQDN, e.g. bill-service.default.svc.cluster.local (may be a wildcard for ServiceEntry). */
  host: string;
  name: string;
  namespace: string;
  source: "kubernetes" | "serviceentry";
  /** Cluster IPs / ServiceEntry addresses (none for headless). */
  addresses: string[];
  ports: MeshPort[];
  /** Pod selector (Kubernetes) or workloadSelector (ServiceEntry); undefined selects nothing. */
  selector?: Record<string, string>;
  /** Normalised exportTo: "*" or namespace names ("." already replaced by the own namespace). */
  exportTo: string[];
  resolution: Resolution;
  /** ServiceEntry MESH_EXTERNAL. */
  external: boolean;
  /** ExternalName services: the DNS name they alias. */
  externalName?: string;
  /** ServiceEntry subjectAltNames: identities its endpoints may present, besides their service accounts. */
  subjectAltNames?: string[];
  origin?: Origin;
}

export interface Locality {
  region: string;
  zone: string;
  subzone: string;
}

export interface MeshEndpoint {
  address: string;
  port: number;
  labels: Record<string, string>;
  locality: Locality;
  health: "HEALTHY" | "UNHEALTHY";
  /** ServiceEntry endpoint weight; 1 otherwise. */
  weight: number;
  /** "pod.namespace" when known, for debugging. */
  workload?: string;
  /** The Kubernetes node it runs on (failoverPriority's kubernetes.io/hostname). */
  nodeName?: string;
  /** The workload's SPIFFE id (pods: their service account; ServiceEntry endpoints: serviceAccount). */
  identity?: string;
  /** istiod's `istio.workload` endpoint metadata: "workload;namespace;canonical name;canonical revision;cluster" (workload-meta.ts). */
  istioWorkload?: string;
}

/** A DestinationRule with its host resolved against its namespace. */
export interface MeshDestinationRule {
  rule: DestinationRule;
  host: string;
  namespace: string;
  exportTo: string[];
}

/** The DestinationRule that applies to one (client, service) pair, merged. */
export interface ResolvedDestinationRule {
  /** The rules that were merged, oldest first (metadata of the first is reported). */
  sources: DestinationRule[];
  trafficPolicy?: TrafficPolicy;
  subsets: Subset[];
}

/** A VirtualService with hosts and gateways resolved against its namespace. */
export interface MeshVirtualService {
  vs: VirtualService;
  namespace: string;
  hosts: string[];
  /** Resolved gateway names; "mesh" means sidecars. */
  gateways: string[];
  exportTo: string[];
}

export interface Mesh {
  options: MeshOptions;
  /** Sorted by host then namespace. */
  services: MeshService[];
  servicesByHost: ReadonlyMap<string, MeshService[]>;
  /** host -> service port -> endpoints (sorted by address, port). */
  endpoints: ReadonlyMap<string, ReadonlyMap<number, MeshEndpoint[]>>;
  /** Oldest first (creationTimestamp, name, namespace). */
  destinationRules: MeshDestinationRule[];
  /** The same rules by namespace (each list oldest first). */
  destinationRulesByNamespace: ReadonlyMap<string, MeshDestinationRule[]>;
  /** Oldest first (creationTimestamp, name, namespace). */
  virtualServices: MeshVirtualService[];
  gateways: Gateway[];
  pods: Pod[];
  /** Kubernetes Nodes by name (their topology labels are the localities of the pods on them). */
  nodes: ReadonlyMap<string, Node>;
  /** Secrets by "namespace/name" (gateway credentials; key material, never logged). */
  secrets: ReadonlyMap<string, Secret>;
  /** Oldest first (creationTimestamp, name, namespace); see mesh-mtls.ts. */
  peerAuthentications: PeerAuthentication[];
  /** AuthorizationPolicies by namespace, each list oldest first (Istio's order). */
  authorizationPolicies: ReadonlyMap<string, AuthorizationPolicy[]>;
  /** Sidecar resources in istiod's lookup order; see mesh-sidecar.ts. */
  sidecars: MeshSidecars;
}

/**
 * Sidecars per namespace as istiod orders them: those with a workloadSelector
 * first, then those without; each group oldest first. `root` is the oldest
 * selector-less Sidecar of the root namespace (the mesh-wide default).
 */
export interface MeshSidecars {
  byNamespace: ReadonlyMap<string, Sidecar[]>;
  root?: Sidecar;
}
