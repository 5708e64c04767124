/**
 * Everything a router (gateway) proxy receives, as Istio builds it:
 * listeners and route configs from the Gateways that select it and the
 * VirtualServices bound to them; the outbound clusters (EDS) of every service
 * visible from its namespace plus BlackHoleCluster (gateways have no
 * original-destination listeners, so no PassthroughCluster); their endpoints.
 */
import type { Mesh } from "../model/mesh";
import type { ProxyView } from "../model/proxy";
import { byName, msToDuration, typed } from "./common";
import { blackHoleCluster, outboundClusterSpecs } from "./clusters";
import { outboundClusters, outboundEndpoints } from "./outbound";
import { sidecarScope } from "./scope";
import { mergeGateways } from "./gateway-merge";
import { gatewayVirtualServices } from "./gateway-hosts";
import { gatewayListeners } from "./gateway-listeners";
import { GatewayContext, gatewayRouteConfigs } from "./gateway-routes";
import type { Generated } from "./generated";
import type { Cluster } from "./envoy";
import type { ClientTLSSettings } from "../model/types";
import type { TlsDefaults } from "../model/mesh-types";
import { autoSniRule, speaksHttp2, withAutoSni } from "./tls-origination";
import { TLS_TRANSPORT_SOCKET, upstreamCredentialTlsContext } from "./gateway-tls";

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
    clusters: [
      ...outboundClusters(scope, specs).map((c, i) => withCredentialTls(c, specs[i]!.policy.tls, mesh.options.tlsDefaults)),
      blackHoleCluster(msToDuration(mesh.options.connectTimeoutMs)),
    ].sort(byName),
    endpoints: outboundEndpoints(scope, specs),
    diagnostics,
  };
}

/**
 * A DestinationRule's SIMPLE/MUTUAL `credentialName` is honoured on gateways
 * (an egress gateway originating TLS): the certificate and CA come over SDS.
 * Sidecars get no TLS for it (model/mesh-diagnostics.ts says so), as before.
 */
function withCredentialTls(c: Cluster, tls: ClientTLSSettings | undefined, tlsDefaults: TlsDefaults | undefined): Cluster {
  if (!tls?.credentialName || (tls.mode !== "SIMPLE" && tls.mode !== "MUTUAL")) return c;
  const context = upstreamCredentialTlsContext({ ...tls, credentialName: tls.credentialName }, speaksHttp2(c), tlsDefaults);
  const out: Cluster = {
    ...c,
    transport_socket: { name: TLS_TRANSPORT_SOCKET, typed_config: typed("envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", context) },
  };
  withAutoSni(out, autoSniRule(tls));
  return out;
}
