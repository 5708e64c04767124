/**
 * Which resources of a type a subscription gets, with a version that names that
 * exact content. Memoized per type snapshot, so a thousand streams with the same
 * subscription share one answer.
 */
import { createHash } from "node:crypto";
import { TypeSnapshot } from "../cache/snapshot";
import { EncodedResource } from "../xds/resource";
import { Subscription } from "./should-respond";

export interface Selection {
  /** Equal content, equal version. */
  readonly version: string;
  readonly resources: readonly EncodedResource[];
  readonly byName: Map<string, EncodedResource>;
}

const memo = new WeakMap<TypeSnapshot, Map<string, Selection>>();
const subscriptionKeys = new WeakMap<Subscription, string>();

function subscriptionKey(s: Subscription): string {
  let key = subscriptionKeys.get(s);
  if (key === undefined) {
    key = (s.wildcard ? "*\n" : "") + [...s.names].sort().join("\n");
    subscriptionKeys.set(s, key);
  }
  return key;
}

/**
 * `extra` (resources outside the snapshot, e.g. clusters held back until routes
 * move off them) bypasses the memo.
 */
export function selectResources(snap: TypeSnapshot | undefined, sub: Subscription, extra?: readonly EncodedResource[]): Selection {
  if (extra) return makeSelection(extra);
  if (!snap) return makeSelection([]);
  let perSnap = memo.get(snap);
  if (!perSnap) memo.set(snap, (perSnap = new Map()));
  const key = subscriptionKey(sub);
  let sel = perSnap.get(key);
  if (!sel) {
    sel = sub.wildcard ? { version: snap.version, resources: [...snap.resources.values()], byName: new Map(snap.resources) } : pick(snap, sub.names);
    perSnap.set(key, sel);
  }
  return sel;
}

function pick(snap: TypeSnapshot, names: ReadonlySet<string>): Selection {
  const chosen: EncodedResource[] = [];
  for (const n of names) {
    const r = snap.resources.get(n);
    if (r) chosen.push(r);
  }
  return makeSelection(chosen);
}

function makeSelection(resources: readonly EncodedResource[]): Selection {
  const sorted = [...resources].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const h = createHash("sha256");
  for (const r of sorted) h.update(r.name).update("\0").update(r.version).update("\n");
  return { version: h.digest("hex").slice(0, 16), resources: sorted, byName: new Map(sorted.map((r) => [r.name, r])) };
}
