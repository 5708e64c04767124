/**
 * Which resources of a type a subscription gets, with a version that names that
 * exact content. Memoized per type snapshot, so a thousand streams with the same
 * subscription share one answer.
 */
import { createHash } from "node:crypto";
import { TypeSnapshot, resourceSetVersion } from "../cache/snapshot";
import { EncodedResource } from "../xds/resource";
import { NAMES_PER_STEP, Subscription } from "./should-respond";
import { Steps, runSteps, sortSteps } from "../util/steps";

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

  /**
   * Compute a subscription's memo key in steps ahead of its first select()
   * (a stream does so while it handles the request that made it), so a
   * 100,000-name subscription never sorts and hashes its names in one go.
   */
  *primeKey(s: Subscription): Steps<void> {
    if (this.keys.has(s)) return;
    const key = yield* subscriptionKey(s);
    this.keys.set(s, key);
  }

  /** A digest, not the names themselves: a subscription of 100,000 names keys the memo with 44 characters. */
  private keyOf(s: Subscription): string {
    let key = this.keys.get(s);
    if (key === undefined) {
      key = runSteps(subscriptionKey(s));
      this.keys.set(s, key);
    }
    return key;
  }
}

/** SHA-256 over the sorted names, hashed a few thousand names per update (one update per name cost more than the sort). */
function* subscriptionKey(s: Subscription): Steps<string> {
  const h = createHash("sha256").update(s.wildcard ? "*\n" : "\n");
  if (s.names.size === 0) return h.digest("base64");
  const sorted: string[] = [];
  for (const n of s.names) {
    sorted.push(n);
    if (sorted.length % NAMES_PER_STEP === 0) yield;
  }
  yield* sortSteps(sorted, (a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (let i = 0; i < sorted.length; i += NAMES_PER_STEP) {
    h.update(sorted.slice(i, i + NAMES_PER_STEP).join("\n") + "\n");
    if (i + NAMES_PER_STEP < sorted.length) yield;
  }
  return h.digest("base64");
}

/** Walks the smaller side: a subscription of 100,000 unknown names costs the snapshot's size, not the names'. */
function pick(snap: TypeSnapshot, names: ReadonlySet<string>): Selection {
  const chosen: EncodedResource[] = [];
  if (names.size > snap.resources.size) {
    for (const r of snap.resources.values()) if (names.has(r.name)) chosen.push(r);
  } else {
    for (const n of names) {
      const r = snap.resources.get(n);
      if (r) chosen.push(r);
    }
  }
  return makeSelection(chosen);
}

function makeSelection(resources: readonly EncodedResource[]): Selection {
  const sorted = [...resources].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { version: resourceSetVersion(sorted), resources: sorted, byName: new Map(sorted.map((r) => [r.name, r])) };
}
