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
 * - Resources that do not depend on the proxy are generated once and shared
 *   by every view (generate/shared.ts), and kept across pushes as far as the
 *   change allows (incremental.ts): a VirtualService edit rebuilds route
 *   configs and outbound listeners, not clusters or endpoints.
 * - A group whose generation fails keeps its last good snapshot.
 * - A big mesh is pushed in slices (model build, then one group at a time),
 *   returning to the event loop every SLICE_MS, so /healthz, /ready and xDS
 *   answer while 100,000 Services are indexed. Small meshes are pushed in one
 *   go, synchronously, as before. One push runs at a time; requests that come
 *   in meanwhile are merged and pushed right after it.
 */
import { ConfigStore, ChangeSet, isEmptyChangeSet } from "../store";
import { Diagnostic, MeshObject, uniqueDiagnostics } from "../model/types";
import { BuildMeshOptions, Mesh, buildMesh, buildMeshSteps } from "../model/mesh";
import type { Steps } from "../model/steps";
import { ProxyView, parseProxy, proxyViewKey, withWorkloadLocality } from "../model/proxy";
import { clusterAffectingEndpointFactsSteps } from "../model/mesh-mtls";
import { generate, generateEndpoints, generateSidecarRoutes, warmSidecarSteps, type Generated } from "../generate";
import type { EncodedResource } from "../xds/resource";
import { ViewIndex } from "../generate/view-key";
import { EncodeCache } from "../xds/encode-cache";
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET, XdsTypeUrl } from "../xds/types";
import { EMPTY_SNAPSHOT, Snapshot, TypeSnapshot, makeTypeSnapshot, replaceTypes } from "../cache/snapshot";
import { NodeInfo, Resolution, SnapshotCache } from "../cache/snapshot-cache";
import { Clock, Debouncer, realClock } from "./debounce";
import { PushRequest, changesEndpoints, changesSecrets, mergeRequests, requestFor } from "./request";
import { Credentials, credentialSecrets } from "../generate/secrets";
import { MemoryReleaser } from "./release-memory";
import { CarryReport, carrySharedResources } from "./incremental";

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
  /** A push over at least this many objects runs in slices (default 5,000); smaller ones run in one go. */
  sliceAboveObjects?: number;
  /** Longest stretch of push work between returns to the event loop (default SLICE_MS). */
  sliceMs?: number;
  /**
   * Build no snapshot until prime() (serve: until the source was read once), so
   * a proxy that connects early waits instead of getting a half-read config.
   */
  holdUntilPrimed?: boolean;
  /** After the mesh drops by 10,000+ objects and half, run one full GC (see release-memory.ts). serve sets it. */
  releaseMemoryAfterDrops?: boolean;
}

/** Longest stretch of a sliced push between returns to the event loop. */
export const SLICE_MS = 10;

export interface PushReport {
  full: boolean;
  reasons: Record<string, number>;
  groups: number;
  changedGroups: number;
  encodes: number;
  ms: number;
  /** Times the push returned to the event loop (0: it ran in one go). */
  slices: number;
  /** Of ms: building the mesh model and deciding what to keep (the rest is generating, encoding and publishing). */
  meshMs: number;
  /** Process CPU (user + system) over the push, and over its model part (meshMs): the rest is the views'. */
  cpuMs: number;
  meshCpuMs: number;
  /** What was kept of the previous mesh's shared resources (push/incremental.ts). */
  carried: CarryReport;
}

interface Group {
  proxy: ProxyView;
  snapshot?: Snapshot;
  /** What the generator left out for this view, and why. */
  diagnostics: Diagnostic[];
  /** SDS names its config refers to, and what is wrong with their Secrets (rebuilt alone when only Secrets change). */
  secretNames: string[];
  secretDiagnostics: Diagnostic[];
  /** Its last generation failed: its snapshot is of an older mesh, so only a full generation may replace it. */
  failed?: boolean;
}

interface FullGeneration {
  snapshot: Snapshot;
  diagnostics: Diagnostic[];
  credentials?: Credentials;
}

/**
 * One view's generation: generated in one step (recording the view's answers),
 * then encoded in slices. The generator's output is dropped once encoded.
 */
interface Generation<Raw, Encoded> {
  raw?: Raw;
  encoded?: Encoded;
}

/** The generations of one mesh, shared by every group that answers alike. */
interface MeshViews {
  full: ViewIndex<Generation<Generated, FullGeneration>>;
  endpoints: ViewIndex<Generation<ReturnType<typeof generateEndpoints>, TypeSnapshot>>;
  routes: ViewIndex<Generation<ReturnType<typeof generateSidecarRoutes>, TypeSnapshot>>;
}

const newViews = (): MeshViews => ({ full: new ViewIndex(), endpoints: new ViewIndex(), routes: new ViewIndex() });

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
  /** The push running now (sliced pushes take several turns of the event loop). */
  private running?: Promise<void>;
  /** Requests that came in while a push was running: merged, pushed right after it. */
  private queued?: PushRequest;
  private stopped = false;
  /** Objects the last push was built from (a big drop releases memory). */
  private objectCount = 0;
  private readonly releaser?: MemoryReleaser;
  private primed: boolean;
  private pushedSincePrimed: boolean;
  /** The last push was big enough to be sliced: so is building a newly connected group. */
  private bigMesh = false;
  /** Returns to the event loop by the running push. */
  private slicesOfPush = 0;
  pushes = 0;

  constructor(
    private readonly store: ConfigStore,
    private readonly opts: PipelineOptions = {},
  ) {
    this.primed = this.pushedSincePrimed = !opts.holdUntilPrimed;
    if (opts.releaseMemoryAfterDrops) this.releaser = new MemoryReleaser(opts.log ? { log: opts.log } : {});
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
    const built = buildMesh(store.unsorted(), this.meshOptions);
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

  /** Push whatever is pending now (shutdown, tests). A small mesh is pushed before this returns; see settled(). */
  flush(): void {
    this.debouncer.flush();
  }

  /** The source has been read once: push everything, and build snapshots from now on. Resolves when that push is done. */
  prime(): Promise<void> {
    this.debouncer.flush(); // still held: joins the queued request
    this.primed = true;
    const held = this.queued;
    this.queued = undefined;
    this.push(held ? { ...held, full: true } : { full: true, reasons: {} });
    return this.settled();
  }

  /** Has a push run since prime() (always true unless holdUntilPrimed)? /ready waits for it. */
  get hasPushed(): boolean {
    return this.pushedSincePrimed;
  }

  /** Resolves once no push is running or queued. */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  stop(): void {
    this.stopped = true;
    this.releaser?.stop();
    this.unsubscribe();
    this.debouncer.stop();
  }

  private resolve(node: NodeInfo): Resolution {
    const parsed = parseProxy(node.id, node.metadata, node.locality);
    if (!parsed.ok) return { ok: false, error: parsed.error };
    const proxy = withWorkloadLocality(parsed.proxy, this.mesh);
    this.opts.onProxy?.(proxy, this.mesh);
    const key = proxyViewKey(proxy);
    // A stream watches the group right after resolving; the watch (not this) keeps it alive.
    if (!this.groups.has(key)) this.groups.set(key, { proxy, diagnostics: [], secretNames: [], secretDiagnostics: [] });
    return { ok: true, group: key };
  }

  /** A group's first proxy connected: build its snapshot (in slices when the mesh is big). */
  private buildGroup(key: string): void {
    const g = this.groups.get(key);
    // Not primed: the first push builds it.
    if (!g || !this.primed) return;
    this.drive(this.regenerateSteps(key, g, undefined), this.bigMesh ? (this.opts.sliceMs ?? SLICE_MS) : Infinity, () => undefined);
  }

  /** `clusterAffectingEndpointFacts` of `this.mesh`, once computed. */
  private meshFacts: string | undefined;

  private push(req: PushRequest): void {
    if (this.stopped) return;
    if (this.running || !this.primed) {
      this.queued = this.queued ? mergeRequests(this.queued, req) : req;
      return;
    }
    const objects = this.store.unsorted();
    const sliced = objects.length >= (this.opts.sliceAboveObjects ?? 5000);
    this.bigMesh = sliced;
    let done!: () => void;
    const running = new Promise<void>((resolve) => (done = resolve));
    this.running = running;
    const finish = () => {
      if (this.running === running) this.running = undefined;
      this.pushedSincePrimed = true;
      done();
      const next = this.queued;
      this.queued = undefined;
      if (next) this.push(next);
    };
    this.drive(this.pushSteps(req, objects), sliced ? (this.opts.sliceMs ?? SLICE_MS) : Infinity, finish);
  }

  /**
   * Run steps until done, returning to the event loop whenever a slice of
   * `sliceMs` is used up (Infinity: all in one go, before this returns).
   */
  private drive(steps: Steps<unknown>, sliceMs: number, finish: () => void): void {
    const slice = () => {
      const start = performance.now();
      try {
        for (;;) {
          if (this.stopped) return finish();
          const r = steps.next();
          if (r.done) return finish();
          if (performance.now() - start >= sliceMs) {
            this.slicesOfPush++;
            setImmediate(slice);
            return;
          }
        }
      } catch (e) {
        this.opts.log?.error({ err: (e as Error).message }, "push failed; keeping the last good snapshots");
        finish();
      }
    };
    slice();
  }

  private *pushSteps(req: PushRequest, objects: MeshObject[]): Steps<void> {
    const started = performance.now();
    const cpuStarted = process.cpuUsage();
    this.slicesOfPush = 0;
    const encodesBefore = this.encoder.encodes;
    // Endpoint data lives in the mesh index too, so every push rebuilds it.
    const steps = buildMeshSteps(objects, this.meshOptions);
    let r = steps.next();
    for (; !r.done; r = steps.next()) yield;
    const built = r.value;
    // Endpoints that change a service's identities (mTLS SANs) change clusters too: push everything.
    const facts = yield* clusterAffectingEndpointFactsSteps(built.mesh);
    this.meshFacts ??= yield* clusterAffectingEndpointFactsSteps(this.mesh);
    const factsChanged = facts !== this.meshFacts;
    const full = req.full || factsChanged;
    this.meshFacts = facts;
    // What generation shared under the old mesh and the change left valid is kept (incremental.ts).
    const carried = carrySharedResources(this.mesh, built.mesh, req, factsChanged);
    const meshMs = performance.now() - started;
    const meshCpu = process.cpuUsage(cpuStarted);
    // Groups that resolve from here on are built from the new mesh.
    this.mesh = built.mesh;
    this.views = newViews();
    this.meshDiagnostics = built.diagnostics;
    this.releaser?.shrank(this.objectCount, objects.length);
    this.objectCount = objects.length;
    let changed = 0;
    // One SDS build is shared among groups of a namespace that name the same secrets.
    const secretsByView = new Map<string, Credentials>();
    const effective: PushRequest = { ...req, full, ...(carried.sidecarRoutesOnly && !factsChanged ? { sidecarRoutesOnly: true } : {}) };
    for (const [key, g] of this.groups) {
      // The group may have gone (its last proxy left) while the push was between slices.
      if (this.groups.get(key) !== g) continue;
      if (yield* this.regenerateSteps(key, g, effective, secretsByView)) changed++;
      yield;
    }
    this.pushes++;
    const report: PushReport = {
      full,
      reasons: req.reasons,
      groups: this.groups.size,
      changedGroups: changed,
      encodes: this.encoder.encodes - encodesBefore,
      ms: Math.round((performance.now() - started) * 10) / 10,
      slices: this.slicesOfPush,
      meshMs: Math.round(meshMs * 10) / 10,
      cpuMs: Math.round(cpuMs(process.cpuUsage(cpuStarted))),
      meshCpuMs: Math.round(cpuMs(meshCpu)),
      carried,
    };
    const only = [changesEndpoints(req) && "endpoints", changesSecrets(req) && "secrets"].filter(Boolean).join(" and ");
    this.opts.log?.info(report, full ? "pushed config" : `pushed ${only}`);
    this.opts.onPush?.(report);
  }

  /**
   * Regenerate a group's snapshot from the current mesh; returns whether it
   * changed. `req` undefined: a new group (built in full). Generation is one
   * step; encoding yields every ENCODE_YIELD_EVERY resources. If a newer mesh
   * was swapped in meanwhile, or the group went away, the result is dropped
   * (the push of that mesh sets the group).
   */
  private *regenerateSteps(key: string, g: Group, req: PushRequest | undefined, secretsByView = new Map<string, Credentials>()): Steps<boolean> {
    const mesh = this.mesh;
    const views = this.views;
    let next: Snapshot;
    let diagnostics = g.diagnostics;
    let secretNames = g.secretNames;
    let secretDiagnostics = g.secretDiagnostics;
    try {
      const routesOnly = req?.sidecarRoutesOnly === true && !g.failed && g.proxy.kind === "sidecar" && g.proxy.generator !== "grpc";
      if (!req || (req.full && !routesOnly) || !g.snapshot) {
        // A big mesh's first view builds the shared resources: in slices first, so generate() then mostly finds them.
        if (this.bigMesh && !views.full.find(g.proxy)) yield* warmSidecarSteps(mesh, g.proxy);
        const gen = views.full.get(g.proxy, (view) => ({ raw: generate(mesh, view) }));
        if (!gen.encoded) {
          const raw = gen.raw!;
          const types: Partial<Record<XdsTypeUrl, TypeSnapshot>> = {};
          for (const [t, list] of [
            [LISTENER, raw.listeners],
            [ROUTE, raw.routes],
            [CLUSTER, raw.clusters],
            [ENDPOINT, raw.endpoints],
            [SECRET, raw.credentials?.secrets ?? []],
          ] as [XdsTypeUrl, readonly object[]][])
            types[t] = yield* this.typeSnapshotSteps(t, list);
          gen.encoded ??= {
            snapshot: replaceTypes(EMPTY_SNAPSHOT, types),
            diagnostics: raw.diagnostics ?? [],
            ...(raw.credentials ? { credentials: raw.credentials } : {}),
          };
          gen.raw = undefined;
        }
        next = gen.encoded.snapshot;
        diagnostics = gen.encoded.diagnostics;
        secretNames = gen.encoded.credentials?.names ?? [];
        secretDiagnostics = gen.encoded.credentials?.diagnostics ?? [];
      } else {
        let eds: TypeSnapshot | undefined;
        let rds: TypeSnapshot | undefined;
        if (routesOnly) {
          const gen = views.routes.get(g.proxy, (view) => ({ raw: generateSidecarRoutes(mesh, view) }));
          if (!gen.encoded) {
            const types = yield* this.typeSnapshotSteps(ROUTE, gen.raw!);
            gen.encoded ??= types;
            gen.raw = undefined;
          }
          rds = gen.encoded;
        }
        if (changesEndpoints(req)) {
          const gen = views.endpoints.get(g.proxy, (view) => ({ raw: generateEndpoints(mesh, view) }));
          if (!gen.encoded) {
            const eds = yield* this.typeSnapshotSteps(ENDPOINT, gen.raw!);
            gen.encoded ??= eds;
            gen.raw = undefined;
          }
          eds = gen.encoded;
        }
        // The group's snapshot as it is now (another build may have set it while this one was encoding).
        next = g.snapshot!;
        if (eds && eds.version !== next.types[ENDPOINT].version) next = replaceTypes(next, { [ENDPOINT]: eds });
        // Groups that had one snapshot and get the same RDS share the new snapshot too.
        if (rds && rds.version !== next.types[ROUTE].version) next = this.derivedSnapshot(next, ROUTE, rds);
        if (changesSecrets(req)) {
          const sds = this.secretTypeSnapshot(mesh, g, secretsByView);
          if (sds) {
            secretDiagnostics = sds.diagnostics;
            if (sds.snapshot.version !== next.types[SECRET].version) next = replaceTypes(next, { [SECRET]: sds.snapshot });
          }
        }
      }
    } catch (e) {
      this.opts.log?.error({ group: key, err: (e as Error).message }, "generation failed; keeping the last good snapshot");
      if (this.mesh === mesh && this.groups.get(key) === g) g.failed = true;
      return false;
    }
    if (this.mesh !== mesh || this.groups.get(key) !== g) return false;
    const changed = g.snapshot?.version !== next.version;
    g.snapshot = next;
    g.failed = false;
    g.diagnostics = diagnostics;
    g.secretNames = secretNames;
    g.secretDiagnostics = secretDiagnostics;
    this.cache.set(key, next);
    return changed;
  }

  /**
   * This mesh's SDS for the names the group's config already refers to;
   * listeners and clusters name secrets, not their content, so nothing else
   * can change when only Secrets did. Undefined when it names none.
   */
  private secretTypeSnapshot(mesh: Mesh, g: Group, secretsByView: Map<string, Credentials>): { snapshot: TypeSnapshot; diagnostics: Diagnostic[] } | undefined {
    if (g.secretNames.length === 0) return undefined;
    const viewKey = `${g.proxy.namespace}\n${g.secretNames.join("\n")}`;
    let c = secretsByView.get(viewKey);
    if (!c) secretsByView.set(viewKey, (c = credentialSecrets(mesh, g.proxy.namespace, g.secretNames)));
    return { snapshot: makeTypeSnapshot(c.secrets.map((o) => this.encoder.encode(SECRET, o))), diagnostics: c.diagnostics };
  }

  /**
   * The type snapshot of a generated list. Lists that generation shares between views (a sidecar's EDS and
   * route configs, generate/shared.ts) are encoded, sorted and hashed once, whatever the number of views.
   */
  private *typeSnapshotSteps(t: XdsTypeUrl, list: readonly object[]): Steps<TypeSnapshot> {
    const known = this.typeSnapshots.get(list);
    if (known && known.type === t) return known.snapshot;
    const snapshot = makeTypeSnapshot(yield* this.encodeSteps([[t, list]]));
    this.typeSnapshots.set(list, { type: t, snapshot });
    return snapshot;
  }

  /** `base` with type `t` replaced, one object per (base, replacement): groups that shared a snapshot keep sharing. */
  private derivedSnapshot(base: Snapshot, t: XdsTypeUrl, replacement: TypeSnapshot): Snapshot {
    let byReplacement = this.derived.get(base);
    if (!byReplacement) this.derived.set(base, (byReplacement = new WeakMap()));
    let out = byReplacement.get(replacement);
    if (!out) byReplacement.set(replacement, (out = replaceTypes(base, { [t]: replacement })));
    return out;
  }

  private readonly derived = new WeakMap<Snapshot, WeakMap<TypeSnapshot, Snapshot>>();

  private readonly typeSnapshots = new WeakMap<readonly object[], { type: XdsTypeUrl; snapshot: TypeSnapshot }>();

  private *encodeSteps(parts: [XdsTypeUrl, readonly object[]][]): Steps<EncodedResource[]> {
    const out: EncodedResource[] = [];
    for (const [t, objects] of parts) {
      for (const o of objects) {
        out.push(this.encoder.encode(t, o));
        if (out.length % ENCODE_YIELD_EVERY === 0) yield;
      }
    }
    return out;
  }
}

const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;

/** Resources encoded between yields (an encode takes some 20-50 µs). */
const ENCODE_YIELD_EVERY = 64;
