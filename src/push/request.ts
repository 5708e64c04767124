/**
 * What a batch of config changes asks of the push: a full regeneration, or
 * endpoints and/or secrets only. EndpointSlices, Endpoints, Pods and Nodes
 * only change who is behind a cluster, so only EDS can change; a Secret only
 * changes what an SDS resource holds (listeners and clusters name secrets,
 * never their content), so only SDS can change.
 */
import { ChangeSet } from "../store";
import { Kind } from "../model/types";

export interface PushRequest {
  /** Anything but endpoint data changed: regenerate every resource type. */
  full: boolean;
  /** Objects changed, by kind (for logs and metrics). */
  reasons: Record<string, number>;
  /** Set by the pipeline: a full push in which plain sidecars need only their route configs again (push/incremental.ts). */
  sidecarRoutesOnly?: boolean;
}

const ENDPOINT_KINDS: ReadonlySet<Kind | string> = new Set(["EndpointSlice", "Endpoints", "Pod", "Node"]);
const SECRET_KINDS: ReadonlySet<Kind | string> = new Set(["Secret"]);

/** A push that is not full rebuilds EDS when an endpoint kind changed... */
export function changesEndpoints(r: PushRequest): boolean {
  return Object.keys(r.reasons).some((k) => ENDPOINT_KINDS.has(k));
}

/** ...and SDS when a Secret changed. */
export function changesSecrets(r: PushRequest): boolean {
  return Object.keys(r.reasons).some((k) => SECRET_KINDS.has(k));
}

export function requestFor(changes: ChangeSet): PushRequest {
  const reasons: Record<string, number> = {};
  let full = false;
  for (const o of [...changes.added, ...changes.updated, ...changes.deleted]) {
    reasons[o.kind] = (reasons[o.kind] ?? 0) + 1;
    if (!ENDPOINT_KINDS.has(o.kind) && !SECRET_KINDS.has(o.kind)) full = true;
  }
  return { full, reasons };
}

export function mergeRequests(a: PushRequest, b: PushRequest): PushRequest {
  const reasons = { ...a.reasons };
  for (const [k, n] of Object.entries(b.reasons)) reasons[k] = (reasons[k] ?? 0) + n;
  return { full: a.full || b.full, reasons };
}
