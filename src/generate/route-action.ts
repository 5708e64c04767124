/**
 * The forwarding part of a route: destination clusters (single or weighted),
 * timeout, retries (Istio's default policy when unset), consistent-hash
 * policy from the DestinationRule, mirroring, rewrites.
 */
import type { ConsistentHashLB, Destination, HTTPRetry, HTTPRoute, Headers, TrafficPolicy } from "../model/types";
import type { Mesh, MeshService, ResolvedDestinationRule } from "../model/mesh";
import { lookupService } from "../model/mesh";
import { resolveHost } from "../model/mesh-hosts";
import { istioDuration, percentPerMillion, typed } from "./common";
import type { ClusterWeight, HashPolicy, HashPolicyCookie, RetryPolicy, RouteAction } from "./envoy";
import { outboundClusterName } from "./names";
import { headerOperations } from "./route-headers";
import {
  DEFAULT_NUM_RETRIES,
  DEFAULT_RETRY_ON,
  HOST_SELECTION_RETRY_MAX_ATTEMPTS,
  NO_TIMEOUT,
  inboundRetryPolicy,
  previousHostsPredicate,
} from "./istio-defaults";
import type { Protocol } from "../model/mesh-protocol";

export interface DestinationContext {
  mesh: Mesh;
  /** Namespace of the client (visibility of the destination service). */
  clientNamespace: string;
  listenerPort: number;
  /** The client's DestinationRule for a service (callers cache it). */
  destinationRule(svc: MeshService): ResolvedDestinationRule | undefined;
  /**
   * Sidecar HTTP routes: istiod looks a destination's service up only among the services that have the
   * listener's port (BuildSidecarOutboundVirtualHosts keeps just that port of each), so a destination without a
   * port always takes the listener's port there, even when its service has a single other port.
   */
  servicesOnListenerPortOnly?: boolean;
}

export interface ResolvedDestination {
  cluster: string;
  service?: MeshService;
  port: number;
  /** destination.port as written (istiod reads port-level consistent hashing only for it). */
  explicitPort?: number;
  subset?: string;
}

/**
 * Istio's GetDestinationCluster: the port is destination.port, else the
 * service's only port, else the listener's port; the host is resolved against
 * the VirtualService's namespace.
 */
export function resolveDestination(dest: Destination, vsNamespace: string, ctx: DestinationContext): ResolvedDestination {
  const host = resolveHost(dest.host, vsNamespace, ctx.mesh.options.domainSuffix);
  const service = lookupService(ctx.mesh, host, ctx.clientNamespace);
  let port = ctx.listenerPort;
  if (dest.port?.number !== undefined) port = dest.port.number;
  else if (service && service.ports.length === 1 && !ctx.servicesOnListenerPortOnly) port = service.ports[0]!.port;
  // An ExternalName Service (istiod's alias) routes to the cluster of the name it aliases; in a sidecar route only
  // when istiod finds it, that is when it has the listener's port.
  const alias = service?.externalName !== undefined && (!ctx.servicesOnListenerPortOnly || service.ports.some((p) => p.port === ctx.listenerPort));
  const out: ResolvedDestination = { cluster: outboundClusterName(port, dest.subset, alias ? service.externalName! : host), port };
  if (dest.port?.number !== undefined) out.explicitPort = dest.port.number;
  if (service) out.service = service;
  if (dest.subset) out.subset = dest.subset;
  return out;
}

/** route.cluster or route.weighted_clusters (weight-0 destinations dropped when there are several). */
export function clusterSpecifier(
  route: HTTPRoute,
  vsNamespace: string,
  ctx: DestinationContext,
): { fields: Pick<RouteAction, "cluster" | "weighted_clusters">; destinations: ResolvedDestination[] } {
  const dests = route.route ?? [];
  if (dests.length === 1) {
    const d = resolveDestination(dests[0]!.destination, vsNamespace, ctx);
    return { fields: { cluster: d.cluster }, destinations: [d] };
  }
  const resolved: ResolvedDestination[] = [];
  if (!dests.some((d) => (d.weight ?? 0) > 0)) {
    // Validation refuses a zero total; should one slip through, use the first destination, never an empty list.
    const d = resolveDestination(dests[0]!.destination, vsNamespace, ctx);
    return { fields: { cluster: d.cluster }, destinations: [d] };
  }
  const clusters = dests
    .filter((d) => (d.weight ?? 0) > 0)
    .map((d): ClusterWeight => {
      const r = resolveDestination(d.destination, vsNamespace, ctx);
      resolved.push(r);
      return { name: r.cluster, weight: d.weight!, ...headerOperations(d.headers) };
    });
  return { fields: { weighted_clusters: { clusters } }, destinations: resolved };
}

/** Headers of a single destination apply to the whole route (Istio merges them). */
export function singleDestinationHeaders(route: HTTPRoute): Headers | undefined {
  return route.route && route.route.length === 1 ? route.route[0]!.headers : undefined;
}

/**
 * Istio's default policy (istio-defaults.ts): 2 retries on connection-level
 * failures, never on a 503 answer; other hosts preferred unless the route hashes.
 */
export function defaultRetryPolicy(consistentHash: boolean): RetryPolicy {
  const p: RetryPolicy = { retry_on: DEFAULT_RETRY_ON, num_retries: DEFAULT_NUM_RETRIES };
  if (!consistentHash) p.retry_host_predicate = previousHostsPredicate();
  p.host_selection_retry_max_attempts = HOST_SELECTION_RETRY_MAX_ATTEMPTS;
  return p;
}

/**
 * `retries` -> retry_policy (istiod's ConvertPolicy); attempts 0 switches
 * retries off; numeric retryOn tokens become status codes. Without `retries`
 * the MeshConfig defaultHttpRetryPolicy (`meshDefault`) applies, else Istio's
 * built-in policy.
 */
export function retryPolicy(retries: HTTPRetry | undefined, consistentHash: boolean, meshDefault?: HTTPRetry): RetryPolicy | undefined {
  const r = retries ?? meshDefault;
  const p = defaultRetryPolicy(consistentHash);
  if (!r) return p;
  if (!r.attempts || r.attempts <= 0) return undefined;
  p.num_retries = r.attempts;
  if (r.retryOn) {
    const tokens = r.retryOn
      .split(",")
      .map((t) => t.trim())
      .filter((t) => t !== "");
    // parseRetryOn: integers that are HTTP status codes become retriable_status_codes, the rest stays in retry_on.
    const codes = tokens.filter((t) => /^\d+$/.test(t) && Number(t) >= 100 && Number(t) <= 599).map(Number);
    const names = tokens.filter((t) => !(/^\d+$/.test(t) && Number(t) >= 100 && Number(t) <= 599));
    p.retry_on = names.join(",");
    // istiod appends ",retriable-status-codes" as text, so codes alone give a leading comma (Envoy skips empty tokens).
    if (codes.length > 0 && !p.retry_on.includes("retriable-status-codes")) p.retry_on += ",retriable-status-codes";
    if (codes.length > 0) p.retriable_status_codes = codes;
  }
  const perTry = istioDuration(r.perTryTimeout);
  if (perTry) p.per_try_timeout = perTry;
  const backoff = istioDuration(r.backoff);
  if (backoff) p.retry_back_off = { base_interval: backoff };
  // retryIgnorePreviousHosts, when set, decides the predicate whatever the hashing.
  if (r.retryIgnorePreviousHosts === true) p.retry_host_predicate = previousHostsPredicate();
  if (r.retryIgnorePreviousHosts === false) delete p.retry_host_predicate;
  if (r.retryRemoteLocalities) {
    p.retry_priority = {
      name: "envoy.retry_priorities.previous_priorities",
      typed_config: typed("envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig", { update_frequency: 2 }),
    };
  }
  return p;
}

/**
 * Timeout: the VirtualService's, else 0s (none), as Istio does. Only
 * `route.timeout`: a `max_stream_duration` block next to it makes Envoy ignore
 * the route timeout (the end-to-end timeout test with the real Envoy caught it).
 * Proxyless gRPC reads max_stream_duration instead; grpc-routes.ts sets it.
 */
export function timeoutFields(timeout: string | undefined): Pick<RouteAction, "timeout" | "max_grpc_timeout"> {
  const t = istioDuration(timeout, NO_TIMEOUT) ?? NO_TIMEOUT;
  // setTimeout: a gRPC client's grpc-timeout header is honoured, capped by the route timeout (0s: no cap).
  return { timeout: t, max_grpc_timeout: t };
}

/**
 * BuildDefaultHTTPInboundRoute: no timeout, a gRPC client's grpc-timeout
 * header not applied (max_stream_duration 0s), and the inbound retry policy
 * except on gRPC ports.
 */
export function inboundRouteAction(cluster: string, protocol: Protocol): RouteAction {
  const action: RouteAction = {
    cluster,
    timeout: NO_TIMEOUT,
    max_stream_duration: { max_stream_duration: NO_TIMEOUT, grpc_timeout_header_max: NO_TIMEOUT },
  };
  if (protocol !== "GRPC" && protocol !== "GRPC-WEB") action.retry_policy = inboundRetryPolicy();
  return action;
}

/**
 * istiod's HashForHTTPDestination: the consistent hash of a route destination, from the DestinationRule of its
 * host. Precedence: the subset's port-level setting, the subset's, the rule's port-level setting, the rule's.
 * Port-level settings count only for a port written on the destination (not one inferred from the service).
 */
export function consistentHashOf(d: ResolvedDestination, ctx: DestinationContext): ConsistentHashLB | undefined {
  if (!d.service) return undefined;
  const dr = ctx.destinationRule(d.service);
  if (!dr) return undefined;
  const portLevel = (p: TrafficPolicy | undefined) =>
    d.explicitPort === undefined ? undefined : p?.portLevelSettings?.find((s) => s.port?.number === d.explicitPort)?.loadBalancer?.consistentHash;
  const subset = d.subset ? dr.subsets.find((s) => s.name === d.subset)?.trafficPolicy : undefined;
  return portLevel(subset) ?? subset?.loadBalancer?.consistentHash ?? portLevel(dr.trafficPolicy) ?? dr.trafficPolicy?.loadBalancer?.consistentHash;
}

/** istiod's hashForService (a host without VirtualService): the rule's consistent hash, unless the port's own setting has one. */
export function serviceConsistentHash(svc: MeshService, port: number, ctx: DestinationContext): ConsistentHashLB | undefined {
  const tp = ctx.destinationRule(svc)?.trafficPolicy;
  const pl = tp?.portLevelSettings?.find((s) => s.port?.number === port);
  return pl?.loadBalancer?.consistentHash ?? tp?.loadBalancer?.consistentHash;
}

/** The default route's hash_policy (serviceConsistentHash). */
export function serviceHashPolicy(svc: MeshService, port: number, ctx: DestinationContext): HashPolicy[] | undefined {
  const h = toHashPolicy(serviceConsistentHash(svc, port, ctx));
  return h ? [h] : undefined;
}

/**
 * hash_policy for a route: one entry per destination that hashes, in destination order (istiod appends each
 * weighted destination's policy, so a split over subsets hashing differently carries all of them; Envoy
 * hashes with each in turn until one yields a value).
 */
export function hashPolicy(dests: ResolvedDestination[], ctx: DestinationContext): HashPolicy[] | undefined {
  const out = dests.flatMap((d) => toHashPolicy(consistentHashOf(d, ctx)) ?? []);
  return out.length > 0 ? out : undefined;
}

/** istiod's ConsistentHashToHashPolicy: the hash key of a consistentHash block (none for ring/maglev settings alone). */
export function toHashPolicy(ch: ConsistentHashLB | undefined): HashPolicy | undefined {
  if (!ch) return undefined;
  if (ch.httpHeaderName) return { header: { header_name: ch.httpHeaderName } };
  if (ch.httpCookie) {
    const cookie: HashPolicyCookie = { name: ch.httpCookie.name };
    if (ch.httpCookie.path) cookie.path = ch.httpCookie.path;
    if (ch.httpCookie.attributes?.length)
      cookie.attributes = ch.httpCookie.attributes.map((a) => ({ name: a.name, ...(a.value !== undefined ? { value: a.value } : {}) }));
    const ttl = istioDuration(ch.httpCookie.ttl);
    if (ttl) cookie.ttl = ttl;
    return { cookie };
  }
  if (ch.useSourceIp) return { connection_properties: { source_ip: true } };
  if (ch.httpQueryParameterName) return { query_parameter: { name: ch.httpQueryParameterName } };
  return undefined;
}

/**
 * mirror (mirrorPercentage, else the deprecated mirrorPercent, else 100%) and
 * mirrors (each with its own percentage, default 100%), as istiod builds them:
 * an explicit 0% mirrors nothing, so it is left out.
 */
export function mirrorPolicies(route: HTTPRoute, vsNamespace: string, ctx: DestinationContext): Pick<RouteAction, "request_mirror_policies"> {
  const policies: NonNullable<RouteAction["request_mirror_policies"]> = [];
  const add = (dest: HTTPRoute["mirror"], pct: number): void => {
    if (!dest || pct <= 0) return;
    const d = resolveDestination(dest, vsNamespace, ctx);
    // disable_shadow_host_suffix_append: istiod (DISABLE_SHADOW_HOST_SUFFIX, default true) keeps the mirrored request's
    // Host as is, so the mirror target sees the same Host as the primary (Envoy would append "-shadow").
    policies.push({
      cluster: d.cluster,
      runtime_fraction: { default_value: percentPerMillion(pct) },
      trace_sampled: false,
      disable_shadow_host_suffix_append: true,
    });
  };
  add(route.mirror, route.mirrorPercentage?.value ?? route.mirrorPercent ?? 100);
  for (const m of route.mirrors ?? []) add(m.destination, m.percentage?.value ?? 100);
  return policies.length > 0 ? { request_mirror_policies: policies } : {};
}

/** rewrite.uri -> prefix_rewrite, rewrite.uriRegexRewrite -> regex_rewrite, rewrite.authority -> host_rewrite_literal. */
export function rewriteFields(route: HTTPRoute): Pick<RouteAction, "prefix_rewrite" | "regex_rewrite" | "host_rewrite_literal"> {
  const out: Pick<RouteAction, "prefix_rewrite" | "regex_rewrite" | "host_rewrite_literal"> = {};
  const regex = route.rewrite?.uriRegexRewrite;
  if (regex) out.regex_rewrite = { pattern: { regex: regex.match }, substitution: regex.rewrite };
  else if (route.rewrite?.uri) out.prefix_rewrite = route.rewrite.uri;
  if (route.rewrite?.authority) out.host_rewrite_literal = route.rewrite.authority;
  return out;
}
