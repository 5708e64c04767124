/**
 * Route configurations for proxyless gRPC clients (Istio's grpcgen RDS), one
 * per service HTTP port, named `outbound|<port>||<host>` like the listener's
 * RDS reference. The virtual host is the sidecar's (`<host>:<port>`, the
 * VirtualService's routes or the default route) with Istio's proxyless
 * domains: every name both bare and with `:<port>`, since gRPC matches the
 * authority it dialled, port included.
 *
 * Deviation: Istio's grpcgen puts every service on the port into each of
 * these route configs (n services -> n configs of n vhosts); a gRPC client
 * only ever uses the vhost matching its target, so each config carries that
 * service's vhost alone.
 *
 * gRPC implements a subset of RouteConfiguration; what it refuses is left out
 * with a diagnostic rather than sent to be NACKed:
 * - redirect and direct_response routes (gRPC NACKs the whole config);
 * - routes matching query parameters (gRPC skips them);
 * - CORS per-route config (an unknown filter config is NACKed).
 * Header matchers use the original oneof fields (exact_match, prefix_match,
 * safe_regex_match) instead of string_match, which older gRPC C-core (1.51,
 * Debian's python3-grpcio) does not know; newer clients accept both. The
 * timeout also goes into max_stream_duration, which is what gRPC reads.
 */
import type { Diagnostic, VirtualService } from "../model/types";
import type { MeshService, MeshVirtualService } from "../model/mesh";
import { byName } from "./common";
import type { HeaderMatcher, Route, RouteConfiguration, VirtualHost } from "./envoy";
import { grpcRouteName, outboundClusterName, virtualHostName } from "./names";
import { defaultRoute, virtualServiceRoutes } from "./routes";
import { serviceHashPolicy } from "./route-action";
import { CORS_FILTER } from "./route-filters";
import { meshRouteContext } from "./sidecar-routes";
import { vhostDomains } from "./sidecar-virtual-hosts";
import type { ProxyScope } from "./scope";

/** A service port a gRPC client can dial. */
export interface GrpcTarget {
  service: MeshService;
  port: number;
}

export function grpcRouteConfigs(scope: ProxyScope, targets: GrpcTarget[], diagnostics: Diagnostic[]): RouteConfiguration[] {
  const reported = new Set<string>();
  const configs = targets.map(({ service, port }): RouteConfiguration => {
    const ctx = meshRouteContext(scope, port);
    const vs = scope.virtualServices.get(service.host);
    let routes = vs ? virtualServiceRoutes(vs, ctx) : [];
    let isDefault = false;
    if (vs && !reported.has(vsKey(vs))) {
      reported.add(vsKey(vs));
      diagnostics.push(...unsupportedForGrpc(vs));
    }
    // No applicable rule: Istio gives the service its default route, as if it had no VirtualService.
    if (routes.length === 0) {
      const cluster = outboundClusterName(port, undefined, service.host);
      routes = [defaultRoute(cluster, service.host, port, serviceHashPolicy(service, port, ctx), scope.mesh.options.defaultHttpRetryPolicy)];
      isDefault = true;
    }
    const vhost: VirtualHost = {
      name: virtualHostName(service.host, port),
      domains: grpcDomains(service, port, scope.proxy.dnsDomain),
      routes: routes.flatMap((r) => grpcRoute(r, isDefault)),
      include_request_attempt_count: true,
    };
    return { name: grpcRouteName(port, service.host), virtual_hosts: [vhost] };
  });
  return configs.sort(byName);
}

/** Istio's proxyless domains: each sidecar domain bare and with `:<port>`. */
export function grpcDomains(service: MeshService, port: number, proxyDomain: string): string[] {
  return vhostDomains(service, proxyDomain).flatMap((d) => [d, `${d}:${port}`]);
}

/** The route as gRPC accepts it, or nothing when gRPC would refuse or skip it. */
function grpcRoute(route: Route, isDefault: boolean): Route[] {
  if (route.redirect || route.direct_response) return [];
  const match = route.match ?? {};
  if (match.query_parameters) return [];
  const out: Route = { ...route };
  if (match.headers) out.match = { ...match, headers: match.headers.map(legacyHeaderMatcher) };
  const perFilter = route.typed_per_filter_config;
  if (perFilter && perFilter[CORS_FILTER]) {
    const rest = { ...perFilter };
    delete rest[CORS_FILTER];
    if (Object.keys(rest).length > 0) out.typed_per_filter_config = rest;
    else delete out.typed_per_filter_config;
  }
  const action = route.route;
  if (action && isDefault) {
    // istiod's default route (BuildDefaultHTTPOutboundRoute, no setTimeout): no stream limit, written as max_grpc_timeout 0s.
    const grpcAction = { ...action, max_grpc_timeout: "0s" };
    delete grpcAction.max_stream_duration;
    out.route = grpcAction;
  } else if (action) {
    // istiod's setTimeout: proxyless gRPC reads max_stream_duration; max_grpc_timeout is for Envoy only.
    const grpcAction = { ...action, max_stream_duration: { max_stream_duration: action.timeout ?? "0s" } };
    delete grpcAction.max_grpc_timeout;
    out.route = grpcAction;
  }
  return [out];
}

/** string_match {exact|prefix|suffix|contains|safe_regex} -> the matching original oneof field. */
function legacyHeaderMatcher(h: HeaderMatcher): HeaderMatcher {
  const sm = h.string_match;
  if (!sm || sm.ignore_case) return h;
  const out: HeaderMatcher = { ...h };
  delete out.string_match;
  if (sm.exact !== undefined) return { ...out, exact_match: sm.exact };
  if (sm.prefix !== undefined) return { ...out, prefix_match: sm.prefix };
  if (sm.suffix !== undefined) return { ...out, suffix_match: sm.suffix };
  if (sm.contains !== undefined) return { ...out, contains_match: sm.contains };
  if (sm.safe_regex !== undefined) return { ...out, safe_regex_match: sm.safe_regex };
  return h;
}

/** What a VirtualService asks for that proxyless gRPC clients cannot do. */
function unsupportedForGrpc(mvs: MeshVirtualService): Diagnostic[] {
  const vs = mvs.vs;
  const out: Diagnostic[] = [];
  (vs.spec.http ?? []).forEach((rule, i) => {
    const at = `spec.http[${i}]`;
    if (rule.redirect) out.push(diag(vs, `${at}.redirect`, "proxyless gRPC clients refuse redirect routes; the route is left out of their config"));
    if (rule.directResponse)
      out.push(diag(vs, `${at}.directResponse`, "proxyless gRPC clients refuse direct responses; the route is left out of their config"));
    if (rule.corsPolicy) out.push(diag(vs, `${at}.corsPolicy`, "proxyless gRPC clients do not implement CORS; the policy is left out of their config"));
    (rule.match ?? []).forEach((m, j) => {
      if (m.queryParams && Object.keys(m.queryParams).length > 0) {
        out.push(
          diag(vs, `${at}.match[${j}].queryParams`, "proxyless gRPC clients skip routes that match query parameters; the route is left out of their config"),
        );
      }
    });
  });
  return out;
}

function vsKey(mvs: MeshVirtualService): string {
  return `${mvs.namespace}/${mvs.vs.metadata.name}`;
}

function diag(vs: VirtualService, field: string, message: string): Diagnostic {
  const d: Diagnostic = { severity: "warning", kind: "VirtualService", namespace: vs.metadata.namespace, name: vs.metadata.name, field, message };
  if (vs.origin) d.origin = vs.origin;
  return d;
}
