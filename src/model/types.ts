/**
 * Typed inputs: the Kubernetes and Istio objects mini-pilot reads, in their API
 * shapes (camelCase, as users write them). Only the fields mini-pilot uses are
 * typed; validation narrows a raw object into one of these or reports why not.
 */
import type { Origin } from "./diagnostic";

export type { Origin, Diagnostic } from "./diagnostic";
export { formatDiagnostic, uniqueDiagnostics } from "./diagnostic";

export interface ObjectMeta {
  name: string;
  namespace: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** RFC 3339; decides which VirtualService wins when several claim a host. */
  creationTimestamp?: string;
  resourceVersion?: string;
  uid?: string;
}

export type Kind =
  | "Service"
  | "Endpoints"
  | "EndpointSlice"
  | "Pod"
  | "Node"
  | "Namespace"
  | "VirtualService"
  | "DestinationRule"
  | "Gateway"
  | "ServiceEntry"
  | "PeerAuthentication"
  | "Secret"
  | "AuthorizationPolicy"
  | "Sidecar";

/** Key of an object in the store: "Kind/namespace/name" (namespace empty for cluster-scoped kinds). */
export type ObjectKey = string;

export function objectKey(kind: Kind, namespace: string, name: string): ObjectKey {
  return `${kind}/${namespace}/${name}`;
}

interface Base<K extends Kind, Spec> {
  kind: K;
  apiVersion: string;
  metadata: ObjectMeta;
  spec: Spec;
  origin?: Origin;
}

// ------------------------------------------------------------ Kubernetes core

export interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: "TCP" | "UDP" | "SCTP";
  appProtocol?: string;
  nodePort?: number;
}

export interface ServiceSpec {
  type?: "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName";
  clusterIP?: string;
  clusterIPs?: string[];
  selector?: Record<string, string>;
  ports: ServicePort[];
  externalName?: string;
}
export type Service = Base<"Service", ServiceSpec>;

export interface EndpointAddress {
  ip: string;
  nodeName?: string;
  hostname?: string;
  targetRef?: { kind?: string; name?: string; namespace?: string };
}
export interface EndpointPort {
  name?: string;
  port: number;
  protocol?: string;
  appProtocol?: string;
}
export interface EndpointSubset {
  addresses?: EndpointAddress[];
  notReadyAddresses?: EndpointAddress[];
  ports?: EndpointPort[];
}
/** core/v1 Endpoints has no spec; its subsets are kept under spec for uniformity. */
export type Endpoints = Base<"Endpoints", { subsets: EndpointSubset[] }>;

export interface SliceEndpoint {
  addresses: string[];
  conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
  nodeName?: string;
  zone?: string;
  targetRef?: { kind?: string; name?: string; namespace?: string };
}
/** discovery.k8s.io/v1 EndpointSlice; top-level fields kept under spec. */
export type EndpointSlice = Base<
  "EndpointSlice",
  {
    addressType: "IPv4" | "IPv6" | "FQDN";
    endpoints: SliceEndpoint[];
    ports?: EndpointPort[];
    /** From the `kubernetes.io/service-name` label. */
    serviceName: string;
  }
>;

export type Pod = Base<
  "Pod",
  {
    nodeName?: string;
    serviceAccountName?: string;
    containers?: { name: string; ports?: { name?: string; containerPort: number; protocol?: string }[] }[];
    /** From status.podIP(s). */
    podIP?: string;
    podIPs?: string[];
    phase?: string;
    ready?: boolean;
    /** The workload the pod belongs to (its Deployment, ...; from metadata, see workload-meta.ts), when not the pod itself. */
    workloadName?: string;
  }
>;

export type Node = Base<"Node", Record<string, never>>;

/**
 * core/v1 Secret, read for gateway credentials (credentialName). `data` holds
 * the values base64-encoded, as the API serves them; `stringData` from a YAML
 * file is folded into it. Key material: never log or show these values.
 */
export type Secret = Base<
  "Secret",
  {
    /** e.g. "kubernetes.io/tls", "Opaque" (the default). */
    type: string;
    /** key -> base64 value. */
    data: Record<string, string>;
  }
>;
export type Namespace = Base<"Namespace", Record<string, never>>;

// ------------------------------------------------------------ Istio networking

export interface StringMatch {
  exact?: string;
  prefix?: string;
  regex?: string;
}

export interface PortSelector {
  number?: number;
}

export interface Destination {
  host: string;
  subset?: string;
  port?: PortSelector;
}

export interface HTTPMatchRequest {
  name?: string;
  uri?: StringMatch;
  scheme?: StringMatch;
  method?: StringMatch;
  authority?: StringMatch;
  headers?: Record<string, StringMatch>;
  withoutHeaders?: Record<string, StringMatch>;
  queryParams?: Record<string, StringMatch>;
  port?: number;
  sourceLabels?: Record<string, string>;
  sourceNamespace?: string;
  gateways?: string[];
  ignoreUriCase?: boolean;
}

export interface HTTPRouteDestination {
  destination: Destination;
  weight?: number;
  headers?: Headers;
}

export interface HeaderOperations {
  set?: Record<string, string>;
  add?: Record<string, string>;
  remove?: string[];
}
export interface Headers {
  request?: HeaderOperations;
  response?: HeaderOperations;
}

export interface HTTPRetry {
  /** Set: previous_hosts predicate on (true) or off (false); unset: Istio's default (on unless hashing). */
  retryIgnorePreviousHosts?: boolean;
  attempts?: number;
  perTryTimeout?: string;
  retryOn?: string;
  retryRemoteLocalities?: boolean;
  /** Base interval between retries (Envoy's retry_back_off.base_interval). */
  backoff?: string;
}

export interface Percent {
  value: number;
}

export interface HTTPFaultInjection {
  delay?: { fixedDelay?: string; percentage?: Percent; percent?: number };
  abort?: { httpStatus?: number; grpcStatus?: string; percentage?: Percent };
}

export interface HTTPRedirect {
  uri?: string;
  authority?: string;
  port?: number;
  derivePort?: "FROM_PROTOCOL_DEFAULT" | "FROM_REQUEST_PORT";
  scheme?: string;
  redirectCode?: number;
  /** Replace the matched URI prefix in the redirect (only with prefix URI matches). */
  prefixRewrite?: string;
}

export interface HTTPDirectResponse {
  status: number;
  body?: { string?: string; bytes?: string };
}

export interface HTTPRewrite {
  uri?: string;
  authority?: string;
  /** Rewrite the path with an RE2 match and substitution (Envoy's regex_rewrite). */
  uriRegexRewrite?: { match: string; rewrite: string };
}

export interface HTTPMirrorPolicy {
  destination: Destination;
  percentage?: Percent;
}

export interface CorsPolicy {
  allowOrigins?: StringMatch[];
  allowMethods?: string[];
  allowHeaders?: string[];
  exposeHeaders?: string[];
  maxAge?: string;
  allowCredentials?: boolean;
}

export interface HTTPRoute {
  name?: string;
  match?: HTTPMatchRequest[];
  route?: HTTPRouteDestination[];
  redirect?: HTTPRedirect;
  directResponse?: HTTPDirectResponse;
  delegate?: { name: string; namespace?: string };
  rewrite?: HTTPRewrite;
  timeout?: string;
  retries?: HTTPRetry;
  fault?: HTTPFaultInjection;
  mirror?: Destination;
  mirrorPercentage?: Percent;
  /** Deprecated integer form of mirrorPercentage (used only when that is absent). */
  mirrorPercent?: number;
  mirrors?: HTTPMirrorPolicy[];
  corsPolicy?: CorsPolicy;
  headers?: Headers;
}

export interface L4MatchAttributes {
  destinationSubnets?: string[];
  port?: number;
  sourceLabels?: Record<string, string>;
  sourceNamespace?: string;
  gateways?: string[];
}

export interface RouteDestination {
  destination: Destination;
  weight?: number;
}

export interface TCPRoute {
  match?: L4MatchAttributes[];
  route?: RouteDestination[];
}

export interface TLSRoute {
  match: (L4MatchAttributes & { sniHosts: string[] })[];
  route?: RouteDestination[];
}

export interface VirtualServiceSpec {
  hosts?: string[];
  gateways?: string[];
  http?: HTTPRoute[];
  tcp?: TCPRoute[];
  tls?: TLSRoute[];
  exportTo?: string[];
}
export type VirtualService = Base<"VirtualService", VirtualServiceSpec>;

export interface Duration {
  /** As written, e.g. "10s". */
  text: string;
}

export interface ConsistentHashLB {
  httpHeaderName?: string;
  httpCookie?: { name: string; path?: string; ttl?: string; attributes?: { name: string; value?: string }[] };
  useSourceIp?: boolean;
  httpQueryParameterName?: string;
  ringHash?: { minimumRingSize?: number };
  maglev?: { tableSize?: number };
  minimumRingSize?: number;
}

/** DestinationRule (and MeshConfig) localityLbSetting. */
export interface LocalityLbSetting {
  /** From a client locality ("region/zone/subzone", "*" wildcards) to weights (percent) per endpoint locality. */
  distribute?: { from?: string; to?: Record<string, number> }[];
  /** Region to region: where a client in `from` goes when its own region has no healthy endpoints. */
  failover?: { from?: string; to?: string }[];
  /** Labels ("key" or "key=value") whose match with the client orders endpoints into priorities. */
  failoverPriority?: string[];
  enabled?: boolean;
}

export interface LoadBalancerSettings {
  simple?: "UNSPECIFIED" | "LEAST_CONN" | "RANDOM" | "PASSTHROUGH" | "ROUND_ROBIN" | "LEAST_REQUEST";
  consistentHash?: ConsistentHashLB;
  localityLbSetting?: LocalityLbSetting;
  warmupDurationSecs?: string;
}

export interface ConnectionPoolSettings {
  tcp?: {
    maxConnections?: number;
    connectTimeout?: string;
    tcpKeepalive?: { probes?: number; time?: string; interval?: string };
    maxConnectionDuration?: string;
    idleTimeout?: string;
  };
  http?: {
    http1MaxPendingRequests?: number;
    http2MaxRequests?: number;
    maxRequestsPerConnection?: number;
    maxRetries?: number;
    idleTimeout?: string;
    h2UpgradePolicy?: "DEFAULT" | "DO_NOT_UPGRADE" | "UPGRADE";
    useClientProtocol?: boolean;
    maxConcurrentStreams?: number;
    /** HTTP/2 PING keepalive on upstream HTTP/2 connections. */
    http2KeepAlive?: { interval?: string; timeout?: string };
  };
}

export interface OutlierDetection {
  consecutiveErrors?: number;
  consecutive5xxErrors?: number;
  consecutiveGatewayErrors?: number;
  consecutiveLocalOriginFailures?: number;
  splitExternalLocalOriginErrors?: boolean;
  interval?: string;
  baseEjectionTime?: string;
  maxEjectionPercent?: number;
  minHealthPercent?: number;
}

export interface ClientTLSSettings {
  mode?: "DISABLE" | "SIMPLE" | "MUTUAL" | "ISTIO_MUTUAL";
  clientCertificate?: string;
  privateKey?: string;
  caCertificates?: string;
  credentialName?: string;
  subjectAltNames?: string[];
  sni?: string;
  insecureSkipVerify?: boolean;
}

export interface PortTrafficPolicy {
  port?: PortSelector;
  loadBalancer?: LoadBalancerSettings;
  connectionPool?: ConnectionPoolSettings;
  outlierDetection?: OutlierDetection;
  tls?: ClientTLSSettings;
}

export interface TrafficPolicy {
  loadBalancer?: LoadBalancerSettings;
  connectionPool?: ConnectionPoolSettings;
  outlierDetection?: OutlierDetection;
  tls?: ClientTLSSettings;
  portLevelSettings?: PortTrafficPolicy[];
}

export interface Subset {
  name: string;
  labels?: Record<string, string>;
  trafficPolicy?: TrafficPolicy;
}

export interface DestinationRuleSpec {
  host: string;
  trafficPolicy?: TrafficPolicy;
  subsets?: Subset[];
  exportTo?: string[];
  workloadSelector?: { matchLabels?: Record<string, string> };
}
export type DestinationRule = Base<"DestinationRule", DestinationRuleSpec>;

export interface GatewayPort {
  number: number;
  protocol: string;
  name: string;
  targetPort?: number;
}

export interface ServerTLSSettings {
  httpsRedirect?: boolean;
  mode?: "PASSTHROUGH" | "SIMPLE" | "MUTUAL" | "AUTO_PASSTHROUGH" | "ISTIO_MUTUAL" | "OPTIONAL_MUTUAL";
  serverCertificate?: string;
  privateKey?: string;
  caCertificates?: string;
  credentialName?: string;
  /** Up to two credentials (say an RSA and an ECDSA certificate); the first one's CA validates clients. */
  credentialNames?: string[];
  /** Up to two certificate/key file pairs (say RSA and ECDSA). */
  tlsCertificates?: { serverCertificate?: string; privateKey?: string; caCertificates?: string }[];
  subjectAltNames?: string[];
  minProtocolVersion?: string;
  maxProtocolVersion?: string;
  cipherSuites?: string[];
}

export interface GatewayServer {
  port: GatewayPort;
  bind?: string;
  hosts: string[];
  tls?: ServerTLSSettings;
  name?: string;
}

export interface GatewaySpec {
  servers: GatewayServer[];
  selector?: Record<string, string>;
}
export type Gateway = Base<"Gateway", GatewaySpec>;

export interface WorkloadEntrySpec {
  address?: string;
  ports?: Record<string, number>;
  labels?: Record<string, string>;
  network?: string;
  locality?: string;
  weight?: number;
  serviceAccount?: string;
}

export interface ServiceEntrySpec {
  hosts: string[];
  addresses?: string[];
  ports?: { number: number; protocol?: string; name: string; targetPort?: number }[];
  location?: "MESH_EXTERNAL" | "MESH_INTERNAL";
  resolution?: "NONE" | "STATIC" | "DNS" | "DNS_ROUND_ROBIN";
  endpoints?: WorkloadEntrySpec[];
  workloadSelector?: { labels?: Record<string, string> };
  exportTo?: string[];
  subjectAltNames?: string[];
}
export type ServiceEntry = Base<"ServiceEntry", ServiceEntrySpec>;

// ------------------------------------------------------------ Sidecar (networking.istio.io)

/** A Sidecar listener port; number 0 on egress means a Unix socket `bind`. */
export type SidecarPort = { number: number; protocol: string; name?: string; targetPort?: number };
export type CaptureMode = "DEFAULT" | "IPTABLES" | "NONE";
/** `egress[]`: the hosts (`namespace/dnsName`) the workload may reach, optionally on one port only. */
export type SidecarEgressListener = { port?: SidecarPort; bind?: string; captureMode?: CaptureMode; hosts: string[] };
/** `ingress[]`: a port the workload receives on and where traffic goes (127.0.0.1:port, 0.0.0.0:port, unix://path). */
export type SidecarIngressListener = Omit<SidecarEgressListener, "hosts" | "port"> & {
  port: SidecarPort;
  defaultEndpoint?: string;
  tls?: ServerTLSSettings;
  connectionPool?: ConnectionPoolSettings;
};
export interface SidecarSpec {
  workloadSelector?: { labels?: Record<string, string> };
  ingress?: SidecarIngressListener[];
  egress?: SidecarEgressListener[];
  outboundTrafficPolicy?: { mode?: "ALLOW_ANY" | "REGISTRY_ONLY"; egressProxy?: Destination };
  inboundConnectionPool?: ConnectionPoolSettings;
}
export type Sidecar = Base<"Sidecar", SidecarSpec>;

// ------------------------------------------------------------ security.istio.io

/** PeerAuthentication mTLS modes; UNSET inherits from the enclosing scope. */
export type PeerAuthenticationMode = "UNSET" | "DISABLE" | "PERMISSIVE" | "STRICT";

export interface PeerAuthenticationSpec {
  /** Workload-level when it has matchLabels; else namespace-level (mesh-level in the root namespace). */
  selector?: { matchLabels?: Record<string, string> };
  mtls?: { mode?: PeerAuthenticationMode };
  /** Per workload (target) port, only with a selector. Keys are port numbers. */
  portLevelMtls?: Record<string, { mode?: PeerAuthenticationMode }>;
}
export type PeerAuthentication = Base<"PeerAuthentication", PeerAuthenticationSpec>;

// ------------------------------------------------------------ Istio security

/** security.istio.io AuthorizationPolicy `rules[].from[].source` (values as written; `*` wildcards are kept). */
export interface AuthorizationSource {
  principals?: string[];
  notPrincipals?: string[];
  requestPrincipals?: string[];
  notRequestPrincipals?: string[];
  namespaces?: string[];
  notNamespaces?: string[];
  serviceAccounts?: string[];
  notServiceAccounts?: string[];
  trustDomains?: string[];
  notTrustDomains?: string[];
  ipBlocks?: string[];
  notIpBlocks?: string[];
  remoteIpBlocks?: string[];
  notRemoteIpBlocks?: string[];
}

/** `rules[].to[].operation`. */
export interface AuthorizationOperation {
  hosts?: string[];
  notHosts?: string[];
  ports?: string[];
  notPorts?: string[];
  methods?: string[];
  notMethods?: string[];
  paths?: string[];
  notPaths?: string[];
}

/** `rules[].when[]`: an attribute key ("request.headers[x-user]", "source.ip", ...) and its values. */
export interface AuthorizationCondition {
  key: string;
  values?: string[];
  notValues?: string[];
}

export interface AuthorizationRule {
  /** Absent: any source. (An explicitly empty list is refused by validation, as Istio does.) */
  from?: { source: AuthorizationSource }[];
  to?: { operation: AuthorizationOperation }[];
  when?: AuthorizationCondition[];
}

export interface PolicyTargetReference {
  group?: string;
  kind: string;
  name: string;
  namespace?: string;
}

export interface AuthorizationPolicySpec {
  selector?: { matchLabels?: Record<string, string> };
  targetRef?: PolicyTargetReference;
  targetRefs?: PolicyTargetReference[];
  /** Default ALLOW. */
  action?: "ALLOW" | "DENY" | "AUDIT" | "CUSTOM";
  /** Absent or empty: for ALLOW, allow nothing; for DENY, refused by validation. */
  rules?: AuthorizationRule[];
  provider?: { name?: string };
}
export type AuthorizationPolicy = Base<"AuthorizationPolicy", AuthorizationPolicySpec>;

export type MeshObject =
  | Service
  | Endpoints
  | EndpointSlice
  | Pod
  | Node
  | Namespace
  | VirtualService
  | DestinationRule
  | Gateway
  | ServiceEntry
  | PeerAuthentication
  | Secret
  | AuthorizationPolicy
  | Sidecar;
