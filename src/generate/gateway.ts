/**
 * Everything a router (gateway) proxy receives, as Istio builds it:
 * listeners and route configs from the Gateways that select it and the
 * VirtualServices bound to them; the outbound clusters (EDS) of every service
 * visible from its namespace plus BlackHoleCluster (gateways have no
 * original-destination listeners, so no PassthroughCluster); their endpoints.
 */
import type { Mesh } from "../model/mesh";
import type { ProxyView } from "../model/proxy";
import { byName } from "./common";
import { blackHoleCluster, outboundClusterSpecs } from "./clusters";
import { outboundClusters, outboundEndpoints } from "./sidecar";
import { sidecarScope } from "./scope";
import { mergeGateways } from "./gateway-merge";
import { gatewayVirtualServices } from "./gateway-hosts";
import { gatewayListeners } from "./gateway-listeners";
import { GatewayContext, gatewayRouteConfigs } from "./gateway-routes";
import type { Generated } from "./index";

export function generateRouter(mesh: Mesh, proxy: ProxyView): Generated {
  const scope = sidecarScope(mesh, proxy);
  const merged = mergeGateways(mesh, proxy);
  const gatewayNames = merged.listeners.flatMap((l) => l.servers.map((s) => s.gatewayName));
  const ctx: GatewayContext = { scope, virtualServices: gatewayVirtualServices(mesh, proxy.namespace, gatewayNames) };
  const diagnostics = [...merged.diagnostics];
  const listeners = gatewayListeners(ctx, merged.listeners, diagnostics);
  const specs = outboundClusterSpecs(mesh, scope.client, scope.services, (svc) => scope.destinationRule(svc));
  return {
    listeners,
    routes: gatewayRouteConfigs(ctx, merged.listeners),
    clusters: [...outboundClusters(scope, specs), blackHoleCluster()].sort(byName),
    endpoints: outboundEndpoints(scope, specs),
    diagnostics,
  };
}
