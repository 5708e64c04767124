/**
 * What a batch of config changes asks of the push: a full regeneration, or
 * endpoints only (EndpointSlices, Endpoints, Pods and Nodes only change who is
 * behind a cluster, so only EDS can change).
 */
import { ChangeSet } from "../store";
import { Kind } from "../model/types";

export interface PushRequest {
  /** Anything but endpoint data changed: regenerate every resource type. */
  full: boolean;
  /** Objects changed, by kind (for logs and metrics). */
  reasons: Record<string, number>;
}

const ENDPOINT_KINDS: ReadonlySet<Kind | string> = new Set(["EndpointSlice", "Endpoints", "Pod", "Node"]);

export function requestFor(changes: ChangeSet): PushRequest {
  const reasons: Record<string, number> = {};
  let full = false;
  for (const o of [...changes.added, ...changes.updated, ...changes.deleted]) {
    reasons[o.kind] = (reasons[o.kind] ?? 0) + 1;
    if (!ENDPOINT_KINDS.has(o.kind)) full = true;
  }
  return { full, reasons };
}

export function mergeRequests(a: PushRequest, b: PushRequest): PushRequest {
  const reasons = { ...a.reasons };
  for (const [k, n] of Object.entries(b.reasons)) reasons[k] = (reasons[k] ?? 0) + n;
  return { full: a.full || b.full, reasons };
}
