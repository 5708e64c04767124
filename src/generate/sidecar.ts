/**
 * Everything a sidecar receives: listeners, route configs, clusters and the
 * endpoints of its EDS clusters.
 */
import { destinationRuleFor, type Mesh } from "../model/mesh";
import type { ProxyView } from "../model/proxy";
import { byName, msToDuration } from "./common";
import { type OutboundClusterSpec, blackHoleCluster, inboundCluster, inboundPassthroughCluster, outboundClusterSpecs, passthroughCluster } from "./clusters";
import { outboundClusters, outboundEndpoints, warmOutboundSteps } from "./outbound";
import { inboundPorts } from "./instances";
import { sidecarListeners } from "./sidecar-listeners";
import { sidecarRouteConfigs, warmRouteSteps } from "./sidecar-routes";
import { scopeForView, sidecarScope } from "./scope";
import { mergeByName, sharedUnit } from "./shared";
import { sidecarIngressPorts, withInboundConnectionPools } from "./sidecar-ingress";
import type { GeneratedResources } from "./generated";
import { withDestinationRulePools } from "./inbound-pools";
import type { Cluster, ClusterLoadAssignment } from "./envoy";
import type { ProxyScope } from "./scope";
import type { Steps } from "../model/steps";

export function generateSidecar(mesh: Mesh, proxy: ProxyView): GeneratedResources {
  const scope = sidecarScope(mesh, proxy);
  const servicePorts = inboundPorts(mesh, proxy);
  // A Sidecar with ingress listeners decides the inbound ports instead of the workload's services.
  // Connection pools: the service's DestinationRule, replaced by the Sidecar's (istiod's buildInboundCluster).
  const ingress = sidecarIngressPorts(scope.sidecar, servicePorts);
  const ports = withDestinationRulePools(mesh, proxy.namespace, ingress ?? servicePorts);
  const inbound = withInboundConnectionPools(scope.sidecar, ports);
  const outbound = sharedOutbound(scope);
  const meshConnectTimeout = msToDuration(mesh.options.connectTimeoutMs);
  const own = [
    // istiod names the DestinationRule (with a traffic policy) of a service port's Service on its inbound cluster.
    ...inbound.map((ip) => inboundCluster(ip, meshConnectTimeout, ingress ? undefined : destinationRuleFor(mesh, scope.client, ip.service))),
    blackHoleCluster(meshConnectTimeout),
    passthroughCluster(meshConnectTimeout),
    inboundPassthroughCluster(meshConnectTimeout),
  ].sort(byName);
  return {
    listeners: sidecarListeners(
      scope,
      inbound.filter((ip) => !ip.clusterOnly),
    ),
    routes: sidecarRouteConfigs(scope),
    clusters: mergeByName(outbound.clusters, own),
    endpoints: outbound.endpoints,
  };
}

/**
 * The outbound clusters and their endpoints: the same for every sidecar of a scope that answers their
 * questions alike (DestinationRule workload selectors, SDS capability, locality), so built once for them
 * (shared.ts). Three units, so a change can drop one and keep the others (push/incremental.ts).
 */
export function sharedOutbound(scope: ProxyScope): { clusters: Cluster[]; endpoints: ClusterLoadAssignment[] } {
  return { clusters: sharedOutboundClusters(scope), endpoints: sharedOutboundEndpoints(scope) };
}

function sharedSpecs(scope: ProxyScope): OutboundClusterSpec[] {
  return sharedUnit(scope.mesh, scope.proxy, `outbound-specs|${scope.shareKey}`, (view) => {
    const s = scopeForView(scope, view);
    return outboundClusterSpecs(s.mesh, s.client, s.services, (svc) => s.destinationRule(svc));
  });
}

function sharedOutboundClusters(scope: ProxyScope): Cluster[] {
  return sharedUnit(scope.mesh, scope.proxy, `outbound-clusters|${scope.shareKey}`, (view) => {
    const s = scopeForView(scope, view);
    return outboundClusters(s, sharedSpecs(s));
  });
}

export function sharedOutboundEndpoints(scope: ProxyScope): ClusterLoadAssignment[] {
  return sharedUnit(scope.mesh, scope.proxy, `outbound-endpoints|${scope.shareKey}`, (view) => {
    const s = scopeForView(scope, view);
    return outboundEndpoints(s, sharedSpecs(s));
  });
}

/**
 * Build what a plain sidecar's generation shares with other views in small steps, so that generate() for the
 * first view of a big mesh then finds its clusters, assignments and virtual hosts built: a sliced push returns to
 * the event loop in between (push/pipeline.ts). Units built here from the plain proxy are sound to share: a later
 * recorded generation that finds them asks their questions of its own recording view (shared.ts).
 */
export function* warmSidecarSteps(mesh: Mesh, proxy: ProxyView): Steps<void> {
  if (proxy.kind !== "sidecar" || proxy.generator === "grpc") return;
  const scope = sidecarScope(mesh, proxy);
  yield;
  const specs = sharedSpecs(scope);
  yield;
  yield* warmOutboundSteps(scope, specs);
  yield* warmRouteSteps(scope);
}
