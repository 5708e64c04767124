/**
 * Everything a sidecar receives: listeners, route configs, clusters and the
 * endpoints of its EDS clusters.
 */
import type { Mesh } from "../model/mesh";
import type { ProxyView } from "../model/proxy";
import { Json, byName } from "./common";
import {
  blackHoleCluster,
  inboundCluster,
  inboundPassthroughCluster,
  isEdsCluster,
  outboundCluster,
  outboundClusterSpecs,
  passthroughCluster,
} from "./clusters";
import { sharedAssignment } from "./endpoints";
import { inboundPorts } from "./instances";
import { sidecarListeners } from "./sidecar-listeners";
import { sidecarRouteConfigs } from "./sidecar-routes";
import { ProxyScope, sidecarScope } from "./scope";
import type { GeneratedResources } from "./index";

export function generateSidecar(mesh: Mesh, proxy: ProxyView): GeneratedResources {
  const scope = sidecarScope(mesh, proxy);
  const inbound = inboundPorts(mesh, proxy);
  const specs = outboundClusterSpecs(mesh, scope.client, scope.services);
  return {
    listeners: sidecarListeners(scope, inbound),
    routes: sidecarRouteConfigs(scope),
    clusters: [...outboundClusters(scope, specs), ...inbound.map(inboundCluster), blackHoleCluster(), passthroughCluster(), inboundPassthroughCluster()].sort(byName),
    endpoints: outboundEndpoints(scope, specs),
  };
}

/** The outbound clusters of every visible service (what gateways get too). */
export function outboundClusters(scope: ProxyScope, specs = outboundClusterSpecs(scope.mesh, scope.client, scope.services)): Json[] {
  return specs.map((s) => outboundCluster(scope.mesh, s));
}

/** One ClusterLoadAssignment per outbound EDS cluster (only those in `only` when given), sorted by cluster name. */
export function outboundEndpoints(scope: ProxyScope, specs = outboundClusterSpecs(scope.mesh, scope.client, scope.services), only?: ReadonlySet<string>): Json[] {
  const out: Json[] = [];
  for (const spec of specs) {
    if (!isEdsCluster(spec) || (only && !only.has(spec.name))) continue;
    const all = scope.mesh.endpoints.get(spec.service.host)?.get(spec.port.port) ?? [];
    out.push(sharedAssignment(spec.name, all, spec.subset?.labels));
  }
  return out;
}
