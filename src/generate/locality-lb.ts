/**
 * Locality load balancing, as istiod's loadbalancer package does it
 * (pilot/pkg/networking/core/loadbalancer): a ClusterLoadAssignment made
 * relative to the proxy that receives it.
 *
 * - The setting: the DestinationRule's localityLbSetting for this port and
 *   subset (none when it says `enabled: false`), else the mesh config's
 *   (Istio's default `{enabled: true}`).
 * - `distribute`: the first entry whose `from` matches the proxy's locality
 *   sets each endpoint locality's load_balancing_weight; localities it does
 *   not name get no endpoints.
 * - otherwise, only with outlier detection (without it Envoy never sees an
 *   endpoint fail, so it would never leave priority 0): priorities, from
 *   `failoverPriority` labels matching the proxy's, then by locality
 *   (same subzone 0, zone 1, region 2, another region 3, and with `failover`
 *   rules a region not named for the proxy's region 4), made contiguous.
 * - the cluster gets common_lb_config.locality_weighted_lb_config when
 *   `distribute` is set, or failover rules apply (istiod sets it then only).
 *
 * Only these assignments read the proxy's locality and labels, so proxies
 * of one locality share them (generate/view-key.ts sees what was asked); the
 * derived assignments are cached per base assignment and locality.
 */
import type { MeshEndpoint, MeshOptions } from "../model/mesh";
import type { LocalityLbSetting } from "../model/types";
import type { ProxyView } from "../model/proxy";
import type { Locality as MeshLocality } from "../model/mesh-types";
import { TOPOLOGY_REGION, TOPOLOGY_SUBZONE, TOPOLOGY_ZONE, localityMatches, localityPriority, topologyLabels } from "../model/locality";
import type { Cluster, ClusterLoadAssignment, LocalityLbEndpoints } from "./envoy";
import type { EffectivePolicy } from "./traffic-policy";

const NETWORK_LABEL = "topology.istio.io/network";

/** istiod's GetEffectiveLbSetting (locality part): the rule's setting wins; `enabled: false` turns it off. */
export function effectiveLocalityLb(policy: EffectivePolicy, mesh: MeshOptions): LocalityLbSetting | undefined {
  const own = policy.loadBalancer?.localityLbSetting;
  if (own) return own.enabled === false ? undefined : own;
  return mesh.localityLbSetting;
}

const nonEmpty = (xs: unknown[] | undefined): boolean => (xs?.length ?? 0) > 0;

/** Does this cluster get common_lb_config.locality_weighted_lb_config? (istiod's LocalityLBSettings.ApplyToCluster) */
export function wantsLocalityWeightedConfig(setting: LocalityLbSetting | undefined, outlier: boolean): boolean {
  if (!setting) return false;
  return nonEmpty(setting.distribute) || (outlier && (nonEmpty(setting.failover) || nonEmpty(setting.failoverPriority)));
}

/** The cluster with locality_weighted_lb_config added to its common_lb_config (a copy; the input is not changed). */
export function withLocalityWeightedConfig(c: Cluster): Cluster {
  return { ...c, common_lb_config: { ...(c.common_lb_config ?? {}), locality_weighted_lb_config: {} } };
}

/** Will the assignment depend on the proxy? (Then it must be made per proxy locality.) */
export function localityLbApplies(setting: LocalityLbSetting | undefined, outlier: boolean): setting is LocalityLbSetting {
  return setting !== undefined && (nonEmpty(setting.distribute) || outlier);
}

/**
 * `base` made relative to `proxy`. `groups[i]` are the endpoints behind
 * `base.endpoints[i]` (needed for failoverPriority only, so given lazily).
 * The result is shared by every proxy that answers alike; callers must not
 * change it.
 */
export function localityAssignment(
  base: ClusterLoadAssignment,
  groups: () => MeshEndpoint[][],
  proxy: ProxyView,
  setting: LocalityLbSetting,
  outlier: boolean,
): ClusterLoadAssignment {
  const locality = proxy.locality;
  const labelKeys = failoverPriorityApplies(setting, outlier) ? priorityLabelKeys(setting.failoverPriority!) : [];
  const proxyLabels = labelKeys.length > 0 ? priorityProxyLabels(proxy, labelKeys) : undefined;
  const key = `${settingKey(setting)}\n${outlier}\n${locality.region}\n${locality.zone}\n${locality.subzone}\n${proxyLabels ? JSON.stringify(proxyLabels) : ""}`;
  let byKey = derived.get(base);
  if (!byKey) derived.set(base, (byKey = new Map()));
  let out = byKey.get(key);
  if (!out) {
    out = apply(base, groups, locality, proxyLabels, setting, outlier);
    byKey.set(key, out);
  }
  return out;
}

const derived = new WeakMap<ClusterLoadAssignment, Map<string, ClusterLoadAssignment>>();

/** A setting's text, once per setting object (most clusters share the mesh's; called for every assignment of every view). */
const settingKeys = new WeakMap<LocalityLbSetting, string>();

function settingKey(setting: LocalityLbSetting): string {
  let k = settingKeys.get(setting);
  if (k === undefined) settingKeys.set(setting, (k = JSON.stringify(setting)));
  return k;
}

function failoverPriorityApplies(setting: LocalityLbSetting, outlier: boolean): boolean {
  return !nonEmpty(setting.distribute) && outlier && nonEmpty(setting.failoverPriority);
}

/** "key" or "key=value" → key. */
function priorityLabelKeys(priorities: string[]): string[] {
  return priorities.map((p) => p.split("=")[0]!);
}

/**
 * The proxy's values for the failoverPriority labels, with the topology
 * istiod adds to a proxy's labels (its locality's region, zone, subzone).
 * Only the named keys are read, so proxies differing elsewhere still share.
 * (istiod skips failoverPriority for a proxy without labels, but its labels
 * always hold at least the cluster id it adds.)
 */
function priorityProxyLabels(proxy: ProxyView, keys: string[]): Record<string, string | null> {
  const l = proxy.locality;
  const topology: Record<string, string> = { [TOPOLOGY_REGION]: l.region, [TOPOLOGY_ZONE]: l.zone, [TOPOLOGY_SUBZONE]: l.subzone };
  const out: Record<string, string | null> = {};
  for (const k of keys) {
    const own = Object.prototype.hasOwnProperty.call(proxy.labels, k) ? proxy.labels[k]! : null;
    out[k] = topology[k] || own;
  }
  return out;
}

type Lle = LocalityLbEndpoints;

function apply(
  base: ClusterLoadAssignment,
  groups: () => MeshEndpoint[][],
  locality: MeshLocality,
  proxyLabels: Record<string, string | null> | undefined,
  setting: LocalityLbSetting,
  outlier: boolean,
): ClusterLoadAssignment {
  // Shallow copies of each locality: priorities and weights are per proxy, endpoints are shared.
  let endpoints: Lle[] = (base.endpoints ?? []).map((e) => ({ ...e }));
  if (nonEmpty(setting.distribute)) {
    applyWeights(locality, endpoints, setting.distribute!);
  } else if (outlier) {
    if (nonEmpty(setting.failoverPriority)) {
      if (proxyLabels) endpoints = applyFailoverPriorities(endpoints, groups(), proxyLabels, setting.failoverPriority!);
      if (nonEmpty(setting.failover)) applyFailover(locality, endpoints, setting.failover!);
    } else {
      applyFailover(locality, endpoints, setting.failover ?? []);
    }
  }
  return endpoints.length > 0 ? { ...base, endpoints } : base;
}

function localityOf(e: Lle): MeshLocality {
  return { region: e.locality?.region ?? "", zone: e.locality?.zone ?? "", subzone: e.locality?.sub_zone ?? "" };
}

/**
 * `distribute`: the first entry whose `from` matches the proxy. Each `to`
 * (in the order written) takes the not yet claimed localities it matches and
 * shares its weight among them by their own weights (rounded up).
 */
function applyWeights(proxy: MeshLocality, endpoints: Lle[], distribute: NonNullable<LocalityLbSetting["distribute"]>): void {
  const rule = distribute.find((d) => localityMatches(proxy, d.from ?? ""));
  if (!rule) return;
  const unclaimed = new Set(endpoints.keys());
  for (const [to, weight] of Object.entries(rule.to ?? {})) {
    const claimed = new Map<number, number>();
    let total = 0;
    for (const i of [...unclaimed]) {
      if (!localityMatches(localityOf(endpoints[i]!), to)) continue;
      unclaimed.delete(i);
      const w = endpoints[i]!.load_balancing_weight ?? 1;
      claimed.set(i, w);
      total += w;
    }
    for (const [i, w] of claimed) {
      const share = (w * weight) / total;
      if (share > 0) endpoints[i]!.load_balancing_weight = Math.ceil(share);
    }
  }
  // Localities no `to` names get no traffic from this proxy.
  for (const i of unclaimed) delete endpoints[i]!.lb_endpoints;
}

/** By locality relative to the proxy, on top of any priority already set; then made contiguous from 0. */
function applyFailover(proxy: MeshLocality, endpoints: Lle[], failover: NonNullable<LocalityLbSetting["failover"]>): void {
  const priorities = endpoints.map((e) => {
    const l = localityOf(e);
    let p = localityPriority(proxy, l);
    if (p === 3) {
      // The first rule for the proxy's region decides: its `to` region stays 3, any other region drops to 4.
      const rule = failover.find((f) => f.from === proxy.region);
      if (rule && l.region !== rule.to) p = 4;
    }
    return (e.priority ?? 0) * 5 + p;
  });
  setContiguous(endpoints, priorities);
}

/** Priorities renumbered 0..N in the same order (Envoy wants no gaps); priority 0 is left unset, as proto3 JSON does. */
function setContiguous(endpoints: Lle[], priorities: number[]): void {
  const order = [...new Set(priorities)].sort((a, b) => a - b);
  endpoints.forEach((e, i) => {
    const p = order.indexOf(priorities[i]!);
    if (p > 0) e.priority = p;
    else delete e.priority;
  });
}

/**
 * failoverPriority: each locality is split by how many of the labels (in
 * order) an endpoint shares with the proxy: all of them priority 0, the
 * first n-1 priority 1, ... A label written "key=value" compares with that
 * value instead of the proxy's. A mismatch on a leading network label only
 * pushes the endpoint behind all others of its match level (istiod's rule).
 */
function applyFailoverPriorities(endpoints: Lle[], groups: MeshEndpoint[][], proxyLabels: Record<string, string | null>, priorities: string[]): Lle[] {
  const keys = priorityLabelKeys(priorities);
  const overrides = new Map<string, string>();
  for (const p of priorities) {
    const parts = p.split("=");
    if (parts.length === 2) overrides.set(parts[0]!, parts[1]!);
  }
  const lowest = priorities.length;
  const includesNetwork = keys[0] === NETWORK_LABEL;
  const out: Lle[] = [];
  endpoints.forEach((lle, g) => {
    const eps = groups[g] ?? [];
    const byPriority = new Map<number, number[]>();
    eps.forEach((ep, i) => {
      const labels = topologyLabels(ep.labels, ep.locality, ep.nodeName);
      let priority = 0;
      let adjust = 0;
      for (let j = 0; j < keys.length; j++) {
        const k = keys[j]!;
        const want = overrides.has(k) ? overrides.get(k)! : (proxyLabels[k] ?? "");
        if (want === (labels[k] ?? "")) continue;
        if (j === 0 && includesNetwork) {
          adjust = lowest;
          continue;
        }
        priority = lowest - j;
        break;
      }
      const p = priority + adjust;
      byPriority.set(p, [...(byPriority.get(p) ?? []), i]);
    });
    for (const p of [...byPriority.keys()].sort((a, b) => a - b)) {
      const picked = byPriority.get(p)!.map((i) => lle.lb_endpoints![i]!);
      const weight = picked.reduce((sum, e) => sum + (e.load_balancing_weight ?? 0), 0);
      out.push({ ...lle, lb_endpoints: picked, load_balancing_weight: weight, priority: p });
    }
  });
  setContiguous(
    out,
    out.map((e) => e.priority ?? 0),
  );
  return out;
}
