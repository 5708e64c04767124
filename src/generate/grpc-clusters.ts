/**
 * Clusters and endpoints for proxyless gRPC clients (Istio's grpcgen CDS):
 * every outbound cluster (and subset cluster) the proxy sees, in the small
 * subset of the Cluster API that gRPC implements:
 * - EDS with ROUND_ROBIN, or RING_HASH for a consistent-hash
 *   DestinationRule; other load balancers fall back to ROUND_ROBIN (gRPC
 *   refuses them; Istio's grpcgen warns the same way);
 * - DNS services become LOGICAL_DNS with one endpoint: gRPC has no STRICT_DNS
 *   and refuses EDS endpoints that are not IP addresses;
 * - services Envoy would reach by original destination (headless, resolution
 *   NONE, PASSTHROUGH) are EDS too: gRPC has no ORIGINAL_DST, Istio's grpcgen
 *   sends EDS for everything;
 * - no TLS (Istio's grpcgen only knows ISTIO_MUTUAL via certificate
 *   providers, file certificates are not usable by gRPC xDS), no circuit
 *   breakers or outlier detection (grpcgen leaves them out too).
 * Every ClusterLoadAssignment locality carries `locality` (gRPC refuses an
 * assignment without it) and `load_balancing_weight` (gRPC drops localities
 * without it); duplicate addresses are dropped (gRPC refuses them). Locality
 * load balancing applies as for Envoy (istiod's EDS is the same for both):
 * priorities and weights relative to the client's locality (locality-lb.ts).
 */
import { isIP } from "node:net";
import type { Diagnostic } from "../model/types";
import type { MeshEndpoint } from "../model/mesh";
import { grpcConfigSource } from "./common";
import type { Cluster, ClusterLoadAssignment } from "./envoy";
import type { OutboundClusterSpec } from "./clusters";
import { clusterLoadAssignment, localityGroups, subsetEndpoints } from "./endpoints";
import { effectiveLocalityLb, localityAssignment, localityLbApplies } from "./locality-lb";
import type { ProxyScope } from "./scope";

const isDns = (spec: OutboundClusterSpec) => spec.service.resolution === "STRICT_DNS" || spec.service.resolution === "LOGICAL_DNS";

export function grpcClusters(scope: ProxyScope, specs: OutboundClusterSpec[], diagnostics: Diagnostic[]): Cluster[] {
  return specs.map((spec) => grpcCluster(scope, spec, diagnostics));
}

function grpcCluster(scope: ProxyScope, spec: OutboundClusterSpec, diagnostics: Diagnostic[]): Cluster {
  const c: Cluster = { name: spec.name };
  if (isDns(spec)) {
    c.type = "LOGICAL_DNS";
    c.load_assignment = grpcAssignment(spec.name, endpointsOf(scope, spec).slice(0, 1), false);
  } else {
    c.type = "EDS";
    c.eds_cluster_config = { eds_config: grpcConfigSource(), service_name: spec.name };
  }
  Object.assign(c, loadBalancer(spec, diagnostics));
  const tls = spec.policy.tls?.mode;
  if (tls && tls !== "DISABLE")
    diagnostics.push(
      drDiagnostic(
        spec,
        `tls mode ${tls} is not applied for proxyless gRPC clients (gRPC xDS takes certificates from its own providers); ${spec.name} is plaintext`,
      ),
    );
  return c;
}

function loadBalancer(spec: OutboundClusterSpec, diagnostics: Diagnostic[]): Pick<Cluster, "lb_policy" | "ring_hash_lb_config"> {
  const lb = spec.policy.loadBalancer;
  const ch = lb?.consistentHash;
  if (ch) {
    if (ch.maglev) diagnostics.push(drDiagnostic(spec, `gRPC has no MAGLEV; ${spec.name} uses RING_HASH for proxyless gRPC clients`));
    const size = ch.ringHash?.minimumRingSize ?? ch.minimumRingSize ?? 1024;
    return { lb_policy: "RING_HASH", ring_hash_lb_config: { minimum_ring_size: size } };
  }
  const simple = lb?.simple;
  if (simple && simple !== "ROUND_ROBIN" && simple !== "UNSPECIFIED") {
    diagnostics.push(
      drDiagnostic(
        spec,
        `gRPC supports ROUND_ROBIN and consistent hashing only; ${spec.name} uses ROUND_ROBIN instead of ${simple} for proxyless gRPC clients`,
      ),
    );
  }
  return { lb_policy: "ROUND_ROBIN" };
}

/** One assignment per EDS cluster (only those in `only` when given), sorted by cluster name. */
export function grpcEndpoints(scope: ProxyScope, specs: OutboundClusterSpec[], only?: ReadonlySet<string>): ClusterLoadAssignment[] {
  const out: ClusterLoadAssignment[] = [];
  for (const spec of specs) {
    if (isDns(spec) || (only && !only.has(spec.name))) continue;
    // A fresh empty list for a port without endpoints: nothing worth keeping in the shared map.
    const all = scope.mesh.endpoints.get(spec.service.host)?.get(spec.port.port) ?? [];
    const cla = sharedGrpcAssignment(spec, all);
    const setting = effectiveLocalityLb(spec.policy, scope.mesh.options);
    const outlier = spec.policy.outlierDetection !== undefined;
    const groups = () => localityGroups(grpcUsable(subsetEndpoints(all, spec.subset?.labels), true));
    out.push(localityLbApplies(setting, outlier) ? localityAssignment(cla, groups, scope.proxy, setting, outlier) : cla);
  }
  return out;
}

/** As sharedAssignment (endpoints.ts): one object per mesh endpoint list, cluster and subset, whatever the view. */
const shared = new WeakMap<MeshEndpoint[], Map<string, ClusterLoadAssignment>>();

function sharedGrpcAssignment(spec: OutboundClusterSpec, all: MeshEndpoint[]): ClusterLoadAssignment {
  let byKey = shared.get(all);
  if (!byKey) {
    byKey = new Map();
    shared.set(all, byKey);
  }
  const labels = spec.subset?.labels;
  const key = labels ? `${spec.name}\n${JSON.stringify(labels)}` : spec.name;
  let cla = byKey.get(key);
  if (!cla) {
    cla = grpcAssignment(spec.name, subsetEndpoints(all, labels), true);
    byKey.set(key, cla);
  }
  return cla;
}

function endpointsOf(scope: ProxyScope, spec: OutboundClusterSpec): MeshEndpoint[] {
  return subsetEndpoints(scope.mesh.endpoints.get(spec.service.host)?.get(spec.port.port) ?? [], spec.subset?.labels);
}

/** clusterLoadAssignment, made acceptable to gRPC: IP endpoints only (for EDS), no duplicates, every locality set. */
function grpcAssignment(name: string, endpoints: MeshEndpoint[], ipOnly: boolean): ClusterLoadAssignment {
  const cla = clusterLoadAssignment(name, grpcUsable(endpoints, ipOnly));
  const localities = cla.endpoints;
  return localities ? { ...cla, endpoints: localities.map((l) => (l.locality ? l : { locality: {}, ...l })) } : cla;
}

/** The endpoints gRPC accepts: IP addresses only (for EDS), each address once. */
function grpcUsable(endpoints: MeshEndpoint[], ipOnly: boolean): MeshEndpoint[] {
  const seen = new Set<string>();
  return endpoints.filter((e) => {
    const key = `${e.address}:${e.port}`;
    if ((ipOnly && isIP(e.address) === 0) || seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function drDiagnostic(spec: OutboundClusterSpec, message: string): Diagnostic {
  const rule = spec.dr?.sources[0];
  const d: Diagnostic = { severity: "warning", message };
  if (rule) {
    d.kind = "DestinationRule";
    d.namespace = rule.metadata.namespace;
    d.name = rule.metadata.name;
    if (rule.origin) d.origin = rule.origin;
  }
  return d;
}
