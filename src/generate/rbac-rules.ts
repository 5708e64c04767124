/**
 * One AuthorizationPolicy rule -> one Envoy RBAC Policy, the way istiod's
 * authz model does it (pilot/pkg/security/authz/model/model.go):
 *
 * - every `to` entry is one permission, every `from` entry one principal
 *   (none given: one that matches anything); the `when` conditions are
 *   appended to each of them: destination.* and connection.sni to the
 *   permissions, the rest to the principals;
 * - inside a permission or principal the fields are AND-ed in Istio's order
 *   (hosts, methods, paths, ports; principals, requestPrincipals,
 *   serviceAccounts, trustDomains, namespaces, remoteIpBlocks, ipBlocks), each
 *   field's values OR-ed and its not-values wrapped in a NOT of an OR;
 * - on a TCP filter chain HTTP-only fields (hosts, methods, paths, request
 *   headers, request principals, JWT claims) cannot be evaluated: an ALLOW
 *   rule that uses one is dropped (it allows less), a DENY rule only loses
 *   that field (it denies more). `undefined` is the dropped rule.
 */
import type { AuthorizationRule } from "../model/types";
import type { RbacPermission, RbacPolicy, RbacPrincipal } from "./envoy";
import { permissionFor, principalFor, stringMatcher, regexMatcher } from "./rbac-matchers";

type ValueMatcher = NonNullable<NonNullable<RbacPrincipal["metadata"]>["value"]>;

/** How one attribute's values become a matcher: one value at a time (OR-ed), or all at once (JWT attributes). */
interface Attribute<T> {
  httpOnly: boolean;
  one?: (v: string) => T;
  all?: (values: string[]) => T;
}

interface Entry<T> {
  attr: Attribute<T>;
  values: string[];
  notValues: string[];
}

/** Envoy RBAC actions istiod uses (LOG for AUDIT policies: on TCP chains narrowed like DENY, as istiod does). */
export type RuleAction = "ALLOW" | "DENY" | "LOG";

const or = {
  permission: (rules: RbacPermission[]): RbacPermission => ({ or_rules: { rules } }),
  principal: (ids: RbacPrincipal[]): RbacPrincipal => ({ or_ids: { ids } }),
};

// ------------------------------------------------------------ attributes

const JWT_FILTER = "envoy.filters.http.jwt_authn";
const JWT_PAYLOAD = "payload";

function jwtClaim(claim: string, m: ReturnType<typeof stringMatcher>): RbacPrincipal {
  return { metadata: { filter: JWT_FILTER, path: [{ key: JWT_PAYLOAD }, { key: claim }], value: { string_match: m } } };
}

function orValues(values: ValueMatcher[]): ValueMatcher {
  return values.length === 1 ? values[0]! : { or_match: { value_matchers: values } };
}

/** A JWT claim that may be a string or a list of strings (Istio's MetadataListValueMatcher with extended JWT). */
function jwtClaimList(claims: string[], values: string[]): RbacPrincipal {
  const value = orValues(values.map((v) => ({ string_match: stringMatcher(v) })));
  return {
    metadata: {
      filter: JWT_FILTER,
      path: [JWT_PAYLOAD, ...claims].map((key) => ({ key })),
      value: { or_match: { value_matchers: [{ list_match: { one_of: value } }, value] } },
    },
  };
}

/** request.auth.principal "iss/sub" with wildcards, as istiod splits it (last "/" separates issuer and subject). */
function requestPrincipals(values: string[]): RbacPrincipal {
  const any = regexMatcher(".+");
  const ids = values.map((value): RbacPrincipal => {
    const slash = value.lastIndexOf("/");
    const found = slash >= 0;
    const [iss, sub] = found ? [value.slice(0, slash), value.slice(slash + 1)] : [value, ""];
    let mi = { exact: iss } as ReturnType<typeof stringMatcher>;
    let ms = { exact: sub } as ReturnType<typeof stringMatcher>;
    if (value === "*") [mi, ms] = [any, any];
    else if (value.startsWith("*")) {
      if (found) [mi, ms] = [iss === "*" ? any : { suffix: iss.slice(1) }, { exact: sub }];
      else [mi, ms] = [any, { suffix: value.slice(1) }];
    } else if (value.endsWith("*")) {
      if (found) [mi, ms] = [{ exact: iss }, sub === "*" ? any : { prefix: sub.slice(0, -1) }];
      else [mi, ms] = [{ prefix: value.slice(0, -1) }, any];
    }
    return { and_ids: { ids: [jwtClaim("iss", mi), jwtClaim("sub", ms)] } };
  });
  return ids.length === 1 ? ids[0]! : or.principal(ids);
}

/** "[a]" -> ["a"]; "[a][b]" -> ["a", "b"] (Istio's extractNameInNestedBrackets). */
function bracketNames(s: string): string[] {
  if (/^(\[[^[\]]*\])+$/.test(s)) return [...s.matchAll(/\[([^[\]]*)\]/g)].map((m) => m[1]!);
  return [s.replace(/^\[/, "").replace(/\]$/, "")];
}

const SOURCE_PRINCIPAL: Attribute<RbacPrincipal> = { httpOnly: false, one: principalFor.principal };
const SOURCE_NAMESPACE: Attribute<RbacPrincipal> = { httpOnly: false, one: principalFor.namespace };
const SOURCE_TRUST_DOMAIN: Attribute<RbacPrincipal> = { httpOnly: false, one: principalFor.trustDomain };
const SOURCE_IP: Attribute<RbacPrincipal> = { httpOnly: false, one: principalFor.sourceIp };
const REMOTE_IP: Attribute<RbacPrincipal> = { httpOnly: false, one: principalFor.remoteIp };
const REQUEST_PRINCIPAL: Attribute<RbacPrincipal> = { httpOnly: true, all: requestPrincipals };
const serviceAccount = (ns: string): Attribute<RbacPrincipal> => ({ httpOnly: false, one: (v) => principalFor.serviceAccount(ns, v) });

const HOST: Attribute<RbacPermission> = { httpOnly: true, one: permissionFor.host };
const METHOD: Attribute<RbacPermission> = { httpOnly: true, one: permissionFor.method };
const PATH: Attribute<RbacPermission> = { httpOnly: true, one: permissionFor.path };
const PORT: Attribute<RbacPermission> = { httpOnly: false, one: permissionFor.port };

/** The `when` key's attribute and which side it belongs to; undefined for keys validation already refused. */
function conditionAttribute(
  key: string,
  policyNamespace: string,
): { permission: Attribute<RbacPermission> } | { principal: Attribute<RbacPrincipal> } | undefined {
  if (key === "destination.ip") return { permission: { httpOnly: false, one: permissionFor.destinationIp } };
  if (key === "destination.port") return { permission: PORT };
  if (key === "connection.sni") return { permission: { httpOnly: false, one: permissionFor.sni } };
  if (key.startsWith("experimental.envoy.filters.")) {
    const body = key.slice("experimental.".length).replace(/\]$/, "");
    const open = body.indexOf("[");
    const [filter, field] = [body.slice(0, open), body.slice(open + 1)];
    const value = (v: string): ValueMatcher =>
      v.startsWith("[") && v.endsWith("]") ? { list_match: { one_of: { string_match: stringMatcher(v.slice(1, -1)) } } } : { string_match: stringMatcher(v) };
    return { permission: { httpOnly: false, all: (vs) => ({ metadata: { filter, path: [{ key: field }], value: orValues(vs.map(value)) } }) } };
  }
  if (key === "source.ip") return { principal: SOURCE_IP };
  if (key === "remote.ip") return { principal: REMOTE_IP };
  if (key === "source.namespace") return { principal: SOURCE_NAMESPACE };
  if (key === "source.trustDomain") return { principal: SOURCE_TRUST_DOMAIN };
  if (key === "source.serviceAccount") return { principal: serviceAccount(policyNamespace) };
  if (key === "source.principal") return { principal: SOURCE_PRINCIPAL };
  if (key === "request.auth.principal") return { principal: REQUEST_PRINCIPAL };
  if (key === "request.auth.audiences") return { principal: { httpOnly: true, all: (vs) => jwtClaimList(["aud"], vs) } };
  if (key === "request.auth.presenter") return { principal: { httpOnly: true, all: (vs) => jwtClaimList(["azp"], vs) } };
  if (key.startsWith("request.headers")) {
    const name = bracketNames(key.slice("request.headers".length))[0]!;
    return { principal: { httpOnly: true, one: (v) => principalFor.header(name, v) } };
  }
  if (key.startsWith("request.auth.claims")) {
    const claims = bracketNames(key.slice("request.auth.claims".length));
    return { principal: { httpOnly: true, all: (vs) => jwtClaimList(claims, vs) } };
  }
  return undefined;
}

// ------------------------------------------------------------ model

function entry<T>(attr: Attribute<T>, values: string[] | undefined, notValues: string[] | undefined): Entry<T>[] {
  return (values?.length ?? 0) + (notValues?.length ?? 0) > 0 ? [{ attr, values: values ?? [], notValues: notValues ?? [] }] : [];
}

/** The AND-ed entries of each permission and each principal of one rule. */
function ruleModel(r: AuthorizationRule, policyNamespace: string): { permissions: Entry<RbacPermission>[][]; principals: Entry<RbacPrincipal>[][] } {
  const basePermission: Entry<RbacPermission>[] = [];
  const basePrincipal: Entry<RbacPrincipal>[] = [];
  for (const c of r.when ?? []) {
    const a = conditionAttribute(c.key, policyNamespace);
    if (!a) continue;
    if ("permission" in a) basePermission.push(...entry(a.permission, c.values, c.notValues));
    else basePrincipal.push(...entry(a.principal, c.values, c.notValues));
  }
  const principals = (r.from ?? []).map(({ source: s }) => [
    ...entry(SOURCE_PRINCIPAL, s.principals, s.notPrincipals),
    ...entry(REQUEST_PRINCIPAL, s.requestPrincipals, s.notRequestPrincipals),
    ...entry(serviceAccount(policyNamespace), s.serviceAccounts, s.notServiceAccounts),
    ...entry(SOURCE_TRUST_DOMAIN, s.trustDomains, s.notTrustDomains),
    ...entry(SOURCE_NAMESPACE, s.namespaces, s.notNamespaces),
    ...entry(REMOTE_IP, s.remoteIpBlocks, s.notRemoteIpBlocks),
    ...entry(SOURCE_IP, s.ipBlocks, s.notIpBlocks),
    ...basePrincipal,
  ]);
  const permissions = (r.to ?? []).map(({ operation: o }) => [
    ...entry(HOST, o.hosts, o.notHosts),
    ...entry(METHOD, o.methods, o.notMethods),
    ...entry(PATH, o.paths, o.notPaths),
    ...entry(PORT, o.ports, o.notPorts),
    ...basePermission,
  ]);
  return { permissions: permissions.length > 0 ? permissions : [basePermission], principals: principals.length > 0 ? principals : [basePrincipal] };
}

/** The AND of one permission's or principal's entries; undefined when an ALLOW rule needs an HTTP-only field on a TCP chain (the rule is dropped). */
function build<T extends object>(
  entries: Entry<T>[],
  forTCP: boolean,
  action: RuleAction,
  combine: { or: (xs: T[]) => T; not: (x: T) => T; and: (xs: T[]) => T; any: T },
): T | undefined {
  const and: T[] = [];
  for (const e of entries) {
    if (forTCP && e.attr.httpOnly) {
      if (action === "ALLOW") return undefined;
      continue; // DENY (and LOG): this field is ignored, the rule matches more
    }
    const of = (vs: string[]): T => (e.attr.all ? e.attr.all(vs) : combine.or(vs.map(e.attr.one!)));
    if (e.values.length > 0) and.push(of(e.values));
    if (e.notValues.length > 0) and.push(combine.not(of(e.notValues)));
  }
  return combine.and(and.length > 0 ? and : [combine.any]);
}

/** Every element built, or undefined when one was dropped. */
function all<T>(xs: (T | undefined)[]): T[] | undefined {
  return xs.every((x) => x !== undefined) ? (xs as T[]) : undefined;
}

const PERMISSION = {
  or: or.permission,
  not: (x: RbacPermission): RbacPermission => ({ not_rule: x }),
  and: (rules: RbacPermission[]): RbacPermission => ({ and_rules: { rules } }),
  any: { any: true } as RbacPermission,
};
const PRINCIPAL = {
  or: or.principal,
  not: (x: RbacPrincipal): RbacPrincipal => ({ not_id: x }),
  and: (ids: RbacPrincipal[]): RbacPrincipal => ({ and_ids: { ids } }),
  any: { any: true } as RbacPrincipal,
};

/** The Envoy policy for one rule, or undefined when the rule is dropped on this (TCP) chain. */
export function rulePolicy(r: AuthorizationRule, policyNamespace: string, forTCP: boolean, action: RuleAction): RbacPolicy | undefined {
  const m = ruleModel(r, policyNamespace);
  const permissions = all(m.permissions.map((p) => build(p, forTCP, action, PERMISSION)));
  if (!permissions) return undefined;
  const principals = all(m.principals.map((p) => build(p, forTCP, action, PRINCIPAL)));
  return principals ? { permissions, principals } : undefined;
}

/** istiod's policy for a policy without rules: matches nothing (so ALLOW allows nothing). */
export const MATCH_NEVER: RbacPolicy = { permissions: [{ not_rule: { any: true } }], principals: [{ not_id: { any: true } }] };
