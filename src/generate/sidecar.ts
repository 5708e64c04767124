/**
 * Everything a sidecar receives: listeners, route configs, clusters and the
 * endpoints of its EDS clusters.
 */
import type { Mesh } from "../model/mesh";
import type { ProxyView } from "../model/proxy";
import { byName, msToDuration } from "./common";
import { blackHoleCluster, inboundCluster, inboundPassthroughCluster, outboundClusterSpecs, passthroughCluster } from "./clusters";
import { outboundClusters, outboundEndpoints } from "./outbound";
import { inboundPorts } from "./instances";
import { sidecarListeners } from "./sidecar-listeners";
import { sidecarRouteConfigs } from "./sidecar-routes";
import { sidecarScope } from "./scope";
import { sidecarIngressPorts, withInboundConnectionPools } from "./sidecar-ingress";
import type { GeneratedResources } from "./generated";

export function generateSidecar(mesh: Mesh, proxy: ProxyView): GeneratedResources {
  const scope = sidecarScope(mesh, proxy);
  const servicePorts = inboundPorts(mesh, proxy);
  // A Sidecar with ingress listeners decides the inbound ports instead of the workload's services.
  const inbound = withInboundConnectionPools(scope.sidecar, sidecarIngressPorts(scope.sidecar, servicePorts) ?? servicePorts);
  const specs = outboundClusterSpecs(mesh, scope.client, scope.services);
  const meshConnectTimeout = msToDuration(mesh.options.connectTimeoutMs);
  return {
    listeners: sidecarListeners(
      scope,
      inbound.filter((ip) => !ip.clusterOnly),
    ),
    routes: sidecarRouteConfigs(scope),
    clusters: [
      ...outboundClusters(scope, specs),
      ...inbound.map((ip) => inboundCluster(ip, meshConnectTimeout)),
      blackHoleCluster(meshConnectTimeout),
      passthroughCluster(meshConnectTimeout),
      inboundPassthroughCluster(meshConnectTimeout),
    ].sort(byName),
    endpoints: outboundEndpoints(scope, specs),
  };
}
