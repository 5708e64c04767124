/**
 * The outbound clusters and their ClusterLoadAssignments that sidecars and
 * gateways share (proxyless gRPC builds its own, grpc-clusters.ts).
 */
import type { Cluster, ClusterLoadAssignment } from "./envoy";
import { type OutboundClusterSpec, inlineEndpoints, isEdsCluster, outboundCluster, outboundClusterSpecs } from "./clusters";
import { localityGroups, sharedAssignment, subsetEndpoints } from "./endpoints";
import { effectiveLocalityLb, localityAssignment, localityLbApplies, wantsLocalityWeightedConfig, withLocalityWeightedConfig } from "./locality-lb";
import type { ProxyScope } from "./scope";
import type { Mesh, MeshEndpoint } from "../model/mesh";
import { objectId, sharedResources } from "./shared";
import type { Steps } from "../model/steps";
import { clientHasWorkloadCert, endpointWantsMtls } from "../model/mesh-mtls";

/** The outbound clusters of every visible service. */
export function outboundClusters(scope: ProxyScope, specs = outboundClusterSpecs(scope.mesh, scope.client, scope.services)): Cluster[] {
  const clientMtls = clientHasWorkloadCert(scope.proxy);
  const sidecar = scope.proxy.kind === "sidecar";
  return specs.map((s) => withLocalityLb(scope, s, sharedOutboundCluster(scope.mesh, s, clientMtls, sidecar)));
}

/**
 * outboundCluster reads the mesh, the spec and the two client facts only: one object per distinct inputs,
 * whichever view asks (the rule's inputs are its source objects: the merged rule follows from them).
 */
function sharedOutboundCluster(mesh: Mesh, spec: OutboundClusterSpec, clientMtls: boolean, sidecar: boolean): Cluster {
  const memo = sharedResources(mesh).clusters;
  const rules = spec.dr ? spec.dr.sources.map(objectId).join(",") : "";
  // DNS clusters carry their endpoints (kept by identity when unchanged, model/mesh-reuse.ts).
  const dns = spec.service.resolution === "STRICT_DNS" || spec.service.resolution === "LOGICAL_DNS";
  const eps = dns ? objectId(mesh.endpoints.get(spec.service.host)?.get(spec.port.port) ?? NO_ENDPOINTS) : "";
  const key = `${objectId(spec.service)}|${spec.name}|${rules}|${clientMtls ? 1 : 0}${sidecar ? 1 : 0}|${eps}`;
  let c = memo.get(key) as Cluster | undefined;
  if (!c) memo.set(key, (c = outboundCluster(mesh, spec, clientMtls, sidecar)));
  return c;
}

const NO_ENDPOINTS: MeshEndpoint[] = [];

/** Shared like the clusters it is made from. */
const weightedLocality = new WeakMap<Cluster, Cluster>();

/** istiod's ApplyToCluster: locality_weighted_lb_config, and a DNS cluster's own endpoints made relative to the proxy. */
function withLocalityLb(scope: ProxyScope, spec: OutboundClusterSpec, c: Cluster): Cluster {
  const setting = effectiveLocalityLb(spec.policy, scope.mesh.options);
  const outlier = spec.policy.outlierDetection !== undefined;
  let out = c;
  if (wantsLocalityWeightedConfig(setting, outlier)) {
    out = weightedLocality.get(c) ?? withLocalityWeightedConfig(c);
    weightedLocality.set(c, out);
  }
  if (out.load_assignment && localityLbApplies(setting, outlier)) {
    const groups = () => localityGroups(inlineEndpoints(scope.mesh, spec));
    out = { ...out, load_assignment: localityAssignment(out.load_assignment, groups, scope.proxy, setting, outlier) };
  }
  return out;
}

/** One ClusterLoadAssignment per outbound EDS cluster (only those in `only` when given), sorted by cluster name. */
export function outboundEndpoints(
  scope: ProxyScope,
  specs = outboundClusterSpecs(scope.mesh, scope.client, scope.services),
  only?: ReadonlySet<string>,
): ClusterLoadAssignment[] {
  const out: ClusterLoadAssignment[] = [];
  for (const spec of specs) {
    if (!isEdsCluster(spec) || (only && !only.has(spec.name))) continue;
    const all = scope.mesh.endpoints.get(spec.service.host)?.get(spec.port.port) ?? NO_ENDPOINTS;
    const healthyOnly = keepsPanicMode(spec);
    const cla = assignmentOf(scope, spec, all, healthyOnly);
    // Priorities and weights relative to the proxy: only where locality load balancing applies, so only there is the proxy's locality asked.
    const setting = effectiveLocalityLb(spec.policy, scope.mesh.options);
    const outlier = spec.policy.outlierDetection !== undefined;
    const groups = () => localityGroups(subsetEndpoints(all, spec.subset?.labels).filter((e) => !healthyOnly || e.health === "HEALTHY"));
    out.push(localityLbApplies(setting, outlier) ? localityAssignment(cla, groups, scope.proxy, setting, outlier) : cla);
  }
  return out;
}

/**
 * The proxy-independent assignment of a spec: memoized per spec object and endpoint list, so a spec kept from the
 * previous push (push/incremental.ts keeps specs only while the mesh's mTLS inputs are unchanged) whose endpoint
 * list is unchanged skips even the shared lookup's key.
 */
const bySpec = new WeakMap<OutboundClusterSpec, { all: MeshEndpoint[]; cla: ClusterLoadAssignment }>();

function assignmentOf(scope: ProxyScope, spec: OutboundClusterSpec, all: MeshEndpoint[], healthyOnly: boolean): ClusterLoadAssignment {
  const known = bySpec.get(spec);
  if (known && known.all === all) return known.cla;
  // The rule's TLS mode for this cluster decides with the endpoint's sidecar label and PeerAuthentication (model/mesh-mtls.ts).
  const ruleTls = spec.policy.tls?.mode;
  const mtls = { key: ruleTls ?? "", wants: (e: MeshEndpoint) => endpointWantsMtls(scope.mesh, spec.service, e, ruleTls) };
  const cla = sharedAssignment(spec.name, all, spec.subset?.labels, mtls, healthyOnly);
  bySpec.set(spec, { all, cla });
  return cla;
}

/**
 * The per-spec memos of outboundClusters and outboundEndpoints filled a few specs at a time, so that building
 * the units of a big mesh's first view afterwards finds them instead of holding the event loop (push/pipeline.ts).
 */
export function* warmOutboundSteps(scope: ProxyScope, specs: OutboundClusterSpec[]): Steps<void> {
  const clientMtls = clientHasWorkloadCert(scope.proxy);
  const sidecar = scope.proxy.kind === "sidecar";
  for (let i = 0; i < specs.length; i++) {
    const spec = specs[i]!;
    sharedOutboundCluster(scope.mesh, spec, clientMtls, sidecar);
    if (isEdsCluster(spec)) assignmentOf(scope, spec, scope.mesh.endpoints.get(spec.service.host)?.get(spec.port.port) ?? NO_ENDPOINTS, keepsPanicMode(spec));
    if (i % WARM_EVERY === 0) yield;
  }
}

/** Specs warmed between yields (each a cluster and an assignment: some 20-50 µs). */
export const WARM_EVERY = 128;

/**
 * supportsUnhealthyEndpoints (xds/endpoints/endpoint_builder.go): an outlier
 * detection with minHealthPercent > 0 turns Envoy's panic mode back on, and a
 * panicking cluster would send traffic to UNHEALTHY hosts, so istiod leaves
 * them out of that cluster's endpoints.
 */
function keepsPanicMode(spec: OutboundClusterSpec): boolean {
  return (spec.policy.outlierDetection?.minHealthPercent ?? 0) > 0;
}
