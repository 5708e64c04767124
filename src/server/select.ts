/**
 * Which resources of a type a subscription gets, with a version that names that
 * exact content. Memoized per type snapshot, so a thousand streams with the same
 * subscription share one answer.
 */
import { createHash } from "node:crypto";
import { TypeSnapshot, resourceSetVersion } from "../cache/snapshot";
import { EncodedResource } from "../xds/resource";
import { Subscription } from "./should-respond";

export interface Selection {
  /** Equal content, equal version. */
  readonly version: string;
  readonly resources: readonly EncodedResource[];
  readonly byName: Map<string, EncodedResource>;
}

/**
 * Distinct subscriptions remembered per type snapshot. A client that keeps
 * changing its subscription must not grow the memo of a long-lived snapshot
 * without bound; the oldest answer goes first.
 */
const MEMO_PER_SNAPSHOT = 256;

/** Selections by type snapshot and subscription; one per server. */
export class SelectionCache {
  private readonly memo = new WeakMap<TypeSnapshot, Map<string, Selection>>();
  /** Subscriptions are immutable, so each one's key is computed once. */
  private readonly keys = new WeakMap<Subscription, string>();

  /**
   * `extra` (resources outside the snapshot, e.g. clusters held back until routes
   * move off them) bypasses the memo.
   */
  select(snap: TypeSnapshot | undefined, sub: Subscription, extra?: readonly EncodedResource[]): Selection {
    if (extra) return makeSelection(extra);
    if (!snap) return makeSelection([]);
    let perSnap = this.memo.get(snap);
    if (!perSnap) this.memo.set(snap, (perSnap = new Map()));
    const key = this.keyOf(sub);
    let sel = perSnap.get(key);
    if (!sel) {
      sel = sub.wildcard ? { version: snap.version, resources: [...snap.resources.values()], byName: new Map(snap.resources) } : pick(snap, sub.names);
      if (perSnap.size >= MEMO_PER_SNAPSHOT) perSnap.delete(perSnap.keys().next().value as string);
      perSnap.set(key, sel);
    }
    return sel;
  }

  /** A digest, not the names themselves: a subscription of 100,000 names keys the memo with 32 characters. */
  private keyOf(s: Subscription): string {
    let key = this.keys.get(s);
    if (key === undefined) {
      const h = createHash("sha256").update(s.wildcard ? "*\n" : "\n");
      for (const n of [...s.names].sort()) h.update(n).update("\n");
      key = h.digest("base64");
      this.keys.set(s, key);
    }
    return key;
  }
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
  return { version: resourceSetVersion(sorted), resources: sorted, byName: new Map(sorted.map((r) => [r.name, r])) };
}
