/**
 * localityLbSetting (DestinationRule trafficPolicy.loadBalancer and
 * MeshConfig), with Istio's rules (ValidateLocalityLbSetting in
 * pkg/config/validation/agent): distribute or failover, not both; distribute
 * weights in [1, 100] summing to 100 per `from`, localities that do not
 * overlap, `*` only at the end; failover between two different regions, no
 * "/" or "*"; no region/zone/subzone labels in failoverPriority next to
 * failover. Where Istio stops at the first such error, so does this.
 */
import type { LocalityLbSetting } from "../types";
import { at, idx, type Ctx } from "./ctx";
import { bool, int, list, object, record, str } from "./read";

type Distribute = NonNullable<LocalityLbSetting["distribute"]>[number];
type Failover = NonNullable<LocalityLbSetting["failover"]>[number];

const TOPOLOGY_PRIORITY_LABELS = ["topology.kubernetes.io/region", "topology.kubernetes.io/zone", "topology.istio.io/subzone"];

export const localityLbSetting = object<LocalityLbSetting>(
  {
    distribute: list(object<Distribute>({ from: str, to: record(int) })),
    failover: list(object<Failover>({ from: str, to: str })),
    failoverPriority: list(str),
    enabled: bool,
  },
  { check: checkLocalityLbSetting },
);

/** The checks that need nothing but the setting itself. */
export function checkLocalityLbSetting(lb: Partial<LocalityLbSetting>, path: string, ctx: Ctx): void {
  const distribute = lb.distribute ?? [];
  const failover = lb.failover ?? [];
  if (distribute.length > 0 && failover.length > 0) {
    ctx.error(path, "can not simultaneously specify 'distribute' and 'failover'");
    return;
  }
  if (failover.length > 0) {
    const i = (lb.failoverPriority ?? []).findIndex((l) => TOPOLOGY_PRIORITY_LABELS.includes(l));
    if (i >= 0) {
      ctx.error(
        idx(at(path, "failoverPriority"), i),
        `can not simultaneously set 'failover' and topology label '${lb.failoverPriority![i]}' in 'failover_priority'`,
      );
      return;
    }
  }
  if (!checkDistribute(distribute, at(path, "distribute"), ctx)) return;
  failover.forEach((f, i) => {
    const p = idx(at(path, "failover"), i);
    const from = f.from ?? "";
    const to = f.to ?? "";
    if (from === to) ctx.error(p, "locality lb failover settings must specify different regions");
    if (from.includes("/") || to.includes("/")) ctx.error(p, "locality lb failover only specify region");
    if (from.includes("*") || to.includes("*")) ctx.error(p, "locality lb failover region should not contain '*' wildcard");
  });
}

/**
 * Istio's order: per entry, weights then their sum then the `to` localities;
 * the `from` localities of all entries last. False when Istio would stop here.
 */
function checkDistribute(distribute: Distribute[], path: string, ctx: Ctx): boolean {
  for (let i = 0; i < distribute.length; i++) {
    const p = idx(path, i);
    const to = distribute[i]!.to ?? {};
    let total = 0;
    for (const [loc, weight] of Object.entries(to)) {
      if (weight <= 0 || weight > 100) {
        ctx.error(at(at(p, "to"), loc), "locality weight must be in range [1, 100]");
        return false;
      }
      total += weight;
    }
    if (total !== 100) {
      ctx.error(at(p, "to"), `total locality weight ${total} != 100`);
      return false;
    }
    const bad = localitiesProblem(Object.keys(to));
    if (bad) ctx.error(at(p, "to"), bad);
  }
  const bad = localitiesProblem(distribute.map((d) => d.from ?? ""));
  if (bad) ctx.error(path, bad);
  return true;
}

/**
 * Istio's validateLocalities: each "region[/zone[/subzone]]" has no empty
 * part, at most one "*" and only at the end, and none is covered by an earlier
 * one ("a" then "a/b", or anything after "*"). The first problem, or undefined.
 */
function localitiesProblem(localities: string[]): string | undefined {
  // region -> zone -> subzones; "*" marks "all of them".
  const seen = new Map<string, Map<string, Set<string>>>();
  const overlap = (l: string) => `locality ${l} overlap with previous specified ones`;
  for (const l of localities) {
    const stars = l.split("*").length - 1;
    if (stars > 1 || (stars === 1 && !l.endsWith("*"))) return `locality ${l} wildcard '*' number can not exceed 1 and must be in the end`;
    if (seen.has("*")) return overlap(l);
    const parts = splitN(l, 3);
    if (parts.some((x) => x === "")) return `locality ${l} must not contain empty region/zone/subzone info`;
    const [region, zone, subzone] = parts as [string, string | undefined, string | undefined];
    const zones = seen.get(region);
    if (zone === undefined) {
      if (zones) return overlap(l);
      seen.set(region, new Map([["*", new Set(["*"])]]));
      continue;
    }
    if (zones?.has("*")) return overlap(l);
    const subzones = zones?.get(zone);
    if (subzone === undefined) {
      if (subzones) return overlap(l);
      if (zones) zones.set(zone, new Set(["*"]));
      else seen.set(region, new Map([[zone, new Set(["*"])]]));
      continue;
    }
    if (subzones?.has("*") || subzones?.has(subzone)) return overlap(l);
    if (subzones) subzones.add(subzone);
    else if (zones) zones.set(zone, new Set([subzone]));
    else seen.set(region, new Map([[zone, new Set([subzone])]]));
  }
  return undefined;
}

/** Go's strings.SplitN: at most n parts, the last one keeps the rest. */
function splitN(s: string, n: number): string[] {
  const parts = s.split("/");
  return parts.length <= n ? parts : [...parts.slice(0, n - 1), parts.slice(n - 1).join("/")];
}

/** Istio warns (does not refuse) when failover is asked for where no outlier detection could ever trigger it. */
export function checkFailoverNeedsOutlier(lb: LocalityLbSetting | undefined, hasOutlier: boolean, path: string, ctx: Ctx): void {
  if (!lb || hasOutlier) return;
  if ((lb.failover ?? []).length > 0 || (lb.failoverPriority ?? []).length > 0) {
    ctx.warn(at(path, "localityLbSetting"), "outlier detection policy must be provided for failover");
  }
}
