/** The xDS resource types mini-pilot serves, as one string-literal union. */
export const LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener";
export const ROUTE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
export const CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
export const ENDPOINT = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
/** SDS: TLS certificates and validation contexts, asked for by name by the listeners and clusters that use them. */
export const SECRET = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

export type XdsTypeUrl = typeof LISTENER | typeof ROUTE | typeof CLUSTER | typeof ENDPOINT | typeof SECRET;

/**
 * Make-before-break order on ADS: clusters, then their endpoints, then
 * listeners, then routes, then secrets (Istio's order). SDS is not a wildcard
 * type: Envoy asks for a secret only once a listener or cluster that names it
 * arrives, and warms that listener or cluster until the secret is there. So a
 * secret cannot usefully go first; what make-before-break needs is that the
 * snapshot holding a listener also holds its secrets, so the request Envoy
 * sends for them is answered at once (the pipeline builds both together).
 */
export const PUSH_ORDER: readonly XdsTypeUrl[] = [CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET];

export const ALL_TYPES: readonly XdsTypeUrl[] = PUSH_ORDER;

/** Short names used by flags, files and debug output. */
export const SHORT_NAME: Record<XdsTypeUrl, "listeners" | "routes" | "clusters" | "endpoints" | "secrets"> = {
  [LISTENER]: "listeners",
  [ROUTE]: "routes",
  [CLUSTER]: "clusters",
  [ENDPOINT]: "endpoints",
  [SECRET]: "secrets",
};

export const TYPE_BY_SHORT_NAME: Record<string, XdsTypeUrl> = {
  listeners: LISTENER,
  routes: ROUTE,
  clusters: CLUSTER,
  endpoints: ENDPOINT,
  secrets: SECRET,
};

/** LDS and CDS are wildcard types: an empty subscription means "everything". */
export function isWildcardType(t: XdsTypeUrl): boolean {
  return t === LISTENER || t === CLUSTER;
}

export function isXdsTypeUrl(s: string): s is XdsTypeUrl {
  return s === LISTENER || s === ROUTE || s === CLUSTER || s === ENDPOINT || s === SECRET;
}

/** The proto message name behind a type URL. */
export function messageName(t: string): string {
  return t.slice(t.lastIndexOf("/") + 1);
}

/** The field that names a resource of each type. */
export const NAME_FIELD: Record<XdsTypeUrl, string> = {
  [LISTENER]: "name",
  [ROUTE]: "name",
  [CLUSTER]: "name",
  [ENDPOINT]: "cluster_name",
  [SECRET]: "name",
};
