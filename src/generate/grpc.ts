/**
 * Everything a proxyless gRPC client (node metadata GENERATOR=grpc) receives,
 * in the subset of xDS that gRPC implements (Istio's grpcgen): API listeners
 * named after what the client dials, one route config per service port,
 * ROUND_ROBIN / RING_HASH clusters and their endpoints. What gRPC would
 * refuse is left out and reported in `diagnostics`.
 */
import type { Diagnostic } from "../model/types";
import { uniqueDiagnostics } from "../model/types";
import type { Mesh } from "../model/mesh";
import type { ProxyView } from "../model/proxy";
import { outboundClusterSpecs } from "./clusters";
import { sidecarScope } from "./scope";
import { grpcListeners, grpcTargets } from "./grpc-listeners";
import { grpcRouteConfigs } from "./grpc-routes";
import { grpcClusters, grpcEndpoints } from "./grpc-clusters";
import type { Generated } from "./generated";

export function generateGrpc(mesh: Mesh, proxy: ProxyView): Generated {
  const scope = sidecarScope(mesh, proxy);
  const specs = outboundClusterSpecs(mesh, scope.client, scope.services, (svc) => scope.destinationRule(svc));
  const targets = grpcTargets(scope);
  const diagnostics: Diagnostic[] = [];
  return {
    listeners: grpcListeners(scope, targets),
    routes: grpcRouteConfigs(scope, targets, diagnostics),
    clusters: grpcClusters(scope, specs, diagnostics),
    endpoints: grpcEndpoints(scope, specs),
    // A DestinationRule applies to every subset and port: report each finding once.
    diagnostics: uniqueDiagnostics(diagnostics),
  };
}
