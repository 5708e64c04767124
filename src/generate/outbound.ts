/**
 * The outbound clusters and their ClusterLoadAssignments that sidecars and
 * gateways share (proxyless gRPC builds its own, grpc-clusters.ts).
 */
import type { Cluster, ClusterLoadAssignment } from "./envoy";
import { isEdsCluster, outboundCluster, outboundClusterSpecs } from "./clusters";
import { sharedAssignment } from "./endpoints";
import type { ProxyScope } from "./scope";
import type { MeshEndpoint } from "../model/mesh";
import { clientHasWorkloadCert, endpointWantsMtls } from "../model/mesh-mtls";

/** The outbound clusters of every visible service. */
export function outboundClusters(scope: ProxyScope, specs = outboundClusterSpecs(scope.mesh, scope.client, scope.services)): Cluster[] {
  const clientMtls = clientHasWorkloadCert(scope.proxy);
  const sidecar = scope.proxy.kind === "sidecar";
  return specs.map((s) => outboundCluster(scope.mesh, s, clientMtls, sidecar));
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
    const all = scope.mesh.endpoints.get(spec.service.host)?.get(spec.port.port) ?? [];
    // The rule's TLS mode for this cluster decides with the endpoint's sidecar label and PeerAuthentication (model/mesh-mtls.ts).
    const ruleTls = spec.policy.tls?.mode;
    const mtls = { key: ruleTls ?? "", wants: (e: MeshEndpoint) => endpointWantsMtls(scope.mesh, spec.service, e, ruleTls) };
    out.push(sharedAssignment(spec.name, all, spec.subset?.labels, mtls));
  }
  return out;
}
