/**
 * What a generator returns for one proxy. Its own module so that the
 * generators (sidecar, gateway, grpc) and the composing index.ts can all use
 * it without importing each other.
 */
import type { Diagnostic } from "../model/types";
import type { Cluster, ClusterLoadAssignment, Listener, RouteConfiguration } from "./envoy";
import type { Credentials } from "./secrets";

export interface GeneratedResources {
  listeners: Listener[];
  routes: RouteConfiguration[];
  clusters: Cluster[];
  endpoints: ClusterLoadAssignment[];
}

/** The resources plus what the generator had to leave out for this proxy. */
export interface Generated extends GeneratedResources {
  /**
   * What this proxy's config leaves out or changes and why (a gateway server
   * that cannot be served, a route gRPC would refuse). Proxy-independent
   * findings are buildMesh's diagnostics.
   */
  diagnostics?: Diagnostic[];
  /** SDS: the secrets the listeners and clusters name (set by generate(); absent when none). */
  credentials?: Credentials;
}
