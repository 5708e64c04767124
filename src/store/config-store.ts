/**
 * The config store: every accepted object by `Kind/namespace/name`, and the
 * change sets that writing to it produces. Synchronous and side-effect free
 * apart from calling subscribers.
 *
 * Objects belong to sources (a file, a cluster watch). `replaceSource` swaps
 * all of one source's objects at once, deleting what it no longer has — the
 * file source calls it per file. When two sources define the same key, the
 * most recent write is visible; if that source drops it, the other source's
 * copy comes back rather than the object vanishing.
 */
import { objectKey, type Kind, type MeshObject, type ObjectKey } from "../model/types";
import { sameContent } from "./equal";

export interface ChangeSet {
  added: MeshObject[];
  updated: MeshObject[];
  deleted: MeshObject[];
}

export type ChangeListener = (changes: ChangeSet) => void;

export function keyOf(o: MeshObject): ObjectKey {
  return objectKey(o.kind, o.metadata.namespace, o.metadata.name);
}

export function isEmptyChangeSet(c: ChangeSet): boolean {
  return c.added.length === 0 && c.updated.length === 0 && c.deleted.length === 0;
}

interface Entry {
  object: MeshObject;
  source: string;
}

/** Tracks each touched key's state before the call, so a batch reports net changes only. */
class ChangeTracker {
  private readonly before = new Map<ObjectKey, MeshObject | undefined>();

  touch(key: ObjectKey, current: MeshObject | undefined): void {
    if (!this.before.has(key)) this.before.set(key, current);
  }

  result(now: (key: ObjectKey) => MeshObject | undefined): ChangeSet {
    const out: ChangeSet = { added: [], updated: [], deleted: [] };
    for (const key of [...this.before.keys()].sort()) {
      const was = this.before.get(key);
      const is = now(key);
      if (!was && is) out.added.push(is);
      else if (was && !is) out.deleted.push(was);
      else if (was && is && !sameContent(was, is)) out.updated.push(is);
    }
    return out;
  }
}

export class ConfigStore {
  /** The source `apply` writes to when none is named. */
  static readonly DEFAULT_SOURCE = "";

  private readonly live = new Map<ObjectKey, Entry>();
  private readonly sources = new Map<string, Map<ObjectKey, MeshObject>>();
  /** How many sources hold each key: a key held by one source is dropped without looking at the others. */
  private readonly holders = new Map<ObjectKey, number>();
  private readonly listeners = new Set<ChangeListener>();

  /** Add or update objects (the last of duplicate keys wins). */
  apply(objects: readonly MeshObject[], sourceId: string = ConfigStore.DEFAULT_SOURCE): ChangeSet {
    const t = new ChangeTracker();
    for (const o of objects) this.write(t, o, sourceId);
    return this.finish(t);
  }

  /** Delete objects by key, whichever source they came from. */
  delete(keys: readonly ObjectKey[]): ChangeSet {
    const t = new ChangeTracker();
    for (const key of keys) {
      t.touch(key, this.live.get(key)?.object);
      for (const held of this.sources.values()) held.delete(key);
      this.holders.delete(key);
      this.live.delete(key);
    }
    return this.finish(t);
  }

  /** Make `sourceId` hold exactly `objects`: add and update them, delete what it held before but not now. */
  replaceSource(sourceId: string, objects: readonly MeshObject[]): ChangeSet {
    const t = new ChangeTracker();
    const keep = new Set(objects.map(keyOf));
    for (const key of [...(this.sources.get(sourceId)?.keys() ?? [])]) {
      if (!keep.has(key)) this.drop(t, key, sourceId);
    }
    for (const o of objects) this.write(t, o, sourceId);
    if (this.sources.get(sourceId)?.size === 0) this.sources.delete(sourceId);
    return this.finish(t);
  }

  get(key: ObjectKey): MeshObject | undefined {
    return this.live.get(key)?.object;
  }

  /** All objects (or those of one kind), sorted by key. */
  list(kind?: Kind): MeshObject[] {
    return [...this.live.entries()]
      .filter(([, e]) => kind === undefined || e.object.kind === kind)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, e]) => e.object);
  }

  /** All objects in no particular order: a cheap copy for readers that sort for themselves (buildMesh). */
  unsorted(): MeshObject[] {
    return Array.from(this.live.values(), (e) => e.object);
  }

  get size(): number {
    return this.live.size;
  }

  /** Call `listener` with every non-empty change set; returns the unsubscribe function. */
  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private write(t: ChangeTracker, o: MeshObject, sourceId: string): void {
    const key = keyOf(o);
    t.touch(key, this.live.get(key)?.object);
    let held = this.sources.get(sourceId);
    if (!held) this.sources.set(sourceId, (held = new Map()));
    if (!held.has(key)) this.holders.set(key, (this.holders.get(key) ?? 0) + 1);
    held.set(key, o);
    // Even an equal write replaces the stored copy, so its origin (file:line) stays current.
    this.live.set(key, { object: o, source: sourceId });
  }

  private drop(t: ChangeTracker, key: ObjectKey, sourceId: string): void {
    t.touch(key, this.live.get(key)?.object);
    if (this.sources.get(sourceId)?.delete(key)) {
      const left = (this.holders.get(key) ?? 1) - 1;
      if (left > 0) this.holders.set(key, left);
      else this.holders.delete(key);
    }
    if (this.live.get(key)?.source !== sourceId) return;
    // Held by no other source (the usual case): gone, without a look at the
    // other sources (a big file leaves the store as 64 shards of thousands of
    // keys each, and each key used to be looked up in every source).
    if (!this.holders.has(key)) {
      this.live.delete(key);
      return;
    }
    // The first other source (by id) holding the key takes over.
    let fallback: string | undefined;
    for (const [id, held] of this.sources) if (held.has(key) && (fallback === undefined || id < fallback)) fallback = id;
    if (fallback !== undefined) this.live.set(key, { object: this.sources.get(fallback)!.get(key) as MeshObject, source: fallback });
    else this.live.delete(key);
  }

  private finish(t: ChangeTracker): ChangeSet {
    const changes = t.result((key) => this.live.get(key)?.object);
    if (!isEmptyChangeSet(changes)) for (const l of [...this.listeners]) l(changes);
    return changes;
  }
}
