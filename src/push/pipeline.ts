/**
 * The push pipeline: store change sets → debounced push requests → mesh model →
 * one snapshot per proxy view (group) → SnapshotCache → streams.
 *
 * - Proxies with the same `proxyViewKey` share a group and one snapshot; groups
 *   that answer every question generation asks of a proxy alike (a ViewIndex
 *   per mesh) share one generation.
 * - Endpoint-only changes regenerate EDS only; the other three types keep their
 *   snapshot objects, so the server sends nothing for them.
 * - Resources are interned by content (EncodeCache): a config change encodes
 *   only the resources whose content changed, whatever the number of views.
 * - A group whose generation fails keeps its last good snapshot.
 */
import { ConfigStore, ChangeSet, isEmptyChangeSet } from "../store";
import { Diagnostic, uniqueDiagnostics } from "../model/types";
import { BuildMeshOptions, Mesh, buildMesh } from "../model/mesh";
import { ProxyView, parseProxy, proxyViewKey } from "../model/proxy";
import { generate, generateEndpoints } from "../generate";
import { ViewIndex } from "../generate/view-key";
import { EncodeCache } from "../xds/encode-cache";
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, XdsTypeUrl } from "../xds/types";
import { Snapshot, TypeSnapshot, makeSnapshot, makeTypeSnapshot, replaceTypes } from "../cache/snapshot";
import { NodeInfo, Resolution, SnapshotCache } from "../cache/snapshot-cache";
import { Clock, Debouncer, realClock } from "./debounce";
import { PushRequest, mergeRequests, requestFor } from "./request";

export interface PipelineOptions {
  debounceAfterMs?: number;
  debounceMaxMs?: number;
  mesh?: BuildMeshOptions;
  clock?: Clock;
  log?: { info(o: object, msg: string): void; warn(o: object, msg: string): void; error(o: object, msg: string): void };
  /** Called after every push with what it did (tests, metrics). */
  onPush?(p: PushReport): void;
  /** Called for each proxy that resolves (a stream's first request), with the mesh it is served from (serve logs hints). */
  onProxy?(proxy: ProxyView, mesh: Mesh): void;
}

export interface PushReport {
  full: boolean;
  reasons: Record<string, number>;
  groups: number;
  changedGroups: number;
  encodes: number;
  ms: number;
}

interface Group {
  proxy: ProxyView;
  snapshot?: Snapshot;
  /** What the generator left out for this view, and why. */
  diagnostics: Diagnostic[];
}

interface FullGeneration {
  snapshot: Snapshot;
  diagnostics: Diagnostic[];
}

/** The generations of one mesh, shared by every group that answers alike. */
interface MeshViews {
  full: ViewIndex<FullGeneration>;
  endpoints: ViewIndex<TypeSnapshot>;
}

const newViews = (): MeshViews => ({ full: new ViewIndex(), endpoints: new ViewIndex() });

export class PushPipeline {
  readonly cache: SnapshotCache;
  private readonly encoder = new EncodeCache();
  /** Groups with at least one connected proxy (and the one being resolved). */
  private readonly groups = new Map<string, Group>();
  private readonly debouncer: Debouncer<PushRequest>;
  private mesh: Mesh;
  private views = newViews();
  private meshDiagnostics: Diagnostic[] = [];
  private readonly unsubscribe: () => void;
  pushes = 0;

  constructor(
    private readonly store: ConfigStore,
    private readonly opts: PipelineOptions = {},
  ) {
    this.cache = new SnapshotCache((node) => this.resolve(node), {
      onFirstWatch: (g) => this.buildGroup(g),
      // The last proxy of a group went away: forget its view and snapshot, so
      // memory follows the proxies connected now, not every one ever seen.
      onLastUnwatch: (g) => {
        this.groups.delete(g);
        this.cache.forget(g);
      },
    });
    this.debouncer = new Debouncer<PushRequest>(
      { afterMs: opts.debounceAfterMs ?? 100, maxMs: opts.debounceMaxMs ?? 10_000 },
      mergeRequests,
      (r) => this.push(r),
      opts.clock ?? realClock,
    );
    const built = buildMesh(store.list(), opts.mesh);
    this.mesh = built.mesh;
    this.meshDiagnostics = built.diagnostics;
    this.unsubscribe = store.subscribe((c: ChangeSet) => {
      if (!isEmptyChangeSet(c)) this.debouncer.push(requestFor(c));
    });
  }

  /** Cross-object diagnostics of the mesh, then per-view ones (a gateway server left out, a route gRPC refuses). */
  diagnostics(): Diagnostic[] {
    return uniqueDiagnostics([...this.meshDiagnostics, ...[...this.groups.values()].flatMap((g) => g.diagnostics)]);
  }

  /** The snapshot a connected node id currently gets. */
  snapshotForNode(nodeId: string): Snapshot | undefined {
    const g = this.cache.groupOfNode(nodeId);
    return g ? this.groups.get(g)?.snapshot : undefined;
  }

  /** The mesh model the current snapshots were built from (the mesh page draws it). */
  currentMesh(): Mesh {
    return this.mesh;
  }

  groupCount(): number {
    return this.groups.size;
  }

  /** Push whatever is pending now (shutdown, tests). */
  flush(): void {
    this.debouncer.flush();
  }

  stop(): void {
    this.unsubscribe();
    this.debouncer.stop();
  }

  private resolve(node: NodeInfo): Resolution {
    const parsed = parseProxy(node.id, node.metadata);
    if (!parsed.ok) return { ok: false, error: parsed.error };
    this.opts.onProxy?.(parsed.proxy, this.mesh);
    const key = proxyViewKey(parsed.proxy);
    // A stream watches the group right after resolving; the watch (not this) keeps it alive.
    if (!this.groups.has(key)) this.groups.set(key, { proxy: parsed.proxy, diagnostics: [] });
    return { ok: true, group: key };
  }

  private buildGroup(key: string): void {
    const g = this.groups.get(key);
    if (!g) return;
    this.regenerate(key, g, true);
  }

  private push(req: PushRequest): void {
    const started = performance.now();
    const encodesBefore = this.encoder.encodes;
    // Endpoint data lives in the mesh index too, so every push rebuilds it.
    const built = buildMesh(this.store.list(), this.opts.mesh);
    this.mesh = built.mesh;
    this.views = newViews();
    this.meshDiagnostics = built.diagnostics;
    let changed = 0;
    for (const [key, g] of this.groups) if (this.regenerate(key, g, req.full)) changed++;
    this.pushes++;
    const report: PushReport = {
      full: req.full,
      reasons: req.reasons,
      groups: this.groups.size,
      changedGroups: changed,
      encodes: this.encoder.encodes - encodesBefore,
      ms: Math.round((performance.now() - started) * 10) / 10,
    };
    this.opts.log?.info(report, req.full ? "pushed config" : "pushed endpoints");
    this.opts.onPush?.(report);
  }

  /** Returns whether the group's snapshot changed. */
  private regenerate(key: string, g: Group, full: boolean): boolean {
    let next: Snapshot;
    try {
      if (full || !g.snapshot) {
        const out = this.views.full.get(g.proxy, (view) => this.fullGeneration(view));
        next = out.snapshot;
        g.diagnostics = out.diagnostics;
      } else {
        next = this.endpointSnapshot(g.snapshot, g.proxy);
      }
    } catch (e) {
      this.opts.log?.error({ group: key, err: (e as Error).message }, "generation failed; keeping the last good snapshot");
      return false;
    }
    const changed = g.snapshot?.version !== next.version;
    g.snapshot = next;
    this.cache.set(key, next);
    return changed;
  }

  private fullGeneration(proxy: ProxyView): FullGeneration {
    const out = generate(this.mesh, proxy);
    const snapshot = makeSnapshot([
      ...this.encodeAll(LISTENER, out.listeners),
      ...this.encodeAll(ROUTE, out.routes),
      ...this.encodeAll(CLUSTER, out.clusters),
      ...this.encodeAll(ENDPOINT, out.endpoints),
    ]);
    return { snapshot, diagnostics: out.diagnostics ?? [] };
  }

  /** The group's snapshot with this mesh's EDS; the other types are kept as they are. */
  private endpointSnapshot(base: Snapshot, proxy: ProxyView): Snapshot {
    const eds = this.views.endpoints.get(proxy, (view) => makeTypeSnapshot(this.encodeAll(ENDPOINT, generateEndpoints(this.mesh, view))));
    return eds.version === base.types[ENDPOINT].version ? base : replaceTypes(base, { [ENDPOINT]: eds });
  }

  private encodeAll(t: XdsTypeUrl, objects: object[]) {
    return objects.map((o) => this.encoder.encode(t, o));
  }
}
