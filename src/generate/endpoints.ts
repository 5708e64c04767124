/**
 * ClusterLoadAssignments (EDS): one per EDS cluster the proxy has, endpoints
 * grouped into one LocalityLbEndpoints per locality (sorted), subset clusters
 * filtered by the subset's labels. Cheap on its own, so an endpoint-only change
 * can regenerate EDS without touching the other types.
 */
import type { MeshEndpoint } from "../model/mesh";
import { labelsMatch } from "../model/mesh-hosts";
import { socketAddress } from "./common";
import type { ClusterLoadAssignment, Locality, LocalityLbEndpoints, Metadata } from "./envoy";
import { TLS_MODE_MATCH, TRANSPORT_SOCKET_MATCH_KEY } from "./mtls";

type LbEndpoint = NonNullable<LocalityLbEndpoints["lb_endpoints"]>[number];

/**
 * A ClusterLoadAssignment for `clusterName` with these endpoints. Endpoints
 * for which `mtls` says yes carry `envoy.transport_socket_match: {tlsMode: istio}`
 * (an auto-mTLS cluster sends them mTLS); endpoints whose workload is known
 * carry istiod's `istio: {workload: ...}` telemetry metadata.
 */
export function clusterLoadAssignment(clusterName: string, endpoints: MeshEndpoint[], mtls?: (e: MeshEndpoint) => boolean): ClusterLoadAssignment {
  const localities = localityGroups(endpoints).map((eps) => {
    const l = eps[0]!.locality;
    const locality: Locality = {};
    if (l.region) locality.region = l.region;
    if (l.zone) locality.zone = l.zone;
    if (l.subzone) locality.sub_zone = l.subzone;
    const out: LocalityLbEndpoints = {
      lb_endpoints: eps.map((e) => {
        const lb: LbEndpoint = { endpoint: { address: socketAddress(e.address, e.port) }, health_status: e.health, load_balancing_weight: e.weight };
        const meta: NonNullable<Metadata["filter_metadata"]> = {};
        if (mtls?.(e)) meta[TRANSPORT_SOCKET_MATCH_KEY] = { ...TLS_MODE_MATCH };
        if (e.istioWorkload !== undefined) meta.istio = { workload: e.istioWorkload };
        if (Object.keys(meta).length > 0) lb.metadata = { filter_metadata: meta };
        return lb;
      }),
      load_balancing_weight: eps.reduce((sum, e) => sum + e.weight, 0),
    };
    if (Object.keys(locality).length > 0) out.locality = locality;
    return out;
  });
  return localities.length > 0 ? { cluster_name: clusterName, endpoints: localities } : { cluster_name: clusterName };
}

/** Endpoints grouped by locality, in the order of the assignment's LocalityLbEndpoints (sorted by region/zone/subzone). */
export function localityGroups(endpoints: MeshEndpoint[]): MeshEndpoint[][] {
  const groups = new Map<string, MeshEndpoint[]>();
  for (const e of endpoints) {
    const key = `${e.locality.region}/${e.locality.zone}/${e.locality.subzone}`;
    const group = groups.get(key);
    if (group) group.push(e);
    else groups.set(key, [e]);
  }
  return [...groups.keys()].sort().map((key) => groups.get(key)!);
}

/** Endpoints of a subset: those whose labels include all of the subset's labels. */
export function subsetEndpoints(endpoints: MeshEndpoint[], labels: Record<string, string> | undefined): MeshEndpoint[] {
  return labels ? endpoints.filter((e) => labelsMatch(labels, e.labels)) : endpoints;
}

/**
 * Assignments keyed by the mesh's endpoint list of a host and port (one
 * immutable array per mesh) and by cluster name and subset labels: every
 * proxy view with the cluster gets the same object instead of building its
 * own. Callers must treat generated resources as read-only.
 */
const shared = new WeakMap<MeshEndpoint[], Map<string, ClusterLoadAssignment>>();

export function sharedAssignment(
  clusterName: string,
  all: MeshEndpoint[],
  labels: Record<string, string> | undefined,
  mtls?: { key: string; wants: (e: MeshEndpoint) => boolean },
  healthyOnly = false,
): ClusterLoadAssignment {
  let byKey = shared.get(all);
  if (!byKey) {
    byKey = new Map();
    shared.set(all, byKey);
  }
  const key = `${clusterName}\n${labels ? JSON.stringify(labels) : ""}\n${mtls?.key ?? ""}\n${healthyOnly}`;
  let cla = byKey.get(key);
  if (!cla) {
    const eps = subsetEndpoints(all, labels);
    cla = clusterLoadAssignment(clusterName, healthyOnly ? eps.filter((e) => e.health === "HEALTHY") : eps, mtls?.wants);
    byKey.set(key, cla);
  }
  return cla;
}
