/**
 * What differs between what a client holds (the last selection sent to it)
 * and a new selection, shared by every stream that holds the same selection.
 */
import type { EncodedResource } from "../xds/resource";
import type { Selection } from "./select";

/**
 * Streams that were sent the same selection hold the same `byName` map (SotW:
 * `lastSent`; delta: `syncedTo`), so on a push to 1,000 of them the difference
 * is worked out once and shared, not once per stream (a filter over every
 * resource). Maps are never changed once made; the memo keeps, per map, the
 * latest target only.
 */
export interface SelectionDiff {
  /** Resources of the new selection the client does not hold at their version. */
  changed(): readonly EncodedResource[];
  changedNames(): string[];
  /** Only what changed, and a content key for it; undefined when that is everything. */
  partial(): { resources: readonly EncodedResource[]; version: string } | undefined;
  /** What the client holds that the new selection dropped. */
  kept(): EncodedResource[];
  /** Their names, sorted. */
  keptNames(): string[];
}

const diffs = new WeakMap<ReadonlyMap<string, EncodedResource>, { to: Selection; diff: SelectionDiff }>();

export function selectionDiff(held: ReadonlyMap<string, EncodedResource>, to: Selection): SelectionDiff {
  const hit = diffs.get(held);
  if (hit && hit.to === to) return hit.diff;
  const diff = computeDiff(held, to);
  diffs.set(held, { to, diff });
  return diff;
}

/** Each part is computed when first asked for, then remembered. */
function computeDiff(held: ReadonlyMap<string, EncodedResource>, to: Selection): SelectionDiff {
  let changed: readonly EncodedResource[] | undefined;
  let names: string[] | undefined;
  let partial: { resources: readonly EncodedResource[]; version: string } | undefined | null;
  let kept: EncodedResource[] | undefined;
  let keptNames: string[] | undefined;
  const d: SelectionDiff = {
    changed: () => (changed ??= to.resources.filter((r) => held.get(r.name)?.version !== r.version)),
    changedNames: () => (names ??= d.changed().map((r) => r.name)),
    partial: () => {
      if (partial === undefined) {
        const c = d.changed();
        partial = c.length === to.resources.length ? null : { resources: c, version: "partial:" + c.map((r) => `${r.name}@${r.version}`).join(",") };
      }
      return partial ?? undefined;
    },
    kept: () => (kept ??= [...held.values()].filter((r) => !to.byName.has(r.name))),
    keptNames: () =>
      (keptNames ??= d
        .kept()
        .map((r) => r.name)
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))),
  };
  return d;
}
