/**
 * The leaf matchers of Istio's RBAC translation (pilot/pkg/security/authz/matcher
 * and model/generator.go), one function per AuthorizationPolicy value kind.
 * Values use Istio's wildcard forms: "*" (present / any), "*suffix",
 * "prefix*", or an exact string.
 */
import type { CidrRange, HeaderMatcher, RbacPermission, RbacPrincipal, StringMatcher } from "./envoy";
import { typed } from "./common";

const SPIFFE_PREFIX = "spiffe://";

export function regexMatcher(regex: string): StringMatcher {
  return { safe_regex: { regex } };
}

/** RE2 quoting of a literal (Go's regexp.QuoteMeta). */
export function quoteMeta(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$]/g, "\\$&");
}

/** Istio's StringMatcherWithPrefix: `*` is presence (".+"), the prefix is not added to a suffix match but folded into a regex. */
export function stringMatcher(v: string, prefix = ""): StringMatcher {
  if (v === "*") return regexMatcher(".+");
  if (v.startsWith("*")) return prefix === "" ? { suffix: v.slice(1) } : regexMatcher(`${prefix}.*${quoteMeta(v.slice(1))}`);
  if (v.endsWith("*")) return { prefix: prefix + v.slice(0, -1) };
  return { exact: prefix + v };
}

/** Istio's HeaderMatcher (methods, request headers): `*` is presence. */
export function headerMatcher(name: string, v: string, ignoreCase = false): HeaderMatcher {
  if (v === "*") return { name, present_match: true };
  const ic = ignoreCase ? { ignore_case: true } : {};
  if (v.startsWith("*")) return { name, string_match: { suffix: v.slice(1), ...ic } };
  if (v.endsWith("*")) return { name, string_match: { prefix: v.slice(0, -1), ...ic } };
  return { name, string_match: { exact: v, ...ic } };
}

/** Istio's AddrStrToCidrRange: "10.0.0.1" is a /32 (/128 for IPv6); the address is kept as written. */
export function cidrRange(v: string): CidrRange {
  const slash = v.indexOf("/");
  if (slash < 0) return { address_prefix: v, prefix_len: v.includes(":") ? 128 : 32 };
  return { address_prefix: v.slice(0, slash), prefix_len: Number(v.slice(slash + 1)) };
}

/** Peer identity (the SAN of the client certificate), as istiod matches it on sidecars and gateways. */
function authenticated(m: StringMatcher): RbacPrincipal {
  return { authenticated: { principal_name: m } };
}

export const principalFor = {
  /** `principals`/source.principal: "cluster.local/ns/foo/sa/bar" matched as its SPIFFE URI. */
  principal: (v: string): RbacPrincipal => authenticated(stringMatcher(v, SPIFFE_PREFIX)),
  /** `namespaces`/source.namespace: any identity in the namespace (`*` becomes `.*`). */
  namespace: (v: string): RbacPrincipal => authenticated(regexMatcher(`.*/ns/${v.split("*").map(quoteMeta).join(".*")}/.*`)),
  /** `serviceAccounts`/source.serviceAccount: "sa" (the policy's namespace) or "ns/sa". */
  serviceAccount: (policyNamespace: string, v: string): RbacPrincipal => {
    const slash = v.indexOf("/");
    const [ns, sa] = slash < 0 ? [policyNamespace, v] : [v.slice(0, slash), v.slice(slash + 1)];
    return authenticated(regexMatcher(`spiffe://.+/ns/${quoteMeta(ns)}/(.+/|)sa/${quoteMeta(sa)}(/.+)?`));
  },
  /** `trustDomains`/source.trustDomain. */
  trustDomain: (v: string): RbacPrincipal => {
    if (v === "*") return authenticated({ prefix: SPIFFE_PREFIX });
    if (!v.includes("*")) return authenticated({ prefix: `${SPIFFE_PREFIX}${v}/` });
    const star = v.indexOf("*");
    return authenticated(regexMatcher(`spiffe://${quoteMeta(v.slice(0, star))}[^/]*${quoteMeta(v.slice(star + 1))}/.*`));
  },
  /** `ipBlocks`/source.ip: the address of the connection's peer. */
  sourceIp: (v: string): RbacPrincipal => ({ direct_remote_ip: cidrRange(v) }),
  /** `remoteIpBlocks`/remote.ip: the original client (X-Forwarded-For or PROXY protocol). */
  remoteIp: (v: string): RbacPrincipal => ({ remote_ip: cidrRange(v) }),
  /** request.headers[name]. */
  header: (name: string, v: string): RbacPrincipal => ({ header: headerMatcher(name, v) }),
};

export const permissionFor = {
  /** `hosts`: the :authority header, case-insensitive. */
  host: (v: string): RbacPermission => ({ header: headerMatcher(":authority", v, true) }),
  method: (v: string): RbacPermission => ({ header: headerMatcher(":method", v) }),
  /** `paths`: the path without query; `{*}`/`{**}` templates use Envoy's uri_template matcher. */
  path: (v: string): RbacPermission => {
    if (v.includes("{*}") || v.includes("{**}")) {
      const template = v.replaceAll("{**}", "**").replaceAll("{*}", "*");
      return {
        uri_template: {
          name: "uri-template",
          typed_config: typed("envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig", { path_template: template }),
        },
      };
    }
    return { url_path: { path: stringMatcher(v) } };
  },
  port: (v: string): RbacPermission => ({ destination_port: Number(v) }),
  destinationIp: (v: string): RbacPermission => ({ destination_ip: cidrRange(v) }),
  sni: (v: string): RbacPermission => ({ requested_server_name: stringMatcher(v) }),
};
