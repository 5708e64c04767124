/**
 * One xDS stream (SotW or delta, ADS or a single type), independent of gRPC:
 * requests in, pre-encoded response bytes out through `StreamIO`.
 *
 * Flow control: per type at most one response waits for its ACK (as
 * go-control-plane does), and when the transport's buffer is full the stream
 * stops writing until it drains; what to send is always recomputed from the
 * latest snapshot, so a slow client coalesces updates instead of queueing them.
 */
import { Snapshot } from "../cache/snapshot";
import { EncodedResource } from "../xds/resource";
import { CLUSTER, ENDPOINT, LISTENER, PUSH_ORDER, ROUTE, XdsTypeUrl, isWildcardType } from "../xds/types";
import { Decision, NO_SUBSCRIPTION, Subscription, decideDelta, decideSotw } from "./should-respond";
import { deltaResponse, sotwResponse } from "./responses";
import { NodeInfo, SnapshotSource } from "./snapshot-source";
import { TypeSync, typeStatus, SyncStatus } from "./sync-state";
import { selectResources } from "./select";

export type Mode = "sotw" | "delta";

export interface StreamIO {
  /** Returns false when the transport buffer is full; `onDrain` follows. */
  write(bytes: Buffer): boolean;
  /** End this stream with a gRPC status (other streams are unaffected). */
  fail(code: number, message: string): void;
}

/** A request after decoding, in one shape for both variants. */
export interface XdsRequest {
  typeUrl: string;
  node?: NodeInfo;
  responseNonce: string;
  errorMessage?: string;
  /** SotW */
  names?: string[];
  /** Delta */
  subscribe?: string[];
  unsubscribe?: string[];
  initialVersions?: Record<string, string>;
}

interface TypeState {
  subscription: Subscription;
  namesGiven: boolean;
  sentNonce?: string;
  awaitingAck: boolean;
  /** Answer the next flush even if nothing changed (initial request, new names). */
  mustRespond: boolean;
  /** Names the client just subscribed to; delta answers those that do not exist in removed_resources. */
  newlySubscribed: string[];
  /** What the client holds: name -> resource (SotW: the last full set sent; delta: from acks and initial versions). */
  clientHas: Map<string, string>;
  /** SotW: resources of the last response (kept to delay cluster removal). */
  lastSent: Map<string, EncodedResource>;
  /** Content key of the last rejected response: never sent again. */
  rejectedKey?: string;
  sync: TypeSync;
}

/** gRPC status codes used here. */
const INVALID_ARGUMENT = 3;

export class XdsStream {
  private readonly types = new Map<XdsTypeUrl, TypeState>();
  private node?: NodeInfo;
  private snapshot?: Snapshot;
  private unwatch?: () => void;
  private blocked = false;
  private closed = false;
  private nonceCounter = 0;
  readonly connectedAt = Date.now();

  constructor(
    readonly id: string,
    readonly mode: Mode,
    /** ADS: all four; a per-type service: just its own. */
    private readonly allowedTypes: readonly XdsTypeUrl[],
    private readonly source: SnapshotSource,
    private readonly io: StreamIO,
  ) {}

  get proxyId(): string | undefined {
    return this.node?.id;
  }

  /** Handle one request. Protocol errors end this stream only. */
  onRequest(req: XdsRequest): void {
    if (this.closed) return;
    const problem = this.checkRequest(req);
    if (problem) return this.failStream(problem);
    if (!this.node) {
      const resolved = this.source.resolve(req.node!);
      if (!resolved.ok) return this.failStream(`cannot serve node "${req.node!.id}": ${resolved.error}`);
      this.node = req.node;
      this.unwatch = this.source.watch(resolved.group, (s) => this.onSnapshot(s));
    }
    const typeUrl = (req.typeUrl || this.allowedTypes[0]) as XdsTypeUrl;
    this.apply(typeUrl, req);
    this.flush();
  }

  onSnapshot(s: Snapshot): void {
    this.snapshot = s;
    this.flush();
  }

  onDrain(): void {
    this.blocked = false;
    this.flush();
  }

  close(): void {
    this.closed = true;
    this.unwatch?.();
    this.unwatch = undefined;
  }

  /** Per-type sync state for /debug/syncz. */
  syncState(): { typeUrl: XdsTypeUrl; status: SyncStatus; sync: TypeSync; subscription: { wildcard: boolean; names: string[] } }[] {
    return [...this.types.entries()].map(([typeUrl, st]) => ({
      typeUrl,
      status: typeStatus(st.sync, this.snapshot ? this.desiredKey(typeUrl, st) : undefined),
      sync: st.sync,
      subscription: { wildcard: st.subscription.wildcard, names: [...st.subscription.names].sort() },
    }));
  }

  // ------------------------------------------------------------- requests

  private checkRequest(req: XdsRequest): string | undefined {
    if (!this.node && (!req.node || !req.node.id)) return "the first request on a stream must carry node.id";
    if (req.typeUrl && !this.allowedTypes.includes(req.typeUrl as XdsTypeUrl)) {
      return `unknown or unsupported type_url "${req.typeUrl}"; this stream serves ${this.allowedTypes.join(", ")}`;
    }
    if (!req.typeUrl && this.allowedTypes.length > 1) return "type_url is required on an aggregated (ADS) stream";
    const names = [...(req.names ?? []), ...(req.subscribe ?? []), ...(req.unsubscribe ?? []), ...Object.keys(req.initialVersions ?? {})];
    for (const n of names) {
      if (n.length === 0 || n.length > 4096 || /[\u0000-\u001f\u007f]/.test(n)) {
        return `invalid resource name ${JSON.stringify(n.slice(0, 80))}: names must be 1-4096 characters without control characters`;
      }
    }
    return undefined;
  }

  private apply(typeUrl: XdsTypeUrl, req: XdsRequest): void {
    const existing = this.types.get(typeUrl);
    const wildcardType = isWildcardType(typeUrl);
    const watch = existing && { subscription: existing.subscription, sentNonce: existing.sentNonce, namesGiven: existing.namesGiven };
    const d: Decision =
      this.mode === "sotw"
        ? decideSotw(watch, { wildcardType, names: req.names ?? [], responseNonce: req.responseNonce, errorMessage: req.errorMessage })
        : decideDelta(watch, {
            wildcardType,
            subscribe: req.subscribe ?? [],
            unsubscribe: req.unsubscribe ?? [],
            responseNonce: req.responseNonce,
            errorMessage: req.errorMessage,
          });
    const st = existing ?? this.newTypeState();
    if (!existing) this.types.set(typeUrl, st);
    st.subscription = d.subscription;
    st.namesGiven = d.namesGiven;
    if (this.mode === "delta") for (const n of req.unsubscribe ?? []) st.clientHas.delete(n);
    switch (d.kind) {
      case "initial":
        st.mustRespond = true;
        st.awaitingAck = false;
        st.newlySubscribed = [...d.subscription.names];
        if (this.mode === "delta") for (const [n, v] of Object.entries(req.initialVersions ?? {})) st.clientHas.set(n, v);
        else st.clientHas.clear();
        break;
      case "ack":
        st.awaitingAck = false;
        st.sync.ackedNonce = req.responseNonce;
        st.sync.ackedVersion = st.sync.sentVersion;
        st.sync.ackedAt = Date.now();
        break;
      case "nack":
        st.awaitingAck = false;
        st.rejectedKey = st.sync.sentRejectKey;
        st.sync.nack = { nonce: req.responseNonce, version: st.sync.sentVersion ?? "", message: d.message, at: Date.now() };
        break;
      case "stale":
        break;
    }
    if (d.kind !== "initial" && d.subscribed.length > 0) {
      st.mustRespond = true;
      st.newlySubscribed.push(...d.subscribed.filter((n) => n !== "*"));
    }
  }

  private newTypeState(): TypeState {
    return {
      subscription: NO_SUBSCRIPTION,
      namesGiven: false,
      awaitingAck: false,
      mustRespond: false,
      newlySubscribed: [],
      clientHas: new Map(),
      lastSent: new Map(),
      sync: {},
    };
  }

  // ------------------------------------------------------------- pushes

  /** Write whatever the latest snapshot and subscriptions call for, in make-before-break order. */
  private flush(): void {
    if (this.closed || this.blocked || !this.snapshot) return;
    for (const t of PUSH_ORDER) {
      const st = this.types.get(t);
      if (!st || (st.awaitingAck && !st.mustRespond)) continue;
      if (this.mode === "sotw") this.pushSotw(t, st, this.snapshot);
      else this.pushDelta(t, st, this.snapshot);
      if (this.blocked || this.closed) return;
    }
  }

  /**
   * Clusters the client holds but the snapshot dropped are kept in CDS until
   * listeners and routes no longer point at them: removed last.
   */
  private holdRemovedClusters(t: XdsTypeUrl): boolean {
    if (t !== CLUSTER || this.allowedTypes.length === 1) return false;
    return !this.isSettled(LISTENER) || !this.isSettled(ROUTE);
  }

  private isSettled(t: XdsTypeUrl): boolean {
    const st = this.types.get(t);
    if (!st || !this.snapshot) return true;
    return st.sync.sentKey === this.desiredKey(t, st);
  }

  private desiredKey(t: XdsTypeUrl, st: TypeState): string {
    return selectResources(this.snapshot!.types[t], st.subscription).version;
  }

  private pushSotw(t: XdsTypeUrl, st: TypeState, snapshot: Snapshot): void {
    let selected = selectResources(snapshot.types[t], st.subscription);
    if (this.holdRemovedClusters(t)) {
      const kept = [...st.lastSent.values()].filter((r) => !selected.byName.has(r.name));
      if (kept.length > 0) selected = selectResources(undefined, st.subscription, [...selected.resources, ...kept]);
    }
    const changed = selected.version !== st.sync.sentKey;
    if (!st.mustRespond && (!changed || selected.version === st.rejectedKey)) return;
    // RDS and EDS are not full-state in SotW: a push may carry only what changed
    // (resources left out stay as the client has them), as Istio's incremental
    // EDS does. An endpoint change then costs one assignment, not all of them.
    const onlyChanged = !st.mustRespond && !isWildcardType(t) && st.lastSent.size > 0 ? this.changedSince(st, selected.resources) : undefined;
    const privateNonce = () => this.nextNonce();
    const response = onlyChanged
      ? sotwResponse(t, selected.version, onlyChanged.resources, st.sentNonce, privateNonce, onlyChanged.version)
      : sotwResponse(t, selected.version, selected.resources, st.sentNonce, privateNonce);
    this.send(st, response.nonce, selected.version, selected.version, response.bytes);
    const changedNames = selected.resources.filter((r) => st.lastSent.get(r.name)?.version !== r.version).map((r) => r.name);
    st.lastSent = selected.byName;
    if (t === CLUSTER) this.resendEndpointsOf(changedNames);
  }

  /** The resources the client does not hold at this version (undefined when that is all of them). */
  private changedSince(st: TypeState, resources: readonly EncodedResource[]): { resources: EncodedResource[]; version: string } | undefined {
    const changed = resources.filter((r) => st.lastSent.get(r.name)?.version !== r.version);
    if (changed.length === resources.length) return undefined;
    return { resources: changed, version: "partial:" + changed.map((r) => `${r.name}@${r.version}`).join(",") };
  }

  private pushDelta(t: XdsTypeUrl, st: TypeState, snapshot: Snapshot): void {
    const typeSnap = snapshot.types[t];
    const selected = selectResources(typeSnap, st.subscription);
    const updates = selected.resources.filter((r) => st.clientHas.get(r.name) !== r.version);
    const removed: string[] = [];
    if (!this.holdRemovedClusters(t)) {
      for (const name of st.clientHas.keys()) if (!selected.byName.has(name)) removed.push(name);
    }
    // Names just subscribed that do not exist: say so, so the client need not wait for a timeout.
    for (const n of st.newlySubscribed) if (!selected.byName.has(n) && !st.clientHas.has(n) && !removed.includes(n)) removed.push(n);
    removed.sort();
    const key = `${selected.version}|${updates.map((r) => r.name + "@" + r.version).join(",")}|${removed.join(",")}`;
    const nothing = updates.length === 0 && removed.length === 0;
    if (!st.mustRespond && (nothing || key === st.rejectedKey)) return;
    const nonce = this.nextNonce();
    this.send(st, nonce, typeSnap.version, selected.version, deltaResponse(t, typeSnap.version, updates, removed, nonce), key);
    const changedNames = updates.filter((r) => st.clientHas.has(r.name)).map((r) => r.name);
    for (const r of updates) st.clientHas.set(r.name, r.version);
    for (const n of removed) st.clientHas.delete(n);
    if (t === CLUSTER) this.resendEndpointsOf(changedNames);
  }

  /**
   * Envoy re-initialises a cluster whose config changed and waits for its
   * endpoints again, even when they did not change; without a fresh EDS
   * response it stays warming (and holds back its CDS ACK). So after CDS
   * carries changed clusters, their endpoints go out again, as Istio pushes EDS
   * with every CDS push. EDS names are the cluster names in mini-pilot's output.
   */
  private resendEndpointsOf(clusterNames: string[]): void {
    const eds = this.types.get(ENDPOINT);
    if (!eds || clusterNames.length === 0 || !this.allowedTypes.includes(ENDPOINT)) return;
    if (this.mode === "sotw") {
      if (clusterNames.some((n) => eds.subscription.wildcard || eds.subscription.names.has(n))) eds.mustRespond = true;
      return;
    }
    let any = false;
    for (const n of clusterNames) any = eds.clientHas.delete(n) || any;
    if (any) eds.mustRespond = true;
  }

  private send(st: TypeState, nonce: string, version: string, contentKey: string, bytes: Buffer, rejectKey = contentKey): void {
    st.mustRespond = false;
    st.newlySubscribed = [];
    st.awaitingAck = true;
    st.sentNonce = nonce;
    Object.assign(st.sync, { sentNonce: nonce, sentVersion: version, sentKey: contentKey, sentRejectKey: rejectKey, sentAt: Date.now() });
    st.sync.responses = (st.sync.responses ?? 0) + 1;
    st.sync.bytes = (st.sync.bytes ?? 0) + bytes.length;
    if (!this.io.write(bytes)) this.blocked = true;
  }

  /** Stream-local nonces start with "p"; shared SotW responses' with "s". */
  private nextNonce(): string {
    return "p" + (++this.nonceCounter).toString(36);
  }

  private failStream(message: string): void {
    if (this.closed) return;
    this.close();
    this.io.fail(INVALID_ARGUMENT, message);
  }
}
