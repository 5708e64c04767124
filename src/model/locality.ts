/**
 * Localities as istiod reads them: from a Kubernetes Node's topology labels,
 * from a workload's `topology.istio.io/locality` / `istio-locality` label, or
 * from "region/zone/subzone" text (ServiceEntry endpoints, Envoy's node).
 * Pure helpers shared by endpoint building, the proxy view and generation.
 */
import type { Locality } from "./mesh-types";

export const TOPOLOGY_REGION = "topology.kubernetes.io/region";
export const TOPOLOGY_ZONE = "topology.kubernetes.io/zone";
export const TOPOLOGY_SUBZONE = "topology.istio.io/subzone";
export const HOSTNAME_LABEL = "kubernetes.io/hostname";
/** Before topology.kubernetes.io: istiod still reads these when the GA labels are absent. */
const BETA_REGION = "failure-domain.beta.kubernetes.io/region";
const BETA_ZONE = "failure-domain.beta.kubernetes.io/zone";
/** Workload label that overrides the Node (first the new name, then the legacy one). */
const LOCALITY_LABELS = ["topology.istio.io/locality", "istio-locality"];

export const NO_LOCALITY: Locality = { region: "", zone: "", subzone: "" };

/** "a/b/c" → parts (istiod's SplitLocalityLabel: extra parts after the third are dropped). */
export function splitLocality(text: string): Locality {
  const parts = text.split("/");
  return { region: parts[0] ?? "", zone: parts[1] ?? "", subzone: parts[2] ?? "" };
}

/** The workload's locality label, if any; Kubernetes labels cannot hold "/", so "a.b.c" means "a/b/c". */
export function localityFromLabel(labels: Record<string, string>): Locality | undefined {
  for (const key of LOCALITY_LABELS) {
    const v = labels[key];
    if (v === undefined) continue;
    if (v === "") return undefined;
    return splitLocality(v.includes("/") ? v : v.replace(/\./g, "/"));
  }
  return undefined;
}

/** A Node's topology labels (GA names first, then the beta ones); undefined when it has none. */
export function localityFromNodeLabels(labels: Record<string, string>): Locality | undefined {
  const region = labels[TOPOLOGY_REGION] || labels[BETA_REGION] || "";
  const zone = labels[TOPOLOGY_ZONE] || labels[BETA_ZONE] || "";
  const subzone = labels[TOPOLOGY_SUBZONE] || "";
  return region || zone || subzone ? { region, zone, subzone } : undefined;
}

/** "region/zone/subzone" with empty trailing parts left out, as istiod's LocalityToString. */
export function localityString(l: Locality): string {
  if (!l.zone) return l.region;
  if (!l.subzone) return `${l.region}/${l.zone}`;
  return `${l.region}/${l.zone}/${l.subzone}`;
}

/**
 * Does a rule's locality ("region", "region/zone", "region/*", "*") match?
 * istiod's LocalityMatch: a missing or "*" zone/subzone matches anything.
 */
export function localityMatches(l: Locality, rule: string): boolean {
  const r = splitLocality(rule);
  const region = r.region === "*" || l.region === r.region;
  const zone = r.zone === "*" || r.zone === "" || l.zone === r.zone;
  const subzone = r.subzone === "*" || r.subzone === "" || l.subzone === r.subzone;
  return region && zone && subzone;
}

/** 0: same subzone, 1: same zone, 2: same region, 3: another region (istiod's LbPriority). */
export function localityPriority(proxy: Locality, endpoint: Locality): number {
  if (proxy.region !== endpoint.region) return 3;
  if (proxy.zone !== endpoint.zone) return 2;
  return proxy.subzone === endpoint.subzone ? 0 : 1;
}

/**
 * Labels with the topology istiod adds to workload labels (AugmentLabels):
 * region, zone and subzone of the locality, the node's hostname. Used where
 * labels are compared with failoverPriority.
 */
export function topologyLabels(labels: Record<string, string>, l: Locality, nodeName?: string): Record<string, string> {
  const out = { ...labels };
  if (l.region) out[TOPOLOGY_REGION] = l.region;
  if (l.zone) out[TOPOLOGY_ZONE] = l.zone;
  if (l.subzone) out[TOPOLOGY_SUBZONE] = l.subzone;
  if (nodeName) out[HOSTNAME_LABEL] = nodeName;
  return out;
}
