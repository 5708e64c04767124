/**
 * What the server sees of the config side: which group a proxy belongs to, and
 * that group's snapshots over time. Producers see only `SnapshotCache.set`.
 * Proxies in one group share one snapshot object (and so its encoded bytes).
 */
import { Snapshot } from "./snapshot";

/** The identity a proxy sends in `node` on its first request. */
export interface NodeInfo {
  id: string;
  cluster: string;
  /** `node.metadata` as plain JSON. */
  metadata: Record<string, unknown>;
  locality?: { region?: string; zone?: string; sub_zone?: string };
  userAgent?: string;
}

export type Resolution = { ok: true; group: string } | { ok: false; error: string };

export interface SnapshotSource {
  /** Which group a connecting proxy belongs to, or why it cannot be served. */
  resolve(node: NodeInfo): Resolution;
  /**
   * Calls `onSnapshot` with the group's snapshot now (if there is one) and on
   * every change; returns the function that stops watching. `nodeId` names the
   * watching proxy, so the source knows which group each connected node is in.
   */
  watch(group: string, onSnapshot: (s: Snapshot) => void, nodeId?: string): () => void;
}

export interface GroupHooks {
  /** A group gained its first watcher: the producer should build its snapshot. */
  onFirstWatch?(group: string): void;
  /** A group lost its last watcher: the producer may forget it. */
  onLastUnwatch?(group: string): void;
}

/**
 * Snapshots by group, with watchers; `set` is the producers' only entry point.
 * Only connected proxies are remembered: a node id is forgotten when its last
 * stream goes, so memory follows the proxies connected now, not all ever seen.
 */
export class SnapshotCache implements SnapshotSource {
  private readonly snapshots = new Map<string, Snapshot>();
  private readonly watchers = new Map<string, Set<(s: Snapshot) => void>>();
  /** Connected node id -> its latest group and how many streams it has open. */
  private readonly nodes = new Map<string, { group: string; streams: number }>();

  constructor(
    private readonly resolver: (node: NodeInfo) => Resolution,
    private readonly hooks: GroupHooks = {},
  ) {}

  resolve(node: NodeInfo): Resolution {
    return this.resolver(node);
  }

  set(group: string, snapshot: Snapshot): void {
    if (this.snapshots.get(group) === snapshot) return;
    const before = this.snapshots.get(group);
    this.snapshots.set(group, snapshot);
    if (before && before.version === snapshot.version) return;
    for (const w of this.watchers.get(group) ?? []) w(snapshot);
  }

  get(group: string): Snapshot | undefined {
    return this.snapshots.get(group);
  }

  /** Drop a group's snapshot (its producer forgot the group). */
  forget(group: string): void {
    this.snapshots.delete(group);
  }

  groups(): string[] {
    return [...this.watchers.keys()].sort();
  }

  /** The group a connected node id is in (its latest stream's). */
  groupOfNode(nodeId: string): string | undefined {
    return this.nodes.get(nodeId)?.group;
  }

  /** Groups holding a snapshot (debug, tests). */
  get snapshotCount(): number {
    return this.snapshots.size;
  }

  /** Connected node ids (debug, tests). */
  get nodeCount(): number {
    return this.nodes.size;
  }

  watch(group: string, onSnapshot: (s: Snapshot) => void, nodeId?: string): () => void {
    let set = this.watchers.get(group);
    const first = !set;
    if (!set) this.watchers.set(group, (set = new Set()));
    set.add(onSnapshot);
    if (nodeId !== undefined) {
      const n = this.nodes.get(nodeId);
      this.nodes.set(nodeId, { group, streams: (n?.streams ?? 0) + 1 });
    }
    const before = this.snapshots.get(group);
    if (first) this.hooks.onFirstWatch?.(group);
    const current = this.snapshots.get(group);
    // A producer that builds the snapshot inside onFirstWatch calls set(), which
    // has already handed it to this watcher; deliver only what it has not seen.
    const deliveredBySet = current !== before && current !== undefined && before?.version !== current.version;
    if (current && !deliveredBySet) onSnapshot(current);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (nodeId !== undefined) {
        const n = this.nodes.get(nodeId);
        if (n && --n.streams <= 0) this.nodes.delete(nodeId);
      }
      const s = this.watchers.get(group);
      if (!s || !s.delete(onSnapshot) || s.size > 0) return;
      this.watchers.delete(group);
      this.hooks.onLastUnwatch?.(group);
    };
  }
}
