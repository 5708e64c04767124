/**
 * Which DestinationRule and which VirtualService apply, seen from one client
 * (its namespace and labels): Istio's lookup order, as pure functions over the
 * mesh.
 */
import type { DestinationRule, Subset } from "./types";
import type { Mesh, MeshDestinationRule, MeshService, MeshVirtualService, ResolvedDestinationRule } from "./mesh-types";
import { hostMatches, hostSpecificity, labelsMatch, visibleTo } from "./mesh-hosts";

export interface Client {
  namespace: string;
  labels: Record<string, string>;
}

/**
 * The DestinationRule for `service` as seen by `client`: the client's own
 * namespace first (rules with a workloadSelector only there, and only when it
 * matches), then the service's namespace, then the root namespace; within a
 * namespace the most specific host wins and rules for the same host merge.
 */
export function destinationRuleFor(mesh: Mesh, client: Client, service: MeshService): ResolvedDestinationRule | undefined {
  const order = [client.namespace, service.namespace, mesh.options.rootNamespace];
  const tried = new Set<string>();
  const index = ruleIndex(mesh);
  for (const ns of order) {
    if (tried.has(ns)) continue;
    tried.add(ns);
    const own = ns === client.namespace;
    const rules = index.get(ns);
    if (!rules) continue;
    const applies = (d: MeshDestinationRule) =>
      visibleTo(d.exportTo, client.namespace) &&
      (d.rule.spec.workloadSelector ? own && labelsMatch(d.rule.spec.workloadSelector.matchLabels, client.labels) : true);
    const candidates = [
      ...(rules.exact.get(service.host) ?? []).filter(applies),
      ...rules.wildcard.filter((d) => hostMatches(d.host, service.host) && applies(d)),
    ];
    if (candidates.length > 0) return merge(mostSpecific(candidates));
  }
  return undefined;
}

/** A namespace's rules split by host kind: exact hosts by name, wildcard hosts to scan; each list oldest first. */
interface NamespaceRules {
  exact: Map<string, MeshDestinationRule[]>;
  wildcard: MeshDestinationRule[];
}

/**
 * Every generation asks for the rule of every visible service; scanning each
 * namespace's rules for each service is quadratic, so the lookup goes through
 * an index built once per mesh (the mesh is immutable).
 */
const ruleIndexes = new WeakMap<Mesh, Map<string, NamespaceRules>>();

function ruleIndex(mesh: Mesh): Map<string, NamespaceRules> {
  let index = ruleIndexes.get(mesh);
  if (index) return index;
  index = new Map();
  for (const [ns, rules] of mesh.destinationRulesByNamespace) {
    const entry: NamespaceRules = { exact: new Map(), wildcard: [] };
    for (const d of rules) {
      if (d.host.startsWith("*")) entry.wildcard.push(d);
      else entry.exact.set(d.host, [...(entry.exact.get(d.host) ?? []), d]);
    }
    index.set(ns, entry);
  }
  ruleIndexes.set(mesh, index);
  return index;
}

function mostSpecific(rules: MeshDestinationRule[]): MeshDestinationRule[] {
  const best = Math.max(...rules.map((r) => hostSpecificity(r.host)));
  // Rules with a workloadSelector are more specific than namespace-wide ones.
  const top = rules.filter((r) => hostSpecificity(r.host) === best);
  const selected = top.filter((r) => r.rule.spec.workloadSelector);
  return selected.length > 0 ? selected : top;
}

/** Istio merges same-host rules: subsets accumulate (first name wins), the first traffic policy wins. */
function merge(rules: MeshDestinationRule[]): ResolvedDestinationRule {
  const subsets: Subset[] = [];
  const seen = new Set<string>();
  let trafficPolicy: DestinationRule["spec"]["trafficPolicy"];
  for (const r of rules) {
    trafficPolicy ??= r.rule.spec.trafficPolicy;
    for (const s of r.rule.spec.subsets ?? []) {
      if (seen.has(s.name)) continue;
      seen.add(s.name);
      subsets.push(s);
    }
  }
  const out: ResolvedDestinationRule = { sources: rules.map((r) => r.rule), subsets };
  if (trafficPolicy) out.trafficPolicy = trafficPolicy;
  return out;
}

/** Services the client may reach: exported to its namespace; one per host (first by namespace). */
export function visibleServices(mesh: Mesh, namespace: string): MeshService[] {
  const out: MeshService[] = [];
  for (const [, list] of mesh.servicesByHost) {
    const own = list.find((s) => s.namespace === namespace && visibleTo(s.exportTo, namespace));
    const svc = own ?? list.find((s) => visibleTo(s.exportTo, namespace));
    if (svc) out.push(svc);
  }
  return out;
}

/** Does the VirtualService bind to `gateway` ("mesh" for sidecars)? */
export function bindsTo(vs: MeshVirtualService, gateway: string): boolean {
  return vs.gateways.includes(gateway);
}

/**
 * For each service, the VirtualService that routes it for a sidecar in
 * `namespace`: exported to that namespace, bound to "mesh"; an exact host beats
 * a wildcard, then the oldest wins (mesh.virtualServices is oldest first).
 */
export function sidecarVirtualServices(mesh: Mesh, namespace: string, services: MeshService[]): Map<string, MeshVirtualService> {
  const candidates = mesh.virtualServices.filter((v) => bindsTo(v, "mesh") && visibleTo(v.exportTo, namespace));
  return bindVirtualServices(candidates, services);
}

export function bindVirtualServices(candidates: MeshVirtualService[], services: MeshService[]): Map<string, MeshVirtualService> {
  // Exact hosts through an index; only wildcard hosts need a scan per service.
  const exact = new Map<string, MeshVirtualService>();
  const wildcard: { host: string; vs: MeshVirtualService }[] = [];
  for (const vs of candidates) {
    for (const h of vs.hosts) {
      if (h.startsWith("*")) wildcard.push({ host: h, vs });
      else if (!exact.has(h)) exact.set(h, vs); // candidates are oldest first
    }
  }
  const out = new Map<string, MeshVirtualService>();
  for (const svc of services) {
    const hit = exact.get(svc.host);
    if (hit) {
      out.set(svc.host, hit);
      continue;
    }
    let best: { vs: MeshVirtualService; score: number } | undefined;
    for (const w of wildcard) {
      if (!hostMatches(w.host, svc.host)) continue;
      const score = hostSpecificity(w.host);
      if (!best || score > best.score) best = { vs: w.vs, score };
    }
    if (best) out.set(svc.host, best.vs);
  }
  return out;
}

/** Service by FQDN as visible from a namespace (exact host, else a wildcard entry covering it). */
export function lookupService(mesh: Mesh, host: string, namespace: string): MeshService | undefined {
  const exact = mesh.servicesByHost.get(host);
  if (exact) {
    return exact.find((s) => s.namespace === namespace && visibleTo(s.exportTo, namespace)) ?? exact.find((s) => visibleTo(s.exportTo, namespace));
  }
  let best: MeshService | undefined;
  for (const svc of mesh.services) {
    if (!svc.host.startsWith("*") || !hostMatches(svc.host, host) || !visibleTo(svc.exportTo, namespace)) continue;
    if (!best || svc.host.length > best.host.length) best = svc;
  }
  return best;
}
