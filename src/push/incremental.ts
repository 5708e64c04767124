/**
 * What a push keeps from the previous mesh. Generation shares resources
 * between views through units and a cluster memo (generate/shared.ts); this
 * decides, from the kinds a change touched, which of them stay valid for the
 * new mesh, so a change regenerates only what read the changed objects:
 *
 * | changed                          | kept                                   | built again                          |
 * | -------------------------------- | -------------------------------------- | ------------------------------------ |
 * | Secret, AuthorizationPolicy, Gateway | every unit (none reads them)       | (per-view inbound, gateways, SDS)    |
 * | EndpointSlice, Endpoints, Pod, Node | clusters, listeners, routes         | EDS units (assignments of unchanged endpoint lists are reused) |
 * | ... and a service's identities changed (mTLS SANs) | listeners, routes    | clusters and EDS                     |
 * | VirtualService                   | clusters, EDS (and outbound listeners when no VirtualService has tcp or tls routes) | route configs, outbound listeners |
 * | DestinationRule                  | the cluster memo (keyed by rule objects) | every unit (cluster lists reassembled) |
 * | Service, ServiceEntry            | the cluster memo (keyed by service objects) | every unit                       |
 * | anything else (Sidecar, PeerAuthentication, mesh config, ...) | nothing    | everything                           |
 *
 * Keys stay valid across meshes because the new mesh keeps the old mesh's
 * service objects and endpoint lists where they are equal (model/mesh-reuse.ts):
 * a changed service or endpoint list is a new object, so a new key.
 */
import type { Mesh } from "../model/mesh";
import { reuseUnchangedParts } from "../model/mesh-reuse";
import { SharedResources, adoptSharedResources, objectId, sharedResources } from "../generate/shared";
import type { PushRequest } from "./request";

/** Unit kinds (the text before `|` in a unit key, generate/shared.ts) each changed kind invalidates; absent kinds: everything. */
const INVALIDATES: Record<string, readonly string[]> = {
  Secret: [],
  AuthorizationPolicy: [],
  Gateway: [],
  EndpointSlice: ["outbound-endpoints"],
  Endpoints: ["outbound-endpoints"],
  Pod: ["outbound-endpoints"],
  Node: ["outbound-endpoints"],
  // Every sidecar route config list; the port route configs and routes inside are units keyed by the VirtualService
  // objects they read (a new object: a new key), so they stay, and those of rules that are gone are dropped below.
  VirtualService: ["routes", "outbound-listeners"],
  DestinationRule: ["*units"],
  Service: ["*units"],
  ServiceEntry: ["*units"],
};

export interface CarryReport {
  /** Nothing could be kept (the new mesh starts empty). */
  fresh: boolean;
  unitsKept: number;
  unitsDropped: number;
  clustersKept: number;
  servicesReused: number;
  endpointListsReused: number;
  /** The change can alter only the route configs of sidecars (not gRPC, not gateways): everything else they have stays. */
  sidecarRoutesOnly: boolean;
}

/**
 * Hand what stays valid from `prev`'s shared resources to `next` (a freshly
 * built mesh nothing has read yet). `clusterFactsChanged`: endpoint changes
 * altered what clusters read of endpoints (identities), so clusters go too.
 */
export function carrySharedResources(prev: Mesh, next: Mesh, req: PushRequest, clusterFactsChanged: boolean): CarryReport {
  const report: CarryReport = {
    fresh: true,
    unitsKept: 0,
    unitsDropped: 0,
    clustersKept: 0,
    servicesReused: 0,
    endpointListsReused: 0,
    sidecarRoutesOnly: false,
  };
  const kinds = Object.keys(req.reasons);
  if (kinds.length === 0 || kinds.some((k) => !(k in INVALIDATES))) return report;
  const dropped = new Set(kinds.flatMap((k) => INVALIDATES[k]!));
  const vsChanged = kinds.includes("VirtualService");
  // Outbound listeners read VirtualServices only for their tcp and tls routes: without any, before or after, they stay.
  if (vsChanged && !hasTcpOrTlsRoutes(prev) && !hasTcpOrTlsRoutes(next)) dropped.delete("outbound-listeners");
  // Under a Sidecar resource, VirtualServices also decide which services a sidecar imports (so its clusters).
  if (vsChanged && (prev.sidecars.byNamespace.size > 0 || next.sidecars.byNamespace.size > 0)) dropped.add("*units");
  if (clusterFactsChanged) dropped.add("*units").add("*clusters");
  const reused = reuseUnchangedParts(prev, next);
  // Units hold lists built from the old service objects: a service that changed (or came or went) invalidates them all.
  if (reused.services !== next.services.length || prev.services.length !== next.services.length) dropped.add("*units");
  const old = sharedResources(prev);
  const kept = new SharedResources();
  const liveServices = new Set(next.services.map((s) => String(objectId(s))));
  const liveRules = new Set(next.virtualServices.map((v) => String(objectId(v.vs))));
  for (const [key, index] of old.units) {
    const kind = key.slice(0, key.indexOf("|") >>> 0);
    const parts = key.split("|");
    const drop =
      dropped.has("*units") ||
      dropped.has(kind) ||
      // Routes of a VirtualService or service that is gone: never asked for again.
      (kind === "vs-routes" && !liveRules.has(parts[1]!)) ||
      (kind === "route-port" && parts[2] !== "" && parts[2]!.split(",").some((id) => !liveRules.has(id))) ||
      (kind === "default-route" && !liveServices.has(parts[1]!));
    if (drop) report.unitsDropped++;
    else {
      kept.units.set(key, index);
      report.unitsKept++;
    }
  }
  if (!dropped.has("*clusters")) {
    // Only clusters of services still in the mesh (the key starts with the service's id): the memo does not grow forever.
    for (const [key, c] of old.clusters) {
      if (!liveServices.has(key.slice(0, key.indexOf("|")))) continue;
      kept.clusters.set(key, c);
      report.clustersKept++;
    }
  }
  adoptSharedResources(next, kept);
  // Only route configs can differ for a plain sidecar: the pipeline regenerates just its RDS (as EDS for endpoint changes).
  const sidecarRoutesOnly = kinds.every((k) => k === "VirtualService") && !dropped.has("*units") && !dropped.has("outbound-listeners");
  return { ...report, fresh: false, servicesReused: reused.services, endpointListsReused: reused.endpointLists, sidecarRoutesOnly };
}

function hasTcpOrTlsRoutes(mesh: Mesh): boolean {
  return mesh.virtualServices.some((v) => (v.vs.spec.tcp?.length ?? 0) > 0 || (v.vs.spec.tls?.length ?? 0) > 0);
}
