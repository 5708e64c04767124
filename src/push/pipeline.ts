/**
 * The push pipeline: store change sets → debounced push requests → mesh model →
 * one snapshot per proxy view (group) → SnapshotCache → streams.
 *
 * - Proxies with the same `proxyViewKey` share a group and one snapshot; groups
 *   that answer every question generation asks of a proxy alike (a ViewIndex
 *   per mesh) share one generation.
 * - Endpoint-only changes regenerate EDS only, Secret-only changes SDS only;
 *   the other types keep their snapshot objects, so the server sends nothing
 *   for them.
 * - Resources are interned by content (EncodeCache): a config change encodes
 *   only the resources whose content changed, whatever the number of views.
 * - A group whose generation fails keeps its last good snapshot.
 */
import { ConfigStore, ChangeSet, isEmptyChangeSet } from "../store";
import { Diagnostic, uniqueDiagnostics } from "../model/types";
import { BuildMeshOptions, Mesh, buildMesh } from "../model/mesh";
import { ProxyView, parseProxy, proxyViewKey } from "../model/proxy";
import { clusterAffectingEndpointFacts } from "../model/mesh-mtls";
import { generate, generateEndpoints } from "../generate";
import { ViewIndex } from "../generate/view-key";
import { EncodeCache } from "../xds/encode-cache";
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET, XdsTypeUrl } from "../xds/types";
import { Snapshot, TypeSnapshot, makeSnapshot, makeTypeSnapshot, replaceTypes } from "../cache/snapshot";
import { NodeInfo, Resolution, SnapshotCache } from "../cache/snapshot-cache";
import { Clock, Debouncer, realClock } from "./debounce";
import { PushRequest, changesEndpoints, changesSecrets, mergeRequests, requestFor } from "./request";
import { Credentials, credentialSecrets } from "../generate/secrets";

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
  /** SDS names its config refers to, and what is wrong with their Secrets (rebuilt alone when only Secrets change). */
  secretNames: string[];
  secretDiagnostics: Diagnostic[];
}

interface FullGeneration {
  snapshot: Snapshot;
  diagnostics: Diagnostic[];
  credentials?: Credentials;
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
  /** The mesh options in force (mesh config + flags); replaced by setMeshOptions. */
  private meshOptions: BuildMeshOptions;
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
    this.meshOptions = opts.mesh ?? {};
    const built = buildMesh(store.list(), this.meshOptions);
    this.mesh = built.mesh;
    this.meshDiagnostics = built.diagnostics;
    this.unsubscribe = store.subscribe((c: ChangeSet) => {
      if (!isEmptyChangeSet(c)) this.debouncer.push(requestFor(c));
    });
  }

  /** Cross-object diagnostics of the mesh, then per-view ones (a gateway server left out, a route gRPC refuses). */
  diagnostics(): Diagnostic[] {
    return uniqueDiagnostics([...this.meshDiagnostics, ...[...this.groups.values()].flatMap((g) => [...g.diagnostics, ...g.secretDiagnostics])]);
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

  /** New mesh options (a mesh config edit): every proxy's config is regenerated, debounced like any change. */
  setMeshOptions(mesh: BuildMeshOptions): void {
    this.meshOptions = mesh;
    this.debouncer.push({ full: true, reasons: { MeshConfig: 1 } });
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
    if (!this.groups.has(key)) this.groups.set(key, { proxy: parsed.proxy, diagnostics: [], secretNames: [], secretDiagnostics: [] });
    return { ok: true, group: key };
  }

  private buildGroup(key: string): void {
    const g = this.groups.get(key);
    if (!g) return;
    this.regenerate(key, g, undefined);
  }

  /** `clusterAffectingEndpointFacts` of `this.mesh`, once computed. */
  private meshFacts: string | undefined;

  private push(req: PushRequest): void {
    const started = performance.now();
    const encodesBefore = this.encoder.encodes;
    // Endpoint data lives in the mesh index too, so every push rebuilds it.
    const built = buildMesh(this.store.list(), this.meshOptions);
    // Endpoints that change a service's identities (mTLS SANs) change clusters too: push everything.
    const facts = clusterAffectingEndpointFacts(built.mesh);
    const full = req.full || facts !== (this.meshFacts ??= clusterAffectingEndpointFacts(this.mesh));
    this.meshFacts = facts;
    this.mesh = built.mesh;
    this.views = newViews();
    this.meshDiagnostics = built.diagnostics;
    let changed = 0;
    const secretsByView = new Map<string, Credentials>();
    const effective: PushRequest = full === req.full ? req : { ...req, full };
    for (const [key, g] of this.groups) if (this.regenerate(key, g, effective, secretsByView)) changed++;
    this.pushes++;
    const report: PushReport = {
      full,
      reasons: req.reasons,
      groups: this.groups.size,
      changedGroups: changed,
      encodes: this.encoder.encodes - encodesBefore,
      ms: Math.round((performance.now() - started) * 10) / 10,
    };
    const only = [changesEndpoints(req) && "endpoints", changesSecrets(req) && "secrets"].filter(Boolean).join(" and ");
    this.opts.log?.info(report, full ? "pushed config" : `pushed ${only}`);
    this.opts.onPush?.(report);
  }

  /**
   * Returns whether the group's snapshot changed. `req` undefined: a new group.
   * `secretsByView` shares one SDS build among groups of a namespace that name the same secrets.
   */
  private regenerate(key: string, g: Group, req: PushRequest | undefined, secretsByView = new Map<string, Credentials>()): boolean {
    let next: Snapshot;
    try {
      if (!req || req.full || !g.snapshot) {
        const out = this.views.full.get(g.proxy, (view) => this.fullGeneration(view));
        next = out.snapshot;
        g.diagnostics = out.diagnostics;
        g.secretNames = out.credentials?.names ?? [];
        g.secretDiagnostics = out.credentials?.diagnostics ?? [];
      } else {
        next = g.snapshot;
        if (changesEndpoints(req)) next = this.endpointSnapshot(next, g.proxy);
        if (changesSecrets(req)) next = this.secretSnapshot(next, g, secretsByView);
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
      ...this.encodeAll(SECRET, out.credentials?.secrets ?? []),
    ]);
    return { snapshot, diagnostics: out.diagnostics ?? [], ...(out.credentials ? { credentials: out.credentials } : {}) };
  }

  /**
   * The group's snapshot with this mesh's SDS for the names its config already
   * refers to; listeners and clusters name secrets, not their content, so
   * nothing else can change when only Secrets did.
   */
  private secretSnapshot(base: Snapshot, g: Group, secretsByView: Map<string, Credentials>): Snapshot {
    if (g.secretNames.length === 0) return base;
    const viewKey = `${g.proxy.namespace}\n${g.secretNames.join("\n")}`;
    let c = secretsByView.get(viewKey);
    if (!c) secretsByView.set(viewKey, (c = credentialSecrets(this.mesh, g.proxy.namespace, g.secretNames)));
    g.secretDiagnostics = c.diagnostics;
    const sds = makeTypeSnapshot(this.encodeAll(SECRET, c.secrets));
    return sds.version === base.types[SECRET].version ? base : replaceTypes(base, { [SECRET]: sds });
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
