/**
 * The RBAC filters a proxy's inbound (sidecar) or gateway filter chains get
 * from the AuthorizationPolicies that select it, as istiod's authz builder
 * makes them (pilot/pkg/security/authz/builder):
 *
 * - one filter per action, in istiod's order: CUSTOM (unsupported here; see
 *   below), AUDIT (action LOG), DENY, then ALLOW, so a DENY match wins over any ALLOW;
 * - the rules of all policies of one action go into that filter, named
 *   `ns[<namespace>]-policy[<name>]-rule[<index>]`; a policy without rules
 *   becomes one rule that never matches, so an ALLOW policy with no rules
 *   allows nothing, and any ALLOW policy at all makes the ALLOW filter deny
 *   every request no rule allows (Istio's implicit deny);
 * - HTTP chains get `envoy.filters.http.rbac` (placed before the router by
 *   the caller); TCP chains get `envoy.filters.network.rbac` (stat prefix
 *   `tcp.`, placed before tcp_proxy), where rules with HTTP-only fields are
 *   dropped (ALLOW) or narrowed (DENY) by rbac-rules.ts;
 * - policies annotated `istio.io/dry-run: "true"` go into shadow rules
 *   (stat prefix istio_dry_run_allow_ / istio_dry_run_deny_) and enforce nothing;
 * - CUSTOM needs an ext_authz provider, which mini-pilot does not have: as
 *   istiod does for a provider it cannot use, the requests those rules match
 *   are denied (policy names end `-deny-due-to-bad-CUSTOM-action`);
 * - AUDIT: an RBAC filter with action LOG, as istiod builds it: it never
 *   blocks, it marks the requests its rules match (dynamic metadata
 *   `access_log_hint`) for an access logger that reads the mark; mini-pilot's
 *   file access log does not filter on it (validation says so).
 *
 * No policy selecting the proxy: no filter at all, so configs without
 * AuthorizationPolicies are unchanged.
 */
import type { Mesh } from "../model/mesh";
import { authorizationPoliciesFor } from "../model/mesh-authz";
import type { ProxyView } from "../model/proxy";
import type { AuthorizationPolicy } from "../model/types";
import { typed } from "./common";
import type { HttpFilter, HttpRbac, NetworkFilter, NetworkRbac, RbacPolicy, RbacRules } from "./envoy";
import { MATCH_NEVER, rulePolicy, type RuleAction } from "./rbac-rules";

export const HTTP_RBAC_FILTER = "envoy.filters.http.rbac";
export const NETWORK_RBAC_FILTER = "envoy.filters.network.rbac";
const TCP_STAT_PREFIX = "tcp.";
const DRY_RUN_ANNOTATION = "istio.io/dry-run";
const EXT_AUTHZ_PREFIX = "istio-ext-authz";
const BAD_CUSTOM_SUFFIX = "-deny-due-to-bad-CUSTOM-action";

/** What one proxy's chains get: HTTP filters to put before the router, network filters to put before tcp_proxy. */
export interface AuthorizationFilters {
  http: HttpFilter[];
  network: NetworkFilter[];
}

export const NO_AUTHORIZATION: AuthorizationFilters = { http: [], network: [] };

/** Go's strconv.ParseBool, which istiod uses for the dry-run annotation (anything else: not dry-run). */
function isDryRun(p: AuthorizationPolicy): boolean {
  return ["1", "t", "T", "TRUE", "true", "True"].includes(p.metadata.annotations?.[DRY_RUN_ANNOTATION] ?? "");
}

function policyName(p: AuthorizationPolicy, i: number, provider?: string): string {
  const prefix = provider === undefined ? "" : provider ? `${EXT_AUTHZ_PREFIX}-${provider}-` : `${EXT_AUTHZ_PREFIX}-`;
  return `${prefix}ns[${p.metadata.namespace}]-policy[${p.metadata.name}]-rule[${i}]`;
}

interface Built {
  rules?: RbacRules;
  shadow?: RbacRules;
}

/** istiod's Builder.build for one action: enforced and dry-run rule sets (each undefined when no policy went there). */
function buildRules(policies: AuthorizationPolicy[], action: RuleAction, forTCP: boolean, custom = false): Built | undefined {
  if (policies.length === 0) return undefined;
  const enforced: Record<string, RbacPolicy> = {};
  const shadow: Record<string, RbacPolicy> = {};
  let hasEnforced = false;
  let hasShadow = false;
  for (const p of policies) {
    const dry = !custom && isDryRun(p);
    const into = dry ? shadow : enforced;
    if (dry) hasShadow = true;
    else hasEnforced = true;
    const provider = custom ? (p.spec.provider?.name ?? "") : undefined;
    const suffix = custom ? BAD_CUSTOM_SUFFIX : "";
    const rules = p.spec.rules ?? [];
    rules.forEach((r, i) => {
      const generated = rulePolicy(r, p.metadata.namespace, forTCP, action);
      if (generated) into[policyName(p, i, provider) + suffix] = generated;
    });
    if (rules.length === 0) into[policyName(p, 0, provider) + suffix] = MATCH_NEVER;
  }
  const sorted = (r: Record<string, RbacPolicy>): Record<string, RbacPolicy> => Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : 1)));
  const out: Built = {};
  if (hasEnforced) out.rules = { action, policies: sorted(enforced) };
  if (hasShadow) out.shadow = { action, policies: sorted(shadow) };
  return out;
}

function shadowPrefix(b: Built): string | undefined {
  if (!b.shadow || b.shadow.action === "LOG") return undefined;
  return b.shadow.action === "ALLOW" ? "istio_dry_run_allow_" : "istio_dry_run_deny_";
}

function httpFilter(b: Built): HttpFilter {
  const cfg: HttpRbac = {};
  if (b.rules) cfg.rules = b.rules;
  if (b.shadow) {
    cfg.shadow_rules = b.shadow;
    const prefix = shadowPrefix(b);
    if (prefix) cfg.shadow_rules_stat_prefix = prefix;
  }
  return { name: HTTP_RBAC_FILTER, typed_config: typed("envoy.extensions.filters.http.rbac.v3.RBAC", cfg) };
}

function networkFilter(b: Built): NetworkFilter {
  const cfg: NetworkRbac = {};
  if (b.rules) cfg.rules = b.rules;
  cfg.stat_prefix = TCP_STAT_PREFIX;
  if (b.shadow) {
    cfg.shadow_rules = b.shadow;
    const prefix = shadowPrefix(b);
    if (prefix) cfg.shadow_rules_stat_prefix = prefix;
  }
  return { name: NETWORK_RBAC_FILTER, typed_config: typed("envoy.extensions.filters.network.rbac.v3.RBAC", cfg) };
}

/** Custom, audit, deny, allow: the rule sets of one chain kind, in filter order (istiod's build). */
function chainRules(p: ReturnType<typeof authorizationPoliciesFor>, forTCP: boolean): Built[] {
  return [
    buildRules(p.custom, "DENY", forTCP, true),
    buildRules(p.audit, "LOG", forTCP),
    buildRules(p.deny, "DENY", forTCP),
    buildRules(p.allow, "ALLOW", forTCP),
  ].filter((b): b is Built => b !== undefined);
}

/** The RBAC filters for every inbound/gateway chain of `proxy`; empty when no policy selects it. */
export function authorizationFilters(mesh: Mesh, proxy: ProxyView): AuthorizationFilters {
  if (mesh.authorizationPolicies.size === 0) return NO_AUTHORIZATION;
  const policies = authorizationPoliciesFor(mesh, { namespace: proxy.namespace, labels: proxy.labels });
  if (policies.allow.length + policies.deny.length + policies.audit.length + policies.custom.length === 0) return NO_AUTHORIZATION;
  return { http: chainRules(policies, false).map(httpFilter), network: chainRules(policies, true).map(networkFilter) };
}
