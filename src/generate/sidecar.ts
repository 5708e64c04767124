/**
 * Everything a sidecar receives: listeners, route configs, clusters and the
 * endpoints of its EDS clusters.
 */
import { destinationRuleFor, type Mesh } from "../model/mesh";
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
import { withDestinationRulePools } from "./inbound-pools";

export function generateSidecar(mesh: Mesh, proxy: ProxyView): GeneratedResources {
  const scope = sidecarScope(mesh, proxy);
  const servicePorts = inboundPorts(mesh, proxy);
  // A Sidecar with ingress listeners decides the inbound ports instead of the workload's services.
  // Connection pools: the service's DestinationRule, replaced by the Sidecar's (istiod's buildInboundCluster).
  const ingress = sidecarIngressPorts(scope.sidecar, servicePorts);
  const ports = withDestinationRulePools(mesh, proxy.namespace, ingress ?? servicePorts);
  const inbound = withInboundConnectionPools(scope.sidecar, ports);
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
      // istiod names the DestinationRule (with a traffic policy) of a service port's Service on its inbound cluster.
      ...inbound.map((ip) => inboundCluster(ip, meshConnectTimeout, ingress ? undefined : destinationRuleFor(mesh, scope.client, ip.service))),
      blackHoleCluster(meshConnectTimeout),
      passthroughCluster(meshConnectTimeout),
      inboundPassthroughCluster(meshConnectTimeout),
    ].sort(byName),
    endpoints: outboundEndpoints(scope, specs),
  };
}
