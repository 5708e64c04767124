/**
 * generate(mesh, proxy): what one proxy receives, as canonical proto3 JSON
 * objects sorted by name, ready for `encodeResource`. Pure and deterministic.
 * The objects are read-only: resources that do not depend on the proxy (the
 * ClusterLoadAssignments) are the same objects for every proxy of a mesh.
 *
 * Dispatch on the proxy:
 * - proxyless gRPC (`generator: "grpc"`, any kind): grpc.ts;
 * - router (gateway): gateway.ts;
 * - sidecar: sidecar.ts.
 */
import type { Mesh } from "../model/mesh";
import type { ProxyView } from "../model/proxy";
import type { Generated } from "./generated";
import type { ClusterLoadAssignment, RouteConfiguration } from "./envoy";
import { sidecarRouteConfigs } from "./sidecar-routes";
import { generateSidecar, sharedOutboundEndpoints } from "./sidecar";
export { warmSidecarSteps } from "./sidecar";
import { outboundEndpoints } from "./outbound";
import { generateRouter } from "./gateway";
import { generateGrpc } from "./grpc";
import { grpcEndpoints } from "./grpc-clusters";
import { outboundClusterSpecs } from "./clusters";
import { parseClusterName } from "./names";
import { sidecarScope } from "./scope";
import { credentialSecrets, referencedSecretNames } from "./secrets";
import { withTelemetry } from "./telemetry";
import { withPathNormalization } from "./path-normalization";

export type { Generated, GeneratedResources } from "./generated";

export function generate(mesh: Mesh, proxy: ProxyView): Generated {
  return withCredentials(mesh, proxy, generateByKind(mesh, proxy));
}

function generateByKind(mesh: Mesh, proxy: ProxyView): Generated {
  if (proxy.generator === "grpc") return generateGrpc(mesh, proxy);
  // Tracing and access logs from mesh config go onto every connection manager in one pass.
  // So do MeshConfig path normalization settings.
  if (proxy.kind === "router") return withTelemetry(withPathNormalization(generateRouter(mesh, proxy), mesh), mesh, proxy);
  return withTelemetry(withPathNormalization(generateSidecar(mesh, proxy), mesh), mesh, proxy);
}

/** The SDS secrets the output names, from the proxy's own namespace (asked only when it names any). */
function withCredentials(mesh: Mesh, proxy: ProxyView, out: Generated): Generated {
  const names = referencedSecretNames(out.listeners, out.clusters);
  if (names.length === 0) return out;
  return { ...out, credentials: credentialSecrets(mesh, proxy.namespace, names) };
}

/** Only the route configs of a plain sidecar (Envoy, not gRPC): what generate() gives it, for a change that touches nothing else. */
export function generateSidecarRoutes(mesh: Mesh, proxy: ProxyView): RouteConfiguration[] {
  return sidecarRouteConfigs(sidecarScope(mesh, proxy));
}

/**
 * Only the ClusterLoadAssignments (for endpoint-only changes): of every EDS
 * cluster the proxy has, or only of `clusterNames` when given (names the proxy
 * does not have are skipped). Sorted by cluster name.
 */
export function generateEndpoints(mesh: Mesh, proxy: ProxyView, clusterNames?: Iterable<string>): ClusterLoadAssignment[] {
  const only = clusterNames ? new Set(clusterNames) : undefined;
  const scope = sidecarScope(mesh, proxy);
  // A sidecar's whole EDS is the unit its full generation shares (the same objects, kept across pushes).
  if (!only && proxy.generator !== "grpc" && proxy.kind === "sidecar") return sharedOutboundEndpoints(scope);
  // Only the named services' clusters are worth building (an endpoint change names few of thousands).
  const hosts = only ? new Set([...only].map((n) => parseClusterName(n)?.host)) : undefined;
  const services = hosts ? scope.services.filter((s) => hosts.has(s.host)) : scope.services;
  const specs = outboundClusterSpecs(mesh, scope.client, services, (svc) => scope.destinationRule(svc));
  if (proxy.generator === "grpc") return grpcEndpoints(scope, specs, only);
  // Sidecars and gateways have the same outbound EDS clusters.
  return outboundEndpoints(scope, specs, only);
}
