/**
 * The effective view of a proxy for one mesh: two proxies with equal keys get
 * identical output from `generate(mesh, ·)`, so the push pipeline generates
 * once per key. Finer than sharing by all labels (`proxyViewKey`): labels only
 * matter through the selectors the mesh actually has, so a thousand pods that
 * no Service, Gateway, sourceLabels match or DestinationRule workloadSelector
 * tells apart share one generation.
 *
 * What generation reads of a proxy (keep in step with src/generate): kind,
 * generator, namespace, dnsDomain, whether it has labels at all, and for
 * labels: Service selectors in its namespace (inbound), Gateway selectors
 * (routers), VirtualService sourceLabels, DestinationRule workloadSelectors.
 */
import type { Mesh } from "../model/mesh";
import type { ProxyView } from "../model/proxy";
import { labelsMatch } from "../model/mesh-hosts";

interface SelectorIndex {
  /** namespace -> [id, selector] of services with a selector. */
  services: Map<string, [string, Record<string, string>][]>;
  gateways: [string, Record<string, string>][];
  /** Distinct sourceLabels and workloadSelectors, by their JSON. */
  others: [string, Record<string, string>][];
}

const indexes = new WeakMap<Mesh, SelectorIndex>();

function selectorIndex(mesh: Mesh): SelectorIndex {
  let idx = indexes.get(mesh);
  if (idx) return idx;
  idx = { services: new Map(), gateways: [], others: [] };
  for (const svc of mesh.services) {
    if (!svc.selector) continue;
    const list = idx.services.get(svc.namespace) ?? [];
    list.push([`s:${svc.host}`, svc.selector]);
    idx.services.set(svc.namespace, list);
  }
  for (const g of mesh.gateways) idx.gateways.push([`g:${g.metadata.namespace}/${g.metadata.name}`, g.spec.selector ?? {}]);
  const others = new Map<string, Record<string, string>>();
  const add = (prefix: string, sel: Record<string, string> | undefined) => {
    if (sel) others.set(prefix + JSON.stringify(Object.entries(sel).sort()), sel);
  };
  for (const { vs } of mesh.virtualServices) {
    for (const r of vs.spec.http ?? []) for (const m of r.match ?? []) add("v:", m.sourceLabels);
    for (const r of vs.spec.tcp ?? []) for (const m of r.match ?? []) add("v:", m.sourceLabels);
    for (const r of vs.spec.tls ?? []) for (const m of r.match ?? []) add("v:", m.sourceLabels);
  }
  for (const d of mesh.destinationRules) add("d:", d.rule.spec.workloadSelector?.matchLabels);
  idx.others = [...others.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  indexes.set(mesh, idx);
  return idx;
}

export function effectiveViewKey(mesh: Mesh, proxy: ProxyView): string {
  const idx = selectorIndex(mesh);
  const hasLabels = Object.keys(proxy.labels).length > 0;
  const matched: string[] = [];
  const check = (list: [string, Record<string, string>][]) => {
    for (const [id, sel] of list) if (labelsMatch(sel, proxy.labels)) matched.push(id);
  };
  if (hasLabels) check(idx.services.get(proxy.namespace) ?? []);
  if (proxy.kind === "router") check(idx.gateways);
  check(idx.others);
  return JSON.stringify([proxy.kind, proxy.generator ?? "", proxy.namespace, proxy.dnsDomain, hasLabels, matched]);
}
