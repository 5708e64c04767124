/**
 * Clusters (CDS): `outbound|port|subset|host` for every port of every visible
 * service (plus one per DestinationRule subset), the special clusters
 * (BlackHole, Passthrough, InboundPassthrough) and the proxy's inbound
 * clusters `inbound|targetPort||`.
 */
import type { Mesh, MeshEndpoint, MeshPort, MeshService, ResolvedDestinationRule, Client } from "../model/mesh";
import { destinationRuleFor } from "../model/mesh";
import type { Subset } from "../model/types";
import { isHttp2Protocol, isHttpProtocol, isSniffedProtocol } from "../model/mesh-protocol";
import { adsConfigSource, msToDuration, socketAddress } from "./common";
import type { Cluster, JsonValue, Metadata } from "./envoy";
import { BLACKHOLE_CLUSTER, INBOUND_BIND_ADDRESS, INBOUND_PASSTHROUGH_CLUSTER, PASSTHROUGH_CLUSTER, inboundClusterName, outboundClusterName } from "./names";
import {
  DEFAULT_CONNECT_TIMEOUT,
  EffectivePolicy,
  UpstreamHttp,
  circuitBreakers,
  connectTimeout,
  effectivePolicy,
  httpProtocolOptions,
  isPassthroughLb,
  loadBalancerFields,
  outlierDetectionFields,
  upstreamConnectionOptions,
} from "./traffic-policy";
import { clusterTls } from "./cluster-tls";
import { autoSniFor, withAutoSni } from "./tls-origination";
import { subsetEndpoints, clusterLoadAssignment } from "./endpoints";
import { INBOUND_CLEANUP_INTERVAL, dnsClusterFields, noPanicLbConfig } from "./istio-defaults";
import type { InboundPort } from "./instances";

/** One outbound cluster to build: a service port, optionally a subset, and the rule that shapes it. */
export interface OutboundClusterSpec {
  name: string;
  service: MeshService;
  port: MeshPort;
  subset?: Subset;
  dr?: ResolvedDestinationRule;
  policy: EffectivePolicy;
}

/**
 * Every outbound cluster a client sees, in name order. UDP ports get none.
 * `ruleFor` lets a caller share its (cached) DestinationRule lookups.
 */
export function outboundClusterSpecs(
  mesh: Mesh,
  client: Client,
  services: MeshService[],
  ruleFor: (svc: MeshService) => ResolvedDestinationRule | undefined = (svc) => destinationRuleFor(mesh, client, svc),
): OutboundClusterSpec[] {
  const out: OutboundClusterSpec[] = [];
  for (const svc of services) {
    const dr = ruleFor(svc);
    for (const port of svc.ports) {
      if (port.protocol === "UDP") continue;
      const base: OutboundClusterSpec = {
        name: outboundClusterName(port.port, undefined, svc.host),
        service: svc,
        port,
        policy: effectivePolicy(dr, undefined, port.port),
      };
      if (dr) base.dr = dr;
      out.push(base);
      for (const subset of dr?.subsets ?? []) {
        out.push({
          name: outboundClusterName(port.port, subset.name, svc.host),
          service: svc,
          port,
          subset,
          dr: dr!,
          policy: effectivePolicy(dr, subset, port.port),
        });
      }
    }
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Does this cluster get its endpoints over EDS? */
export function isEdsCluster(spec: OutboundClusterSpec): boolean {
  return spec.service.resolution === "EDS" && !isPassthroughLb(spec.policy.loadBalancer);
}

/** `clientMtls`: the client holds a workload certificate, so auto-mTLS may apply (cluster-tls.ts). */
export function outboundCluster(mesh: Mesh, spec: OutboundClusterSpec, clientMtls = false, sidecar = false): Cluster {
  const { service: svc, port, policy } = spec;
  const pool = policy.connectionPool;
  const c: Cluster = { name: spec.name, ...discovery(mesh, spec), connect_timeout: connectTimeout(pool, msToDuration(mesh.options.connectTimeoutMs)) };
  const passthrough = c.type === "ORIGINAL_DST";
  Object.assign(c, passthrough ? { lb_policy: "CLUSTER_PROVIDED" } : loadBalancerFields(policy.loadBalancer));
  c.circuit_breakers = circuitBreakers(pool);
  // Panic mode off (not-ready endpoints are sent as UNHEALTHY); an outlier detection's minHealthPercent replaces it.
  Object.assign(c, noPanicLbConfig(), outlierDetectionFields(policy.outlierDetection));
  Object.assign(c, upstreamConnectionOptions(pool));
  // A sidecar sniffs ports without a protocol and sends on in the protocol the client spoke (Istio's
  // setUseDownstreamProtocol; gateways do not sniff).
  const upstream = isHttpProtocol(port.protocol) ? upstreamHttp(port, pool) : sidecar && isSniffedProtocol(port.protocol) ? "downstream" : undefined;
  if (upstream) Object.assign(c, httpProtocolOptions(pool, upstream));
  Object.assign(c, clusterTls({ mesh, service: svc, port, subset: spec.subset, tls: policy.tls, type: c.type, http2: upstream === "http2", clientMtls }));
  withAutoSni(c, autoSniFor(policy.tls));
  c.metadata = clusterMetadata(svc, spec.dr, spec.subset);
  return c;
}

function upstreamHttp(port: MeshPort, pool: EffectivePolicy["connectionPool"]): UpstreamHttp {
  if (pool?.http?.useClientProtocol) return "downstream";
  if (isHttp2Protocol(port.protocol)) return "http2";
  if (pool?.http?.h2UpgradePolicy === "UPGRADE") return "http2";
  return "http1";
}

/** type + how hosts are found: EDS, ORIGINAL_DST (headless / NONE / PASSTHROUGH lb), DNS with inline endpoints. */
function discovery(
  mesh: Mesh,
  spec: OutboundClusterSpec,
): Pick<Cluster, "type" | "eds_cluster_config" | "load_assignment"> & ReturnType<typeof dnsClusterFields> {
  const svc = spec.service;
  if (svc.resolution === "ORIGINAL_DST" || isPassthroughLb(spec.policy.loadBalancer)) return { type: "ORIGINAL_DST" };
  if (svc.resolution === "EDS") return { type: "EDS", eds_cluster_config: { eds_config: adsConfigSource(), service_name: spec.name } };
  return { type: svc.resolution, ...dnsClusterFields(), load_assignment: clusterLoadAssignment(spec.name, inlineEndpoints(mesh, spec)) };
}

/** The endpoints a DNS cluster carries in its own load_assignment. */
export function inlineEndpoints(mesh: Mesh, spec: OutboundClusterSpec): MeshEndpoint[] {
  const eps = subsetEndpoints(mesh.endpoints.get(spec.service.host)?.get(spec.port.port) ?? [], spec.subset?.labels);
  // LOGICAL_DNS takes exactly one host (Envoy refuses more), as Istio's DNS_ROUND_ROBIN does.
  return spec.service.resolution === "LOGICAL_DNS" ? eps.slice(0, 1) : eps;
}

/**
 * filter_metadata.istio as Istio writes it: the service behind the cluster and
 * the rule applied. A ServiceEntry's service is named after its host (istiod's
 * service Attributes.Name), not after the entry. The main cluster of a
 * MESH_EXTERNAL service says `external: true` (istiod's applyDestinationRule;
 * Istio's telemetry reads it, subsets do not get it).
 */
function clusterMetadata(svc: MeshService, dr: ResolvedDestinationRule | undefined, subset: Subset | undefined): Metadata {
  const name = svc.source === "serviceentry" ? svc.host : svc.name;
  const istio: { [key: string]: JsonValue } = { services: [{ host: svc.host, name, namespace: svc.namespace }] };
  if (svc.external && !subset) istio.external = true;
  const first = dr?.sources[0];
  if (first) istio.config = `/apis/networking.istio.io/v1/namespaces/${first.metadata.namespace}/destination-rule/${first.metadata.name}`;
  if (subset) istio.subset = subset.name;
  return { filter_metadata: { istio } };
}

/**
 * The idle timeout istiod gives upstream HTTP connections of the passthrough
 * clusters (passthroughHttpProtocolOptions: 5 minutes), instead of Envoy's 1 h.
 */
export const PASSTHROUGH_IDLE_TIMEOUT = "300s";

/**
 * STATIC with no endpoints: whatever is routed here is dropped. Like the
 * passthrough and inbound clusters it takes the mesh connectTimeout (istiod).
 */
export function blackHoleCluster(meshConnectTimeout = DEFAULT_CONNECT_TIMEOUT): Cluster {
  return { name: BLACKHOLE_CLUSTER, type: "STATIC", connect_timeout: meshConnectTimeout };
}

/** ORIGINAL_DST: forward to wherever the connection was going. */
export function passthroughCluster(meshConnectTimeout = DEFAULT_CONNECT_TIMEOUT): Cluster {
  return {
    name: PASSTHROUGH_CLUSTER,
    type: "ORIGINAL_DST",
    connect_timeout: meshConnectTimeout,
    lb_policy: "CLUSTER_PROVIDED",
    circuit_breakers: circuitBreakers(undefined),
    ...httpProtocolOptions({ http: { idleTimeout: PASSTHROUGH_IDLE_TIMEOUT } }, "downstream"),
  };
}

/** Inbound traffic to ports no service declares: to the app, from 127.0.0.6 so iptables lets it pass. */
export function inboundPassthroughCluster(meshConnectTimeout = DEFAULT_CONNECT_TIMEOUT): Cluster {
  return {
    ...passthroughCluster(meshConnectTimeout),
    name: INBOUND_PASSTHROUGH_CLUSTER,
    upstream_bind_config: { source_address: socketAddress(INBOUND_BIND_ADDRESS, 0).socket_address },
  };
}

/**
 * `inbound|<targetPort>||`: ORIGINAL_DST to the app's own port (the original
 * destination is this pod), bound to 127.0.0.6 like Istio's.
 */
export function inboundCluster(ip: InboundPort, meshConnectTimeout = DEFAULT_CONNECT_TIMEOUT, dr?: ResolvedDestinationRule): Cluster {
  const c: Cluster = {
    name: inboundClusterName(ip.targetPort),
    type: "ORIGINAL_DST",
    connect_timeout: connectTimeout(ip.connectionPool, meshConnectTimeout),
    lb_policy: "CLUSTER_PROVIDED",
    // buildInboundCluster: the one host (this pod) is never cleaned up.
    cleanup_interval: INBOUND_CLEANUP_INTERVAL,
    // A Sidecar's inbound connection pool sets the receiving side's limits (istiod's buildInboundCluster).
    circuit_breakers: circuitBreakers(ip.connectionPool),
    ...upstreamConnectionOptions(ip.connectionPool),
    upstream_bind_config: { source_address: socketAddress(INBOUND_BIND_ADDRESS, 0).socket_address },
    metadata: clusterMetadata(ip.service, dr?.trafficPolicy ? dr : undefined, undefined),
  };
  const ep = ip.endpoint;
  if (ep && "originalDestinationPort" in ep) c.original_dst_lb_config = { upstream_port_override: ep.originalDestinationPort };
  else if (ep) {
    // A Sidecar ingress defaultEndpoint on loopback or a Unix socket: one static endpoint (istiod's buildInboundLocalityLbEndpoints).
    const address = "pipe" in ep ? { pipe: { path: ep.pipe } } : socketAddress(ep.address, ep.port);
    c.type = "STATIC";
    delete c.lb_policy; // ROUND_ROBIN, the default, as istiod leaves it
    // Loopback needs no bind address to escape capture (iptables does not redirect it); istiod leaves it out there.
    if (!("pipe" in ep)) delete c.upstream_bind_config;
    c.load_assignment = { cluster_name: c.name, endpoints: [{ lb_endpoints: [{ endpoint: { address } }] }] };
  }
  if (isHttp2Protocol(ip.port.protocol)) Object.assign(c, httpProtocolOptions(ip.connectionPool, "http2"));
  // A sniffed port forwards HTTP to the app in the protocol the client spoke (h2c stays h2c), as istiod does.
  else if (isSniffedProtocol(ip.port.protocol)) Object.assign(c, httpProtocolOptions(ip.connectionPool, "downstream"));
  else if (ip.connectionPool && isHttpProtocol(ip.port.protocol)) Object.assign(c, httpProtocolOptions(ip.connectionPool, "http1"));
  return c;
}
