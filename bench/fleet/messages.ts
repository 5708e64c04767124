/**
 * xDS messages as the fleet sees them: DiscoveryResponse / DeltaDiscoveryResponse
 * read at the top level only (resources stay byte spans), resource names read
 * from field 1 of each resource, and requests written by hand.
 *
 * Field numbers (envoy/service/discovery/v3/discovery.proto):
 *   DiscoveryResponse        version_info=1 resources=2 (Any: type_url=1 value=2) type_url=4 nonce=5
 *   DeltaDiscoveryResponse   system_version_info=1 resources=2 (Resource: version=1 resource=2 name=3)
 *                            type_url=4 nonce=5 removed_resources=6
 *   DiscoveryRequest         version_info=1 node=2 resource_names=3 type_url=4 response_nonce=5 error_detail=6
 *   DeltaDiscoveryRequest    node=1 type_url=2 subscribe=3 unsubscribe=4 response_nonce=6 error_detail=7
 */
import { Span, findField, forEachField, lenField, spanString, strField, varintField } from "../wire";

export const LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener";
export const ROUTE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
export const CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
export const ENDPOINT = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

export interface SotwResponse {
  version: string;
  typeUrl: string;
  nonce: string;
  /** Spans of each Any's `value` (the resource message bytes). */
  resources: Span[];
}

export interface DeltaResource {
  name: string;
  version: string;
  /** Span of the Any's `value`, if the resource carries a body. */
  value?: Span;
}

export interface DeltaResponse {
  systemVersion: string;
  typeUrl: string;
  nonce: string;
  resources: DeltaResource[];
  removed: string[];
}

export function readSotwResponse(buf: Uint8Array): SotwResponse {
  const r: SotwResponse = { version: "", typeUrl: "", nonce: "", resources: [] };
  forEachField(buf, 0, buf.length, (f, wt, s, e) => {
    if (wt !== 2) return;
    if (f === 1) r.version = spanString(buf, { start: s, end: e });
    else if (f === 2) {
      const value = findField(buf, s, e, 2);
      if (value) r.resources.push(value);
    } else if (f === 4) r.typeUrl = spanString(buf, { start: s, end: e });
    else if (f === 5) r.nonce = spanString(buf, { start: s, end: e });
  });
  return r;
}

export function readDeltaResponse(buf: Uint8Array): DeltaResponse {
  const r: DeltaResponse = { systemVersion: "", typeUrl: "", nonce: "", resources: [], removed: [] };
  forEachField(buf, 0, buf.length, (f, wt, s, e) => {
    if (wt !== 2) return;
    if (f === 1) r.systemVersion = spanString(buf, { start: s, end: e });
    else if (f === 2) {
      const res: DeltaResource = { name: "", version: "" };
      forEachField(buf, s, e, (rf, rwt, rs, re) => {
        if (rwt !== 2) return;
        if (rf === 1) res.version = spanString(buf, { start: rs, end: re });
        else if (rf === 2) res.value = findField(buf, rs, re, 2);
        else if (rf === 3) res.name = spanString(buf, { start: rs, end: re });
      });
      r.resources.push(res);
    } else if (f === 4) r.typeUrl = spanString(buf, { start: s, end: e });
    else if (f === 5) r.nonce = spanString(buf, { start: s, end: e });
    else if (f === 6) r.removed.push(spanString(buf, { start: s, end: e }));
  });
  return r;
}

/** Field 1 of a Listener, Cluster, RouteConfiguration (name) or ClusterLoadAssignment (cluster_name). */
export function resourceName(buf: Uint8Array, value: Span): string {
  return spanString(buf, findField(buf, value.start, value.end, 1));
}

/**
 * RDS names a Listener needs, found the way Envoy would: filter_chains(3) and
 * default_filter_chain(25) → filters(3) → typed_config(4) Any whose type is the
 * HTTP connection manager → rds(3) → route_config_name(2). Only these fields are
 * entered; everything else is skipped by its length.
 */
export function listenerRouteNames(buf: Uint8Array, listener: Span, out: Set<string>): void {
  forEachField(buf, listener.start, listener.end, (f, wt, s, e) => {
    if (wt !== 2 || (f !== 3 && f !== 25)) return;
    forEachField(buf, s, e, (cf, cwt, cs, ce) => {
      if (cf !== 3 || cwt !== 2) return;
      const typed = findField(buf, cs, ce, 4);
      if (!typed || spanString(buf, findField(buf, typed.start, typed.end, 1)) !== HCM) return;
      const hcm = findField(buf, typed.start, typed.end, 2);
      const rds = hcm && findField(buf, hcm.start, hcm.end, 3);
      const name = rds && spanString(buf, findField(buf, rds.start, rds.end, 2));
      if (name) out.add(name);
    });
  });
}

/** What a client says about itself on its first request. */
export function encodeNode(id: string, cluster: string, metadata: Buffer): Buffer {
  return Buffer.concat([strField(1, id), strField(2, cluster), metadata.length ? lenField(3, metadata) : Buffer.alloc(0), strField(6, "envoy")]);
}

function status(message: string): Buffer {
  return Buffer.concat([varintField(1, 3), strField(2, message)]);
}

export function sotwRequest(r: { version: string; node?: Buffer; names: readonly string[]; typeUrl: string; nonce: string; error?: string }): Buffer {
  const parts: Buffer[] = [strField(1, r.version)];
  if (r.node) parts.push(lenField(2, r.node));
  for (const n of r.names) parts.push(strField(3, n));
  parts.push(strField(4, r.typeUrl), strField(5, r.nonce));
  if (r.error) parts.push(lenField(6, status(r.error)));
  return Buffer.concat(parts);
}

export function deltaRequest(r: {
  node?: Buffer;
  typeUrl: string;
  subscribe?: readonly string[];
  unsubscribe?: readonly string[];
  nonce?: string;
  error?: string;
}): Buffer {
  const parts: Buffer[] = [];
  if (r.node) parts.push(lenField(1, r.node));
  parts.push(strField(2, r.typeUrl));
  for (const n of r.subscribe ?? []) parts.push(strField(3, n));
  for (const n of r.unsubscribe ?? []) parts.push(strField(4, n));
  parts.push(strField(6, r.nonce ?? ""));
  if (r.error) parts.push(lenField(7, status(r.error)));
  return Buffer.concat(parts);
}
