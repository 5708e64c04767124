/**
 * VirtualService `http[]` -> Envoy routes for one virtual host, Istio's way:
 * rules in order, one route per applicable match, a rule without match is a
 * catch-all and ends the list. Shared by sidecars (gateway "mesh") and
 * gateways (their "namespace/name").
 */
import type { HTTPRetry, HTTPRoute, HTTPRedirect } from "../model/types";
import type { MeshVirtualService } from "../model/mesh";
import { resolveGateway } from "../model/mesh";
import type { HashPolicy, DirectResponseAction, RedirectAction, Route, RouteAction, RouteMatch } from "./envoy";
import { MatchContext, isCatchAll, matchApplies, routeMatch } from "./route-match";
import {
  DestinationContext,
  clusterSpecifier,
  consistentHashOf,
  hashPolicy,
  mirrorPolicies,
  retryPolicy,
  rewriteFields,
  singleDestinationHeaders,
  timeoutFields,
  ResolvedDestination,
} from "./route-action";
import { headerOperations, mergeHeaders } from "./route-headers";
import { CORS_FILTER, FAULT_FILTER, corsConfig, faultConfig } from "./route-filters";
import { parseClusterName } from "./names";

export interface RouteContext extends MatchContext, DestinationContext {}

/** All routes a VirtualService contributes to a virtual host on ctx.listenerPort. */
export function virtualServiceRoutes(mvs: MeshVirtualService, ctx: RouteContext): Route[] {
  const out: Route[] = [];
  const resolveGw = (g: string) => resolveGateway(g, mvs.namespace);
  for (const rule of mvs.vs.spec.http ?? []) {
    if (rule.delegate) continue; // delegation is a gateway-side feature mini-pilot does not implement
    const matches = rule.match && rule.match.length > 0 ? rule.match : [undefined];
    let catchAll = false;
    for (const m of matches) {
      if (m && !matchApplies(m, ctx, resolveGw)) continue;
      out.push(translateRoute(rule, m?.name, routeMatch(m), mvs, ctx));
      if (isCatchAll(m)) {
        catchAll = true;
        break;
      }
    }
    if (catchAll) break;
  }
  return out;
}

function translateRoute(rule: HTTPRoute, matchName: string | undefined, match: RouteMatch, mvs: MeshVirtualService, ctx: RouteContext): Route {
  const out: Route = {};
  const name = [rule.name, matchName].filter((s) => s).join(".");
  if (name) out.name = name;
  out.match = match;
  let destinations: ResolvedDestination[] = [];
  if (rule.redirect) out.redirect = redirectAction(rule.redirect);
  else if (rule.directResponse) out.direct_response = directResponse(rule.directResponse);
  else {
    const action = routeAction(rule, mvs, ctx);
    out.route = action.fields;
    destinations = action.destinations;
  }
  Object.assign(out, headerOperations(mergeHeaders(rule.headers, singleDestinationHeaders(rule))));
  const perFilter: NonNullable<Route["typed_per_filter_config"]> = {};
  const fault = rule.fault && faultConfig(rule.fault);
  if (fault) perFilter[FAULT_FILTER] = fault;
  if (rule.corsPolicy) perFilter[CORS_FILTER] = corsConfig(rule.corsPolicy);
  if (Object.keys(perFilter).length > 0) out.typed_per_filter_config = perFilter;
  out.metadata = { filter_metadata: { istio: { config: `/apis/networking.istio.io/v1/namespaces/${mvs.namespace}/virtual-service/${mvs.vs.metadata.name}` } } };
  out.decorator = { operation: operationName(out, destinations, mvs.vs.metadata.name, ctx.listenerPort) };
  return out;
}

function routeAction(rule: HTTPRoute, mvs: MeshVirtualService, ctx: RouteContext): { fields: RouteAction; destinations: ResolvedDestination[] } {
  const spec = clusterSpecifier(rule, mvs.namespace, ctx);
  const fields: RouteAction = { ...spec.fields, ...timeoutFields(rule.timeout) };
  // istiod only looks for consistent hashing on a single destination; weighted routes keep the previous-hosts predicate.
  const hashing = spec.destinations.length === 1 && rule.route?.length === 1 && consistentHashOf(spec.destinations[0]!, ctx) !== undefined;
  const retry = retryPolicy(rule.retries, hashing, ctx.mesh.options.defaultHttpRetryPolicy);
  if (retry) fields.retry_policy = retry;
  const hash = hashPolicy(spec.destinations, ctx);
  if (hash) fields.hash_policy = hash;
  Object.assign(fields, mirrorPolicies(rule, mvs.namespace, ctx), rewriteFields(rule));
  return { fields, destinations: spec.destinations };
}

const REDIRECT_CODES: Record<number, NonNullable<RedirectAction["response_code"]>> = {
  301: "MOVED_PERMANENTLY",
  302: "FOUND",
  303: "SEE_OTHER",
  307: "TEMPORARY_REDIRECT",
  308: "PERMANENT_REDIRECT",
};

function redirectAction(r: HTTPRedirect): RedirectAction {
  const out: RedirectAction = {};
  // prefixRewrite replaces the matched prefix (validation keeps it to prefix matches); else uri replaces the path.
  if (r.prefixRewrite) out.prefix_rewrite = r.prefixRewrite;
  else if (r.uri !== undefined) out.path_redirect = r.uri;
  if (r.authority) out.host_redirect = r.authority;
  if (r.port) out.port_redirect = r.port;
  if (r.scheme) out.scheme_redirect = r.scheme;
  out.response_code = REDIRECT_CODES[r.redirectCode ?? 301] ?? "MOVED_PERMANENTLY";
  return out;
}

function directResponse(d: NonNullable<HTTPRoute["directResponse"]>): DirectResponseAction {
  const out: DirectResponseAction = { status: d.status };
  if (d.body?.string !== undefined) out.body = { inline_string: d.body.string };
  else if (d.body?.bytes !== undefined) out.body = { inline_bytes: d.body.bytes };
  return out;
}

/** Istio's decorator: `host:port<path>` for a single destination, else `<vs name>:<port><path>`. */
function operationName(route: Route, dests: ResolvedDestination[], vsName: string, port: number): string {
  const m = route.match ?? {};
  const path = typeof m.prefix === "string" ? `${m.prefix}*` : typeof m.path === "string" ? m.path : m.safe_regex ? String(m.safe_regex.regex) : "/*";
  const single = dests.length === 1 && route.route?.cluster ? parseClusterName(dests[0]!.cluster) : undefined;
  return single ? `${single.host}:${single.port}${path}` : `${vsName}:${port}${path}`;
}

/**
 * The route of a host without VirtualService: prefix "/" to its cluster,
 * default retries. BuildDefaultHTTPOutboundRoute builds the retry policy before
 * it looks at the DestinationRule's hash, so it keeps previous_hosts even then.
 */
export function defaultRoute(cluster: string, host: string, port: number, hash?: HashPolicy[], meshRetry?: HTTPRetry): Route {
  const route: RouteAction = { cluster, ...timeoutFields(undefined) };
  const retry = retryPolicy(undefined, false, meshRetry);
  if (retry) route.retry_policy = retry;
  if (hash) route.hash_policy = hash;
  return { name: "default", match: { prefix: "/" }, route, decorator: { operation: `${host}:${port}/*` } };
}
