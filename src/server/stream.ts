/**
 * The subscription core shared by both xDS variants, independent of gRPC:
 * requests in, pre-encoded response bytes out through `StreamIO`. It owns what
 * SotW and delta have in common: the node and its group's snapshot, the
 * per-type subscriptions and sync records, the request checks and limits, flow
 * control and make-before-break ordering. `SotwStream` and `DeltaStream` add
 * only what a response of their variant is made of.
 *
 * Flow control: per type at most one response waits for its ACK (as
 * go-control-plane does), and when the transport's buffer is full the stream
 * stops writing until it drains; what to send is always recomputed from the
 * latest snapshot, so a slow client coalesces updates instead of queueing them.
 */
import { Snapshot } from "../cache/snapshot";
import { NodeInfo, SnapshotSource } from "../cache/snapshot-cache";
import type { EncodedResource } from "../xds/resource";
import { CLUSTER, LISTENER, PUSH_ORDER, ROUTE, XdsTypeUrl, isWildcardType } from "../xds/types";
import { Decision, NAMES_PER_STEP, NO_SUBSCRIPTION, Subscription } from "./should-respond";
import type { Steps } from "../util/steps";
import { TypeSync, typeStatus, SyncStatus } from "./sync-state";
import { StreamContext, createStreamContext } from "./context";
import { LimitError, RateBudget, STATUS, newRateBudget } from "./limits";

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
  /** Size of `node.metadata` as encoded, when a node was decoded. */
  nodeMetadataBytes?: number;
  responseNonce: string;
  errorMessage?: string;
  /** SotW */
  names?: string[];
  /** Delta */
  subscribe?: string[];
  unsubscribe?: string[];
  initialVersions?: Record<string, string>;
}

/** What both variants keep per type. */
export interface TypeState {
  /** The type this state is for (metrics and NACK reports name it). */
  typeUrl: XdsTypeUrl;
  subscription: Subscription;
  namesGiven: boolean;
  sentNonce?: string;
  awaitingAck: boolean;
  /** Answer the next flush even if nothing changed (initial request, new names). */
  mustRespond: boolean;
  /** Content key of the last rejected response: never sent again. */
  rejectedKey?: string;
  sync: TypeSync;
}

export abstract class XdsStream<S extends TypeState = TypeState> {
  abstract readonly mode: Mode;
  protected readonly types = new Map<XdsTypeUrl, S>();
  protected snapshot?: Snapshot;
  protected readonly ctx: StreamContext;
  private node?: NodeInfo;
  private unwatch?: () => void;
  private blocked = false;
  private closed = false;
  private nonceCounter = 0;
  /** Requests and subscription changes: the connection's, shared with its other streams. */
  private readonly rate: RateBudget;
  /** Subscribed names counted against the server's budget. */
  private counted = 0;
  readonly connectedAt = Date.now();
  /** For metrics: when the latest snapshot arrived, what last made a write necessary, whether the snapshot is all sent. */
  private snapshotAt = 0;
  private triggerAt = 0;
  private queuedSince?: number;
  private converged = true;
  /** This stream's work, run in order and in slices: requests (charged to the connection's time budget) and flushes. */
  private readonly work: { steps: Steps<void>; request: boolean }[] = [];
  private working = false;
  /** Set while the work waits for the connection's request-time budget to refill. */
  private waitTimer?: NodeJS.Timeout;
  /** A flush is queued and has not started: another request for one joins it. */
  private flushQueued = false;

  constructor(
    readonly id: string,
    /** ADS: all four; a per-type service: just its own. */
    protected readonly allowedTypes: readonly XdsTypeUrl[],
    private readonly source: SnapshotSource,
    private readonly io: StreamIO,
    ctx?: StreamContext,
    rate?: RateBudget,
  ) {
    this.ctx = ctx ?? createStreamContext();
    this.rate = rate ?? newRateBudget(this.ctx.limits, this.ctx.now);
    this.rate.streams++;
  }

  get proxyId(): string | undefined {
    return this.node?.id;
  }

  /** The node this stream's first request named (debug, CSDS). */
  get nodeInfo(): NodeInfo | undefined {
    return this.node;
  }

  /** What the latest snapshot gives this stream for a type under its subscription (CSDS, debug). */
  selected(t: XdsTypeUrl): readonly EncodedResource[] {
    const st = this.types.get(t);
    if (!st || !this.snapshot) return [];
    return this.ctx.selections.select(this.snapshot.types[t], st.subscription).resources;
  }

  /**
   * Handle one request. Protocol errors and exceeded limits end this stream
   * only. Handled at once unless this stream is still busy with earlier work;
   * a big one continues over later turns of the event loop (ctx.sliceMs).
   * The stream's state changes only when a request is decided whole, so what
   * a flush in between sees is always a state the client asked for.
   */
  onRequest(req: XdsRequest, namesInSteps?: { count: number; steps: Steps<void> }): void {
    if (this.closed) return;
    // Charged on arrival, not when its turn comes: requests queued behind a big
    // one spend the same budget, so a client cannot queue more than it may send.
    const l = this.ctx.limits;
    if (!this.rate.requests.take()) {
      return this.fail(STATUS.RESOURCE_EXHAUSTED, `more than ${l.requestsPerSecond} requests per second (burst ${l.requestBurst}) on one connection`);
    }
    // Names still being decoded (`decodeRequestInSteps`) are charged as counted on the wire.
    const count = namesInSteps?.count ?? namesInRequest(req);
    if (count > l.maxNamesPerRequest) return this.fail(STATUS.RESOURCE_EXHAUSTED, tooManyNames(count, l.maxNamesPerRequest));
    // Delta requests are charged before any work on their names is done.
    if (!this.rate.names.take(namesInSteps ? this.upfrontCostOnWire(count) : this.upfrontCost(req))) return this.failNameRate();
    this.enqueue(this.requestSteps(req, namesInSteps?.steps), true);
  }

  private *requestSteps(req: XdsRequest, decodeNames?: Steps<void>): Steps<void> {
    if (decodeNames) {
      try {
        yield* decodeNames;
      } catch (e) {
        return this.fail(STATUS.INVALID_ARGUMENT, `malformed request: ${(e as Error).message}`);
      }
    }
    this.triggerAt = Date.now();
    const problem = yield* this.checkRequest(req);
    if (problem) return this.fail(problem.code, problem.message);
    if (!this.node) {
      const resolved = this.source.resolve(req.node!);
      if (!resolved.ok) return this.fail(STATUS.INVALID_ARGUMENT, `cannot serve node "${req.node!.id}": ${resolved.error}`);
      this.node = req.node;
      this.ctx.observer?.onNode?.(this.id, req.node!);
      this.unwatch = this.source.watch(resolved.group, (s) => this.onSnapshot(s), req.node!.id);
    }
    const typeUrl = (req.typeUrl || this.allowedTypes[0]) as XdsTypeUrl;
    let st = this.types.get(typeUrl);
    const d = yield* this.decide(st, typeUrl, req);
    // The memo key of a new subscription, in steps, before anything selects with it.
    if (d.subscription !== st?.subscription) yield* this.ctx.selections.primeKey(d.subscription);
    if (this.closed) return;
    if (!st) this.types.set(typeUrl, (st = this.newTypeState(typeUrl)));
    if (d.subscription !== st.subscription && !this.rate.names.take(this.decidedCost(st.subscription, d))) return this.failNameRate();
    const over = this.countSubscriptions(st, d.subscription);
    if (over) return this.fail(over.code, over.message);
    this.record(st, d, req);
    yield* this.apply(st, d, req);
    // Answered before the next queued request is looked at, as when handled in one go.
    yield* this.flushNow();
  }

  /** Queue work on this stream and run what is queued, if nothing is running it already. */
  private enqueue(steps: Steps<void>, request = false): void {
    this.work.push({ steps, request });
    if (!this.working) this.runWork();
  }

  /**
   * Run queued work until done or until the slice is used up; then continue on
   * a later turn. A request's steps are timed and charged to the connection's
   * request-time budget; while that is spent, the queue waits for it to refill
   * (later work, flushes included, stays behind it, in order).
   */
  private runWork(): void {
    this.working = true;
    // Other streams used up this turn's budget: wait for the next turn, behind work deferred before.
    if (!this.ctx.turn.available()) {
      setImmediate(() => this.runWork());
      return;
    }
    const start = performance.now();
    try {
      while (this.work.length > 0) {
        if (this.closed) {
          this.work.length = 0;
          break;
        }
        const item = this.work[0]!;
        if (item.request) {
          const wait = this.rate.cpu.msUntilPositive();
          if (wait > 0) {
            this.waitTimer = setTimeout(() => {
              this.waitTimer = undefined;
              this.runWork();
            }, wait);
            return;
          }
        }
        const stepStart = item.request ? performance.now() : 0;
        const done = item.steps.next().done;
        if (item.request) this.rate.cpu.charge((performance.now() - stepStart) / Math.max(1, this.rate.streams));
        if (done) this.work.shift();
        else if (performance.now() - start >= this.ctx.sliceMs) {
          setImmediate(() => this.runWork());
          return;
        }
      }
    } catch (e) {
      this.work.length = 0;
      this.working = false;
      this.fail(STATUS.INTERNAL, `internal error: ${(e as Error).message}`);
      return;
    }
    this.working = false;
  }

  /**
   * Refuse before decoding what the decoded request would be refused for, so a
   * client that keeps sending big requests does not even cost their decoding:
   * no request left in the budget, more names than one request may carry, or
   * (delta) fewer name tokens than the names it carries. `namesOnWire` is the
   * count `namesOnWire()` read from the bytes; for a request without repeated
   * map keys it is what `onRequest` counts and charges, and tokens only grow
   * until then, so a request refused here would be refused after decoding too.
   */
  refuseIfOverBudget(namesOnWire = 0): boolean {
    if (this.closed) return true;
    const l = this.ctx.limits;
    if (this.rate.requests.peek() < 1) {
      this.fail(STATUS.RESOURCE_EXHAUSTED, `more than ${l.requestsPerSecond} requests per second (burst ${l.requestBurst}) on one connection`);
      return true;
    }
    if (namesOnWire > l.maxNamesPerRequest) {
      this.fail(STATUS.RESOURCE_EXHAUSTED, tooManyNames(namesOnWire, l.maxNamesPerRequest));
      return true;
    }
    const tokens = this.rate.names.peek();
    if (tokens > 0 && tokens >= this.upfrontCostOnWire(namesOnWire)) return false;
    this.failNameRate();
    return true;
  }

  onSnapshot(s: Snapshot): void {
    this.snapshot = s;
    this.snapshotAt = this.triggerAt = Date.now();
    this.queuedSince = this.snapshotAt;
    this.converged = false;
    this.flush();
  }

  onDrain(): void {
    this.blocked = false;
    this.flush();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.rate.streams--;
    if (this.waitTimer) clearTimeout(this.waitTimer);
    this.waitTimer = undefined;
    this.work.length = 0;
    this.unwatch?.();
    this.unwatch = undefined;
    this.ctx.budget.change(this.counted, 0);
    this.counted = 0;
    if (this.node) this.ctx.observer?.onNodeGone?.(this.id, this.node);
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

  // ------------------------------------------------------------- what a variant adds

  /** The protocol decision for this variant (a pure function of should-respond.ts). */
  protected abstract decide(st: S | undefined, typeUrl: XdsTypeUrl, req: XdsRequest): Steps<Decision>;
  protected abstract newTypeState(typeUrl: XdsTypeUrl): S;
  /** Variant-specific bookkeeping after the shared part of a decision is recorded. */
  protected abstract apply(st: S, d: Decision, req: XdsRequest): Steps<void>;
  /** Names a request is charged before the decision (delta: all it carries). */
  protected abstract upfrontCost(req: XdsRequest): number;
  /** The same, from the names counted on the wire before decoding (never more than `upfrontCost` of the decoded request). */
  protected abstract upfrontCostOnWire(namesOnWire: number): number;
  /** Names charged once the decision changed the subscription (SotW: added + removed). */
  protected abstract decidedCost(before: Subscription, d: Decision): number;
  /** True when `req.names` is the very list this stream already checked and decided on for its type (see repeated-names.ts). */
  protected namesAlreadyChecked(_req: XdsRequest): boolean {
    return false;
  }
  /** Send what this type needs now, if anything. */
  protected abstract push(t: XdsTypeUrl, st: S, snapshot: Snapshot): Steps<void>;

  // ------------------------------------------------------------- requests

  private *checkRequest(req: XdsRequest): Steps<LimitError | undefined> {
    const limits = this.ctx.limits;
    const invalid = (message: string) => ({ code: STATUS.INVALID_ARGUMENT, message });
    const exhausted = (message: string) => ({ code: STATUS.RESOURCE_EXHAUSTED, message });
    if (!this.node && (!req.node || !req.node.id)) return invalid("the first request on a stream must carry node.id");
    if (!this.node && req.nodeMetadataBytes !== undefined && req.nodeMetadataBytes > limits.maxNodeMetadataBytes) {
      return exhausted(`node.metadata is ${req.nodeMetadataBytes} bytes; the limit is ${limits.maxNodeMetadataBytes}`);
    }
    if (req.typeUrl && !this.allowedTypes.includes(req.typeUrl as XdsTypeUrl)) {
      return invalid(`unknown or unsupported type_url "${req.typeUrl}"; this stream serves ${this.allowedTypes.join(", ")}`);
    }
    if (!req.typeUrl && this.allowedTypes.length > 1) return invalid("type_url is required on an aggregated (ADS) stream");
    const initial = req.initialVersions ? Object.keys(req.initialVersions) : [];
    let checked = 0;
    // Names this stream checked on an earlier request (a SotW ACK repeating them) are not checked again.
    const names = this.namesAlreadyChecked(req) ? undefined : req.names;
    for (const list of [names, req.subscribe, req.unsubscribe, initial]) {
      for (const n of list ?? []) {
        // eslint-disable-next-line no-control-regex -- refusing control characters is the point
        if (n.length === 0 || n.length > 4096 || /[\u0000-\u001f\u007f]/.test(n)) {
          return invalid(`invalid resource name ${JSON.stringify(n.slice(0, 80))}: names must be 1-4096 characters without control characters`);
        }
        if (++checked % NAMES_PER_STEP === 0) yield;
      }
    }
    return undefined;
  }

  /** Keep this stream's subscribed names within its own limit and the server's total. */
  private countSubscriptions(st: S, next: Subscription): LimitError | undefined {
    if (next === st.subscription) return undefined;
    const after = this.counted - st.subscription.names.size + next.names.size;
    const limits = this.ctx.limits;
    if (after > limits.maxSubscribedNamesPerStream) {
      return {
        code: STATUS.RESOURCE_EXHAUSTED,
        message: `the stream would subscribe to ${after} names; the limit is ${limits.maxSubscribedNamesPerStream} per stream`,
      };
    }
    if (!this.ctx.budget.change(this.counted, after)) {
      return { code: STATUS.RESOURCE_EXHAUSTED, message: `the server holds its limit of ${this.ctx.budget.max} subscribed names over all streams` };
    }
    this.counted = after;
    return undefined;
  }

  /** The part of a decision both variants record the same way. */
  private record(st: S, d: Decision, req: XdsRequest): void {
    st.subscription = d.subscription;
    st.namesGiven = d.namesGiven;
    switch (d.kind) {
      case "initial":
        st.mustRespond = true;
        st.awaitingAck = false;
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
        this.ctx.observer?.onNack?.(this.id, st.typeUrl, d.message);
        break;
      case "stale":
        break;
    }
    if (d.kind !== "initial" && d.subscribed.length > 0) st.mustRespond = true;
  }

  protected watchState(st: S | undefined): { subscription: Subscription; sentNonce?: string; namesGiven: boolean } | undefined {
    return st && { subscription: st.subscription, sentNonce: st.sentNonce, namesGiven: st.namesGiven };
  }

  protected baseTypeState(typeUrl: XdsTypeUrl): TypeState {
    return { typeUrl, subscription: NO_SUBSCRIPTION, namesGiven: false, awaitingAck: false, mustRespond: false, sync: {} };
  }

  // ------------------------------------------------------------- pushes

  /** Write whatever the latest snapshot and subscriptions call for, in make-before-break order (queued behind this stream's earlier work). */
  protected flush(): void {
    if (this.closed || this.flushQueued) return;
    this.flushQueued = true;
    this.enqueue(this.flushSteps());
  }

  private *flushSteps(): Steps<void> {
    this.flushQueued = false;
    yield* this.flushNow();
  }

  private *flushNow(): Steps<void> {
    if (this.closed || this.blocked || !this.snapshot) return;
    for (const t of PUSH_ORDER) {
      const st = this.types.get(t);
      if (!st || (st.awaitingAck && !st.mustRespond)) continue;
      yield* this.push(t, st, this.snapshot);
      if (this.blocked || this.closed) return;
    }
    if (!this.converged && PUSH_ORDER.every((t) => this.isSettled(t))) {
      this.converged = true;
      this.ctx.observer?.onConverged?.(this.id, this.snapshotAt);
    }
  }

  /**
   * Clusters the client holds but the snapshot dropped are kept in CDS until
   * listeners and routes no longer point at them: removed last.
   */
  protected holdRemovedClusters(t: XdsTypeUrl): boolean {
    if (t !== CLUSTER || this.allowedTypes.length === 1) return false;
    return !this.isSettled(LISTENER) || !this.isSettled(ROUTE);
  }

  private isSettled(t: XdsTypeUrl): boolean {
    const st = this.types.get(t);
    if (!st || !this.snapshot) return true;
    return st.sync.sentKey === this.desiredKey(t, st);
  }

  private desiredKey(t: XdsTypeUrl, st: S): string {
    return this.ctx.selections.select(this.snapshot!.types[t], st.subscription).version;
  }

  protected send(st: S, nonce: string, version: string, contentKey: string, bytes: Buffer, rejectKey = contentKey): void {
    st.mustRespond = false;
    st.awaitingAck = true;
    st.sentNonce = nonce;
    Object.assign(st.sync, { sentNonce: nonce, sentVersion: version, sentKey: contentKey, sentRejectKey: rejectKey, sentAt: Date.now() });
    st.sync.responses = (st.sync.responses ?? 0) + 1;
    st.sync.bytes = (st.sync.bytes ?? 0) + bytes.length;
    const started = Date.now();
    if (!this.io.write(bytes)) this.blocked = true;
    const observer = this.ctx.observer;
    if (observer?.onResponse) {
      const now = Date.now();
      const queuedMs = this.queuedSince !== undefined ? started - this.queuedSince : undefined;
      this.queuedSince = undefined;
      observer.onResponse(this.id, st.typeUrl, {
        bytes: bytes.length,
        sinceTriggerMs: now - this.triggerAt,
        writeMs: now - started,
        ...(queuedMs !== undefined ? { queuedMs } : {}),
      });
    }
  }

  protected isWildcard(t: XdsTypeUrl): boolean {
    return isWildcardType(t);
  }

  /** Stream-local nonces start with "p"; shared SotW responses' with "s". */
  protected nextNonce(): string {
    return "p" + (++this.nonceCounter).toString(36);
  }

  private failNameRate(): void {
    const l = this.ctx.limits;
    this.fail(
      STATUS.RESOURCE_EXHAUSTED,
      `subscription changes of more than ${l.subscribedNamesPerSecond} names per second (burst ${l.subscribedNamesBurst}) on one connection`,
    );
  }

  private fail(code: number, message: string): void {
    if (this.closed) return;
    this.close();
    this.io.fail(code, message);
  }
}

function tooManyNames(count: number, limit: number): string {
  return `a request names ${count} resources; the limit is ${limit} per request`;
}

/** Resource names a request carries, of either variant. */
export function namesInRequest(req: XdsRequest): number {
  let n = (req.names?.length ?? 0) + (req.subscribe?.length ?? 0) + (req.unsubscribe?.length ?? 0);
  for (const _ in req.initialVersions ?? {}) n++;
  return n;
}
