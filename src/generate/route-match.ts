/**
 * HTTPMatchRequest -> Envoy RouteMatch, and whether a match can apply to this
 * proxy at all (sourceLabels, sourceNamespace, gateways, port).
 */
import type { HTTPMatchRequest, StringMatch } from "../model/types";
import type { Client } from "../model/mesh";
import { labelsMatch } from "../model/mesh-hosts";
import { sortedKeys } from "./common";
import type { HeaderMatcher, QueryParameterMatcher, RouteMatch, StringMatcher } from "./envoy";

/** Who is asking: the client's identity, which gateways it represents ("mesh" for sidecars), which port. */
export interface MatchContext {
  client: Client;
  gateways: readonly string[];
  listenerPort: number;
}

/** The parts of an HTTP or L4 match that select clients rather than requests. */
export interface SourceConditions {
  sourceLabels?: Record<string, string>;
  sourceNamespace?: string;
  gateways?: string[];
  port?: number;
}

/**
 * Can this match ever apply to requests from this proxy on this listener?
 * `vsGateways` are the VirtualService's own gateways, used when the match has none.
 */
export function matchApplies(m: SourceConditions, ctx: MatchContext, resolveGateway: (g: string) => string): boolean {
  if (m.sourceLabels && !labelsMatch(m.sourceLabels, ctx.client.labels)) return false;
  if (m.sourceNamespace && m.sourceNamespace !== ctx.client.namespace) return false;
  if (m.port !== undefined && m.port !== ctx.listenerPort) return false;
  if (m.gateways && m.gateways.length > 0 && !m.gateways.map(resolveGateway).some((g) => ctx.gateways.includes(g))) return false;
  return true;
}

/** The Envoy RouteMatch; the path defaults to prefix "/". */
export function routeMatch(m: HTTPMatchRequest | undefined): RouteMatch {
  const out: RouteMatch = {};
  const uri = m?.uri;
  if (uri?.exact !== undefined) out.path = uri.exact;
  else if (uri?.prefix !== undefined) out.prefix = uri.prefix;
  else if (uri?.regex !== undefined) out.safe_regex = { regex: uri.regex };
  else out.prefix = "/";
  if (m?.ignoreUriCase && uri && uri.regex === undefined) out.case_sensitive = false;
  const headers = [
    ...headerMatchers(m?.headers, false),
    ...headerMatchers(m?.withoutHeaders, true),
    ...pseudoHeader(":method", m?.method),
    ...pseudoHeader(":authority", m?.authority),
    ...pseudoHeader(":scheme", m?.scheme),
  ];
  if (headers.length > 0) out.headers = headers;
  const query = sortedKeys(m?.queryParams).map((name) => queryMatcher(name, m!.queryParams![name]!));
  if (query.length > 0) out.query_parameters = query;
  return out;
}

/** Only a path condition of "everything": nothing after such a route can be reached. */
export function isCatchAll(m: HTTPMatchRequest | undefined): boolean {
  if (!m) return true;
  const uri = m.uri;
  const pathAll = !uri || uri.prefix === "/" || uri.regex === "*" || uri.regex === ".*";
  const empty = (r: Record<string, unknown> | undefined) => !r || Object.keys(r).length === 0;
  return pathAll && empty(m.headers) && empty(m.withoutHeaders) && empty(m.queryParams) && !m.method && !m.authority && !m.scheme;
}

export function stringMatcher(s: StringMatch): StringMatcher {
  if (s.exact !== undefined) return { exact: s.exact };
  if (s.prefix !== undefined) return { prefix: s.prefix };
  if (s.regex !== undefined) return { safe_regex: { regex: s.regex } };
  return { safe_regex: { regex: ".*" } };
}

function headerMatchers(headers: Record<string, StringMatch> | undefined, invert: boolean): HeaderMatcher[] {
  return sortedKeys(headers).map((name) => {
    const s = headers![name]!;
    const h: HeaderMatcher = { name: name.toLowerCase() };
    // An empty match object means "header present" (Istio).
    if (s.exact === undefined && s.prefix === undefined && s.regex === undefined) h.present_match = true;
    else h.string_match = stringMatcher(s);
    if (invert) {
      h.invert_match = true;
      // As istiod: an inverted value match (withoutHeaders) also matches a request without the header,
      // which counts as the empty value. Not with present_match, which Envoy refuses to combine with it.
      if (!h.present_match) h.treat_missing_header_as_empty = true;
    }
    return h;
  });
}

function pseudoHeader(name: string, s: StringMatch | undefined): HeaderMatcher[] {
  return s ? [{ name, string_match: stringMatcher(s) }] : [];
}

function queryMatcher(name: string, s: StringMatch): QueryParameterMatcher {
  if (s.exact === undefined && s.prefix === undefined && s.regex === undefined) return { name, present_match: true };
  return { name, string_match: stringMatcher(s) };
}
