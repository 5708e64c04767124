/**
 * Immutable per-type snapshots of encoded resources. A type's version is a hash
 * of its resources' names and versions, so equal content always has an equal
 * version, whatever order it was built in.
 */
import { createHash } from "node:crypto";
import { EncodedResource } from "../xds/resource";
import { ALL_TYPES, CLUSTER, ENDPOINT, LISTENER, ROUTE, XdsTypeUrl } from "../xds/types";
import { messageType } from "../xds/protos";

export interface TypeSnapshot {
  readonly version: string;
  /** Sorted by name. */
  readonly resources: ReadonlyMap<string, EncodedResource>;
}

export interface Snapshot {
  /** Hash over the four type versions. */
  readonly version: string;
  readonly types: Readonly<Record<XdsTypeUrl, TypeSnapshot>>;
}

/**
 * The version of a set of resources, given sorted by name: a hash of names and
 * content versions. One definition for snapshot types and the server's
 * per-subscription selections, so equal sets always carry equal versions.
 */
export function resourceSetVersion(sortedByName: Iterable<EncodedResource>): string {
  // One update of the whole text: the same digest as one update per piece, without a call per piece (20,000 resources a view).
  let text = "";
  for (const r of sortedByName) text += r.name + "\0" + r.version + "\n";
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

export function makeTypeSnapshot(resources: Iterable<EncodedResource>): TypeSnapshot {
  const sorted = [...resources].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const map = new Map<string, EncodedResource>();
  for (const r of sorted) {
    if (map.has(r.name)) throw new Error(`duplicate ${r.typeUrl} resource name "${r.name}"`);
    map.set(r.name, r);
  }
  return { version: resourceSetVersion(map.values()), resources: map };
}

export function makeSnapshot(resources: Iterable<EncodedResource>): Snapshot {
  const byType = new Map<XdsTypeUrl, EncodedResource[]>(ALL_TYPES.map((t) => [t, []]));
  for (const r of resources) byType.get(r.typeUrl)!.push(r);
  const types = {} as Record<XdsTypeUrl, TypeSnapshot>;
  for (const t of ALL_TYPES) types[t] = makeTypeSnapshot(byType.get(t)!);
  return withTypes(types);
}

/** A snapshot that shares unchanged types with `base` (e.g. an EDS-only change). */
export function replaceTypes(base: Snapshot, changed: Partial<Record<XdsTypeUrl, TypeSnapshot>>): Snapshot {
  return withTypes({ ...base.types, ...changed });
}

function withTypes(types: Record<XdsTypeUrl, TypeSnapshot>): Snapshot {
  const h = createHash("sha256");
  for (const t of ALL_TYPES) h.update(types[t].version);
  return { version: h.digest("hex").slice(0, 16), types };
}

export const EMPTY_SNAPSHOT: Snapshot = makeSnapshot([]);

/**
 * Names each type refers to in others: EDS names used by EDS clusters, RDS
 * names used by listeners. Read from the decoded messages. SDS names are not
 * required to exist: a credential whose Secret is missing or broken is left
 * out on purpose, as istiod leaves it out (Envoy then fails only the
 * handshakes that need it); the pipeline reports it as a diagnostic instead.
 */
export function checkConsistency(s: Snapshot): string[] {
  const problems: string[] = [];
  const clusterType = messageType("envoy.config.cluster.v3.Cluster");
  for (const c of s.types[CLUSTER].resources.values()) {
    const decoded = clusterType.decode(c.bytes) as unknown as {
      type?: number;
      cluster_discovery_type?: string;
      eds_cluster_config?: { service_name?: string };
    };
    const isEds = decoded.type === 3; // DiscoveryType.EDS
    if (!isEds) continue;
    const edsName = decoded.eds_cluster_config?.service_name || c.name;
    if (!s.types[ENDPOINT].resources.has(edsName)) problems.push(`cluster "${c.name}" needs endpoints "${edsName}", which the snapshot lacks`);
  }
  for (const name of referencedRouteNames(s)) {
    if (!s.types[ROUTE].resources.has(name)) problems.push(`a listener needs route configuration "${name}", which the snapshot lacks`);
  }
  return problems;
}

/** RDS names referenced by listeners' HTTP connection managers. */
export function referencedRouteNames(s: Snapshot): Set<string> {
  const names = new Set<string>();
  const listenerType = messageType("envoy.config.listener.v3.Listener");
  const hcmUrl = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
  const hcmType = messageType("envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager");
  const visitHcm = (any: { type_url?: string; value?: Uint8Array } | undefined) => {
    if (!any || any.type_url !== hcmUrl || !any.value) return;
    const hcm = hcmType.decode(any.value) as unknown as { rds?: { route_config_name?: string } };
    if (hcm.rds?.route_config_name) names.add(hcm.rds.route_config_name);
  };
  for (const l of s.types[LISTENER].resources.values()) {
    const decoded = listenerType.decode(l.bytes) as unknown as {
      filter_chains?: { filters?: { typed_config?: { type_url?: string; value?: Uint8Array } }[] }[];
      default_filter_chain?: { filters?: { typed_config?: { type_url?: string; value?: Uint8Array } }[] };
      api_listener?: { api_listener?: { type_url?: string; value?: Uint8Array } };
    };
    const chains = [...(decoded.filter_chains ?? []), ...(decoded.default_filter_chain ? [decoded.default_filter_chain] : [])];
    for (const chain of chains) for (const f of chain.filters ?? []) visitHcm(f.typed_config);
    visitHcm(decoded.api_listener?.api_listener);
  }
  return names;
}
