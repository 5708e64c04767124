/**
 * VirtualService HTTP routes: matches, destinations, and the actions a route
 * may take (route, redirect, directResponse, delegate) with their options.
 * Rules follow Istio's validateHTTPRoute; where Envoy supports less than Istio
 * accepts (redirect codes), the Envoy limit wins so nothing is NACKed.
 */
import type {
  CorsPolicy,
  HTTPDirectResponse,
  HTTPFaultInjection,
  HTTPMatchRequest,
  HTTPMirrorPolicy,
  HTTPRedirect,
  HTTPRetry,
  HTTPRewrite,
  HTTPRoute,
  HTTPRouteDestination,
  Percent,
} from "../types";
import { at, type Ctx } from "./ctx";
import { duration } from "./duration";
import { checkHeaderName, checkMatchHeaderName, checkPort, isIstioLabel } from "./names";
import { absentHeaderMatch, authorityRewrites, destination, gatewayNames, headers, labelMap, percent, portNumber, stringMatch, uriMatch } from "./common";
import { checkRE2 } from "./regex";
import { bool, checked, enumOf, int, list, num, object, record, str, type Reader } from "./read";

function headerNameKeys<T>(inner: Reader<T>): Reader<Record<string, T>> {
  return checked(record(inner), (m, path, ctx) => {
    for (const k of Object.keys(m)) {
      const e = checkMatchHeaderName(k);
      if (e) ctx.error(at(path, k), e);
    }
  });
}

const sourceNamespace: Reader<string> = checked(str, (ns, path, ctx) => {
  if (!isIstioLabel(ns)) ctx.error(path, `sourceNamespace match ${ns} is invalid`);
});

/** A match port: 0 means "any port" (proto3's unset), so it is read as absent. */
export const matchPort: Reader<number> = (v, path, ctx) => {
  const n = int(v, path, ctx);
  if (n === undefined || n === 0) return undefined;
  const e = checkPort(n);
  if (e) ctx.error(path, e);
  return n;
};

export const httpMatch = object<HTTPMatchRequest>(
  {
    name: str,
    uri: uriMatch,
    scheme: stringMatch,
    method: stringMatch,
    authority: stringMatch,
    headers: headerNameKeys(stringMatch),
    withoutHeaders: headerNameKeys(absentHeaderMatch),
    queryParams: record(stringMatch),
    port: matchPort,
    sourceLabels: labelMap,
    sourceNamespace,
    gateways: gatewayNames,
    ignoreUriCase: bool,
  },
  { ignored: ["statPrefix"] },
);

const weight: Reader<number> = checked(int, (w, path, ctx) => {
  if (w < 0) ctx.error(path, `weight ${w} < 0`);
});

export const httpRouteDestination = object<HTTPRouteDestination>(
  { destination, weight, headers },
  {
    check: (d, path, ctx) => {
      if (!d.destination) ctx.error(at(path, "destination"), "destination is required");
    },
  },
);

/** Several destinations share traffic by weight; all-zero weights send nothing anywhere. */
export function checkTotalWeight(routes: { weight?: number }[] | undefined, path: string, ctx: Ctx): void {
  // A negative weight is already an error of its own.
  if (!routes || routes.length < 2 || routes.some((r) => (r.weight ?? 0) < 0)) return;
  const total = routes.reduce((sum, r) => sum + (r.weight ?? 0), 0);
  if (total === 0) ctx.error(path, "total destination weight = 0");
}

const RETRY_ON = new Set([
  "5xx",
  "gateway-error",
  "reset",
  "reset-before-request",
  "connect-failure",
  "envoy-ratelimited",
  "retriable-4xx",
  "refused-stream",
  "retriable-status-codes",
  "retriable-headers",
  "http3-post-connect-failure",
  "cancelled",
  "deadline-exceeded",
  "internal",
  "resource-exhausted",
  "unavailable",
]);

// The status codes Go's net/http names (http.StatusText): Istio accepts exactly these in retryOn.
const KNOWN_STATUS = new Set([
  100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407, 408,
  409, 410, 411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 423, 424, 425, 426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
]);

const retryOn: Reader<string> = checked(str, (value, path, ctx) => {
  for (const token of value.split(",")) {
    const status = /^\d+$/.test(token) && KNOWN_STATUS.has(Number(token));
    if (!status && !RETRY_ON.has(token)) ctx.error(path, `"${token}" is not a valid retryOn policy`);
  }
});

const retries = object<HTTPRetry>(
  { attempts: int, perTryTimeout: duration(), retryOn, retryRemoteLocalities: bool, backoff: duration(), retryIgnorePreviousHosts: bool },
  {
    check: (r, path, ctx) => {
      if ((r.attempts ?? 0) < 0) ctx.error(at(path, "attempts"), "attempts cannot be negative");
      if (!r.attempts && (r.perTryTimeout !== undefined || r.retryOn !== undefined || r.retryRemoteLocalities !== undefined)) {
        ctx.error(path, "http retry policy configured when attempts are set to 0 (disabled)");
      }
    },
  },
);

const REDIRECT_CODES = [301, 302, 303, 307, 308];

const redirect = object<HTTPRedirect>(
  {
    uri: str,
    authority: str,
    port: portNumber,
    derivePort: enumOf("FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT"),
    scheme: str,
    redirectCode: int,
    prefixRewrite: str,
  },
  {
    check: (r, path, ctx) => {
      if (r.uri && r.prefixRewrite) ctx.error(path, "redirect may only specify one of uri or prefix_rewrite");
      if (!r.uri && !r.prefixRewrite && !r.authority && !r.scheme && r.port === undefined && r.derivePort === undefined) {
        ctx.error(path, "redirect must specify URI, authority, scheme, or port");
      }
      if (r.port !== undefined && r.derivePort !== undefined) ctx.error(path, "only one of port or derivePort may be set");
      if (r.redirectCode !== undefined && !REDIRECT_CODES.includes(r.redirectCode)) {
        ctx.error(at(path, "redirectCode"), `redirect code ${r.redirectCode} is not supported; expected one of ${REDIRECT_CODES.join(", ")}`);
      }
      if (r.scheme !== undefined && r.scheme !== "http" && r.scheme !== "https") {
        ctx.error(at(path, "scheme"), 'invalid redirect scheme, must be "http" or "https"');
      }
    },
  },
);

const KB = 1024;

const directResponse = object<HTTPDirectResponse>(
  { status: int, body: object<NonNullable<HTTPDirectResponse["body"]>>({ string: str, bytes: str }) },
  {
    check: (r, path, ctx) => {
      if (r.status === undefined) ctx.error(at(path, "status"), "status is required");
      else if (r.status < 200 || r.status > 599) ctx.error(at(path, "status"), `HTTP status ${r.status} is not in range 200-599`);
      if (r.body?.string !== undefined && r.body.bytes !== undefined) ctx.error(at(path, "body"), "only one of string or bytes may be set");
      const size = (r.body?.string ?? r.body?.bytes ?? "").length;
      if (size > KB * KB) ctx.error(at(path, "body"), "large direct_responses may impact control plane performance, must be less than 1MB");
      else if (size > 100 * KB) ctx.warn(at(path, "body"), "large direct_responses may impact control plane performance");
    },
  },
);

type RegexRewrite = NonNullable<HTTPRewrite["uriRegexRewrite"]>;

const uriRegexRewrite = object<RegexRewrite>(
  { match: str, rewrite: str },
  {
    check: (r, path, ctx) => {
      if (!r.match || !r.rewrite) ctx.error(path, "UriRegexRewrite requires both Rewrite and Match fields to be specified");
      else {
        const e = checkRE2(r.match);
        if (e) ctx.error(at(path, "match"), e);
      }
    },
  },
);

const rewrite = object<HTTPRewrite>(
  { uri: str, authority: str, uriRegexRewrite },
  {
    check: (r, path, ctx) => {
      if (r.uri && r.uriRegexRewrite) ctx.error(path, "rewrite may only contain one of URI or UriRegexRewrite");
      if (!r.uri && !r.uriRegexRewrite && !r.authority) {
        ctx.error(path, "rewrite must specify at least one of URI, UriRegexRewrite, or authority. Only one of URI or UriRegexRewrite may be specified");
      }
    },
  },
);

const GRPC_CODES = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
];

type Abort = NonNullable<HTTPFaultInjection["abort"]>;
type Delay = NonNullable<HTTPFaultInjection["delay"]>;

// Istio refuses these: known to the API, not implemented by istiod.
function unsupported(what: string): Reader<never> {
  return (v, path, ctx) => {
    if (v !== undefined && v !== null) ctx.error(path, `${what} not supported yet`);
    return undefined;
  };
}

// An abort without httpStatus or grpcStatus is accepted and left out of the route (as istiod does).
const abort = object<Abort & { http2Error?: never }>(
  { httpStatus: int, grpcStatus: str, percentage: percent, http2Error: unsupported("HTTP/2 abort fault injection") },
  {
    check: (a, path, ctx) => {
      if (a.httpStatus !== undefined && a.grpcStatus !== undefined) ctx.error(path, "only one of httpStatus or grpcStatus may be set");
      // Envoy's abort codes stop at 599 (Istio's check lets 600 through).
      if (a.httpStatus !== undefined && (a.httpStatus < 200 || a.httpStatus > 599)) {
        ctx.error(at(path, "httpStatus"), `HTTP status ${a.httpStatus} is not in range 200-599`);
      }
      if (a.grpcStatus !== undefined && !GRPC_CODES.includes(a.grpcStatus)) {
        ctx.error(at(path, "grpcStatus"), `gRPC status "${a.grpcStatus}" is not supported; expected a code name such as NOT_FOUND`);
      }
    },
  },
);

// A delay without fixedDelay is accepted and left out of the route (as istiod does);
// `percent` is the deprecated integer form of `percentage`, unchecked by Istio.
const delay = object<Delay & { exponentialDelay?: string }>({
  fixedDelay: duration(),
  percentage: percent,
  percent: int,
  exponentialDelay: checked(duration(), (_v, path, ctx) => ctx.error(path, "exponentialDelay not supported yet")),
});

const fault = object<HTTPFaultInjection>(
  { delay, abort },
  {
    check: (f, path, ctx) => {
      if (!f.delay && !f.abort) ctx.error(path, "HTTP fault injection must have an abort and/or a delay");
    },
  },
);

const CORS_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", "*"]);

const corsOrigin: Reader<NonNullable<CorsPolicy["allowOrigins"]>[number]> = checked(stringMatch, (m, path, ctx) => {
  const value = m.exact ?? m.prefix ?? m.regex ?? "";
  if (value === "") ctx.error(path, `'${value}' is not a valid match type for CORS allow origins`);
});

const corsHeaderNames: Reader<string[]> = checked(list(str), (names, path, ctx) => {
  names.forEach((n, i) => {
    const e = n === "*" ? undefined : checkHeaderName(n);
    if (e) ctx.error(`${path}[${i}]`, e);
  });
});

const corsPolicy = object<CorsPolicy>(
  {
    allowOrigins: list(corsOrigin),
    allowMethods: checked(list(str), (methods, path, ctx) => {
      methods.forEach((m, i) => {
        if (!CORS_METHODS.has(m)) ctx.error(`${path}[${i}]`, `"${m}" is not a supported HTTP method`);
      });
    }),
    allowHeaders: corsHeaderNames,
    exposeHeaders: corsHeaderNames,
    maxAge: duration({ seconds: true }),
    allowCredentials: bool,
  },
  { ignored: ["allowOrigin", "unmatchedPreflights"] },
);

function mirrorPercent(what: string): Reader<Percent> {
  return object<Percent>(
    { value: num },
    {
      check: (p, path, ctx) => {
        const v = p.value ?? 0;
        if (v > 100) ctx.error(at(path, "value"), `${what} must have a max value of 100 (it has ${v})`);
        if (v < 0) ctx.error(at(path, "value"), `${what} must have a min value of 0 (it has ${v})`);
      },
    },
  );
}

const mirrorPolicy = object<HTTPMirrorPolicy>(
  { destination, percentage: mirrorPercent("mirror percentage") },
  {
    check: (m, path, ctx) => {
      if (!m.destination) ctx.error(at(path, "destination"), "destination is required for mirrors");
    },
  },
);

const deprecatedMirrorPercent: Reader<number> = checked(int, (v, path, ctx) => {
  if (v > 100) ctx.error(path, `mirror_percent must have a max value of 100 (it has ${v})`);
  else if (v < 0) ctx.error(path, `mirror_percent must have a min value of 0 (it has ${v})`);
  ctx.warn(path, 'using deprecated setting "mirrorPercent", use "mirrorPercentage" instead');
});

const delegate = object<NonNullable<HTTPRoute["delegate"]>>(
  { name: str, namespace: str },
  {
    check: (d, path, ctx) => {
      if (!d.name) ctx.error(at(path, "name"), "delegate name is required");
      else if (!isIstioLabel(d.name)) ctx.error(at(path, "name"), `invalid delegate name "${d.name}"`);
      if (d.namespace !== undefined && !isIstioLabel(d.namespace)) ctx.error(at(path, "namespace"), `invalid delegate namespace "${d.namespace}"`);
    },
  },
);

/** Which of route/redirect/directResponse/delegate a rule uses: exactly one, with compatible options. */
function checkActions(r: Partial<HTTPRoute>, path: string, ctx: Ctx): void {
  if (r.delegate) {
    // A root rule hands the request to another VirtualService; it may not also act itself.
    if (r.route) ctx.error(at(path, "route"), "root HTTP route must not specify route");
    if (r.redirect) ctx.error(at(path, "redirect"), "root HTTP route must not specify redirect");
    if (r.directResponse) ctx.error(at(path, "directResponse"), "root HTTP route must not specify directResponse");
    return;
  }
  const hasRoute = (r.route?.length ?? 0) > 0;
  if (r.redirect) {
    if (hasRoute) ctx.error(path, "HTTP route cannot contain both route and redirect");
    if (r.fault) ctx.error(path, "HTTP route cannot contain both fault and redirect");
    if (r.rewrite) ctx.error(path, "HTTP route rule cannot contain both rewrite and redirect");
    if (r.directResponse) ctx.error(path, "HTTP route rule cannot contain both direct_response and redirect");
  } else if (r.directResponse) {
    if (hasRoute) ctx.error(path, "HTTP route cannot contain both route and direct_response");
    if (r.fault) ctx.error(path, "HTTP route cannot contain both fault and direct_response");
    if (r.rewrite) ctx.error(path, "HTTP route rule cannot contain both rewrite and direct_response");
  } else if (!hasRoute) {
    ctx.error(path, "HTTP route, redirect or direct_response is required");
  }
  if (r.mirror && (r.mirrors?.length ?? 0) > 0) ctx.error(path, "HTTP route cannot contain both mirror and mirrors");
}

/** A redirect's prefixRewrite replaces the matched prefix, so every URI match must be a prefix match. */
function checkRedirectPrefix(r: Partial<HTTPRoute>, path: string, ctx: Ctx): void {
  if (!r.redirect?.prefixRewrite || r.redirect.uri) return;
  if (r.match?.some((m) => m.uri !== undefined && m.uri.prefix === undefined)) {
    ctx.error(at(path, "redirect"), "redirect prefix_rewrite requires all URI matches to use prefix match type");
  }
}

export const httpRoute = object<HTTPRoute>(
  {
    name: str,
    match: list(httpMatch),
    route: list(httpRouteDestination),
    redirect,
    directResponse,
    delegate,
    rewrite,
    timeout: duration(),
    retries,
    fault,
    mirror: destination,
    mirrorPercentage: mirrorPercent("mirror_percentage"),
    mirrorPercent: deprecatedMirrorPercent,
    mirrors: list(mirrorPolicy),
    corsPolicy,
    headers,
  },
  {
    check: (r, path, ctx) => {
      checkActions(r, path, ctx);
      checkRedirectPrefix(r, path, ctx);
      checkTotalWeight(r.route, at(path, "route"), ctx);
      const authorities = authorityRewrites(r.rewrite?.authority, r.headers);
      if (authorities.length > 1) {
        ctx.error(path, `authority header cannot be set multiple times: have "${authorities[0]}", attempting to set "${authorities[1]}"`);
      }
    },
  },
);
