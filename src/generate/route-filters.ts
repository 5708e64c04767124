/**
 * Per-route HTTP filter configs (typed_per_filter_config): fault injection and
 * CORS. The listener's filter chain always carries both filters (before the
 * router), so a route only needs its own config.
 */
import type { CorsPolicy as IstioCorsPolicy, HTTPFaultInjection } from "../model/types";
import { istioDuration, istioSeconds, percentPerMillion, typed } from "./common";
import type { AnyOf, CorsPolicy, FaultAbort, HTTPFault, HttpFilter } from "./envoy";
import { stringMatcher } from "./route-match";

export const FAULT_FILTER = "envoy.filters.http.fault";
export const CORS_FILTER = "envoy.filters.http.cors";
export const ROUTER_FILTER = "envoy.filters.http.router";

/** gRPC status names Istio accepts for abort.grpcStatus. */
const GRPC_CODES: Record<string, number> = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
};

/**
 * Percentages unset mean 0% (Istio: "if left unspecified, no request will be ...").
 * As istiod does, a delay without fixedDelay and an abort without a status are
 * left out, and a fault with neither left is no fault (undefined).
 */
export function faultConfig(f: HTTPFaultInjection): AnyOf<"envoy.extensions.filters.http.fault.v3.HTTPFault"> | undefined {
  const out: HTTPFault = {};
  if (f.delay?.fixedDelay !== undefined) {
    const pct = f.delay.percentage?.value ?? f.delay.percent ?? 0;
    out.delay = { fixed_delay: istioDuration(f.delay.fixedDelay, "0s"), percentage: percentPerMillion(pct) };
  }
  if (f.abort && (f.abort.grpcStatus !== undefined || f.abort.httpStatus !== undefined)) {
    const abort: FaultAbort = { percentage: percentPerMillion(f.abort.percentage?.value ?? 0) };
    if (f.abort.grpcStatus !== undefined) abort.grpc_status = grpcCode(f.abort.grpcStatus);
    else abort.http_status = f.abort.httpStatus;
    out.abort = abort;
  }
  if (!out.delay && !out.abort) return undefined;
  return typed("envoy.extensions.filters.http.fault.v3.HTTPFault", out);
}

function grpcCode(s: string): number {
  if (/^\d+$/.test(s)) return Number(s);
  return GRPC_CODES[s.toUpperCase()] ?? GRPC_CODES.UNKNOWN!;
}

export function corsConfig(c: IstioCorsPolicy): AnyOf<"envoy.extensions.filters.http.cors.v3.CorsPolicy"> {
  const out: CorsPolicy = {};
  if (c.allowOrigins?.length) out.allow_origin_string_match = c.allowOrigins.map(stringMatcher);
  if (c.allowMethods?.length) out.allow_methods = c.allowMethods.join(",");
  if (c.allowHeaders?.length) out.allow_headers = c.allowHeaders.join(",");
  if (c.exposeHeaders?.length) out.expose_headers = c.exposeHeaders.join(",");
  const maxAge = istioSeconds(c.maxAge);
  if (maxAge !== undefined) out.max_age = String(maxAge);
  if (c.allowCredentials !== undefined) out.allow_credentials = c.allowCredentials;
  out.filter_enabled = { default_value: { numerator: 100, denominator: "HUNDRED" } };
  return typed("envoy.extensions.filters.http.cors.v3.CorsPolicy", out);
}

/** The HTTP filter chain of every outbound HTTP connection manager: fault, cors, router (last). */
export function outboundHttpFilters(): HttpFilter[] {
  return [
    { name: FAULT_FILTER, typed_config: typed("envoy.extensions.filters.http.fault.v3.HTTPFault") },
    { name: CORS_FILTER, typed_config: typed("envoy.extensions.filters.http.cors.v3.Cors") },
    routerFilter(),
  ];
}

export function routerFilter(): HttpFilter {
  return { name: ROUTER_FILTER, typed_config: typed("envoy.extensions.filters.http.router.v3.Router") };
}
