/**
 * generate(mesh, proxy): what one proxy receives, as canonical proto3 JSON
 * objects sorted by name, ready for `encodeResource`. Pure and deterministic.
 *
 * Dispatch on the proxy:
 * - sidecar: the full sidecar config (sidecar.ts);
 * - router (gateway) and proxyless gRPC (`generator: "grpc"`): the outbound
 *   clusters and their endpoints, which both need unchanged; their listeners
 *   and routes come from gateway.ts / grpc.ts when those exist.
 */
import type { Mesh } from "../model/mesh";
import type { ProxyView } from "../model/proxy";
import { generateSidecar, outboundClusters, outboundEndpoints } from "./sidecar";
import { sidecarScope } from "./scope";

export interface GeneratedResources {
  listeners: object[];
  routes: object[];
  clusters: object[];
  endpoints: object[];
}

export function generate(mesh: Mesh, proxy: ProxyView): GeneratedResources {
  if (proxy.kind === "sidecar" && proxy.generator !== "grpc") return generateSidecar(mesh, proxy);
  const scope = sidecarScope(mesh, proxy);
  return { listeners: [], routes: [], clusters: outboundClusters(scope), endpoints: outboundEndpoints(scope) };
}

/**
 * Only the ClusterLoadAssignments (for endpoint-only changes): of every EDS
 * cluster the proxy has, or only of `clusterNames` when given (names the proxy
 * does not have are skipped). Sorted by cluster name.
 */
export function generateEndpoints(mesh: Mesh, proxy: ProxyView, clusterNames?: Iterable<string>): object[] {
  const only = clusterNames ? new Set(clusterNames) : undefined;
  return outboundEndpoints(sidecarScope(mesh, proxy), undefined, only);
}
