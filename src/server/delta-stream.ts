/**
 * A delta (incremental) stream: responses carry only resources the client
 * does not hold at their current version, and the names it must drop.
 * Work per request and per push is linear in the names involved.
 */
import { Snapshot } from "../cache/snapshot";
import { CLUSTER, ENDPOINT, XdsTypeUrl } from "../xds/types";
import { Decision, NAMES_PER_STEP, decideDeltaSteps } from "./should-respond";
import { Steps, sortSteps } from "../util/steps";
import { createHash } from "node:crypto";
import { deltaResponseSteps } from "./responses";
import type { EncodedResource } from "../xds/resource";
import type { Selection } from "./select";
import { selectionDiff } from "./selection-diff";
import { TypeState, XdsRequest, XdsStream, namesInRequest } from "./stream";

interface DeltaTypeState extends TypeState {
  /** Names the client just subscribed to; those that do not exist are answered in removed_resources. */
  newlySubscribed: string[];
  /** What the client holds: name -> version (from what was sent and from initial_resource_versions). */
  clientHas: Map<string, string>;
  /**
   * The selection `clientHas` equals exactly, when it does: set by a push that
   * brought the client fully in sync, cleared by anything else that changes
   * `clientHas`. The next push then takes what changed from the selection
   * diff shared by every stream in sync with the same selection, instead of
   * comparing every resource against this stream's map.
   */
  syncedTo?: Selection;
}

export class DeltaStream extends XdsStream<DeltaTypeState> {
  readonly mode = "delta" as const;

  protected decide(st: DeltaTypeState | undefined, typeUrl: XdsTypeUrl, req: XdsRequest): Steps<Decision> {
    return decideDeltaSteps(this.watchState(st), {
      wildcardType: this.isWildcard(typeUrl),
      subscribe: req.subscribe ?? [],
      unsubscribe: req.unsubscribe ?? [],
      responseNonce: req.responseNonce,
      errorMessage: req.errorMessage,
    });
  }

  protected newTypeState(typeUrl: XdsTypeUrl): DeltaTypeState {
    return { ...this.baseTypeState(typeUrl), newlySubscribed: [], clientHas: new Map() };
  }

  protected upfrontCost(req: XdsRequest): number {
    return namesInRequest(req);
  }

  protected upfrontCostOnWire(namesOnWire: number): number {
    return namesOnWire;
  }

  protected decidedCost(): number {
    return 0;
  }

  protected *apply(st: DeltaTypeState, d: Decision, req: XdsRequest): Steps<void> {
    if (d.kind === "initial" || d.subscribed.length > 0 || (req.unsubscribe?.length ?? 0) > 0) st.syncedTo = undefined;
    let i = 0;
    for (const n of req.unsubscribe ?? []) {
      st.clientHas.delete(n);
      if (++i % NAMES_PER_STEP === 0) yield;
    }
    if (d.kind === "initial") {
      st.newlySubscribed = [];
      for (const n of d.subscription.names) {
        st.newlySubscribed.push(n);
        if (++i % NAMES_PER_STEP === 0) yield;
      }
      for (const n in req.initialVersions ?? {}) {
        st.clientHas.set(n, req.initialVersions![n]!);
        if (++i % NAMES_PER_STEP === 0) yield;
      }
      return;
    }
    // A loop, not push(...names): a spread of 100,000 arguments overflows the stack.
    for (const n of d.subscribed) {
      if (n !== "*") st.newlySubscribed.push(n);
      if (++i % NAMES_PER_STEP === 0) yield;
    }
  }

  /**
   * Linear in the names involved and in steps: a response removing 100,000
   * just-subscribed unknown names is sorted, keyed and framed over several
   * turns of the event loop (the stream's work queue holds its other work
   * until it is sent).
   */
  protected *push(t: XdsTypeUrl, st: DeltaTypeState, snapshot: Snapshot): Steps<void> {
    const typeSnap = snapshot.types[t];
    const selected = this.ctx.selections.select(typeSnap, st.subscription);
    const held = this.holdRemovedClusters(t);
    if (st.syncedTo && st.newlySubscribed.length === 0) {
      // In sync with a known selection: nothing to do if it is the same one (held-back removals
      // or not), else its diff, shared with every stream in sync with the same selection.
      if (st.syncedTo === selected && !st.mustRespond) return;
      if (!held) {
        const diff = selectionDiff(st.syncedTo.byName, selected);
        return yield* this.sendDelta(t, st, typeSnap.version, selected, diff.changed(), diff.keptNames(), false, st.syncedTo);
      }
    }
    const updates = selected.resources.filter((r) => st.clientHas.get(r.name) !== r.version);
    // A set, not an array: checking each just-subscribed name against an array
    // of removals was quadratic (100,000 unknown names took 12-22 s).
    const removed = new Set<string>();
    let i = 0;
    if (!held) {
      for (const name of st.clientHas.keys()) {
        if (!selected.byName.has(name)) removed.add(name);
        if (++i % NAMES_PER_STEP === 0) yield;
      }
    }
    // Names just subscribed that do not exist: say so, so the client need not wait for a timeout.
    for (const n of st.newlySubscribed) {
      if (!selected.byName.has(n) && !st.clientHas.has(n)) removed.add(n);
      if (++i % NAMES_PER_STEP === 0) yield;
    }
    const removedNames = yield* sortSteps([...removed], (a, b) => (a < b ? -1 : a > b ? 1 : 0));
    yield* this.sendDelta(t, st, typeSnap.version, selected, updates, removedNames, held);
  }

  /** Send updates and removals (if any, or if a response is due) and record what the client holds now. */
  private *sendDelta(
    t: XdsTypeUrl,
    st: DeltaTypeState,
    systemVersion: string,
    selected: Selection,
    updates: readonly EncodedResource[],
    removedNames: readonly string[],
    held: boolean,
    /** The selection the client held exactly, when `updates` and `removedNames` are its diff to `selected`. */
    from?: Selection,
  ): Steps<void> {
    const nothing = updates.length === 0 && removedNames.length === 0;
    if (!st.mustRespond && nothing) {
      if (!held) st.syncedTo = selected;
      return;
    }
    const key = yield* contentKey(selected.version, updates, removedNames);
    if (!st.mustRespond && key === st.rejectedKey) return;
    let nonce: string;
    let bytes: Buffer;
    // Responses that depend only on selections are the same bytes for every stream that sends them, under
    // a shared nonce: a fresh client gets the whole selection (a connect storm of 10,000 streams builds and
    // holds one response, not 10,000), a client in sync with a selection gets its diff (a route change).
    const fresh = st.clientHas.size === 0 && updates.length === selected.resources.length;
    const shareKey = removedNames.length > 0 ? undefined : fresh ? "all" : from ? `from ${from.version}` : undefined;
    if (shareKey) {
      const resources = fresh ? selected.resources : updates;
      const privateNonce = () => this.nextNonce();
      ({ nonce, bytes } = this.ctx.responses.response(t, systemVersion, resources, st.sentNonce, privateNonce, `${selected.version} ${shareKey}`, "delta"));
    } else {
      nonce = this.nextNonce();
      bytes = yield* deltaResponseSteps(t, systemVersion, updates, removedNames, nonce);
    }
    this.send(st, nonce, systemVersion, selected.version, bytes, key);
    st.newlySubscribed = [];
    const changedNames = updates.filter((r) => st.clientHas.has(r.name)).map((r) => r.name);
    for (const r of updates) st.clientHas.set(r.name, r.version);
    let i = 0;
    for (const n of removedNames) {
      st.clientHas.delete(n);
      if (++i % NAMES_PER_STEP === 0) yield;
    }
    st.syncedTo = held ? undefined : selected;
    if (t === CLUSTER) this.resendEndpointsOf(changedNames);
  }

  /** See SotwStream.resendEndpointsOf: forgetting what the client holds makes the next EDS push resend it. */
  private resendEndpointsOf(clusterNames: string[]): void {
    const eds = this.types.get(ENDPOINT);
    if (!eds || clusterNames.length === 0 || !this.allowedTypes.includes(ENDPOINT)) return;
    let any = false;
    for (const n of clusterNames) any = eds.clientHas.delete(n) || any;
    if (any) eds.syncedTo = undefined;
    if (any) eds.mustRespond = true;
  }
}

/** What a response carries, as a digest (a NACKed content is not sent again), hashed in steps. */
function* contentKey(selectionVersion: string, updates: readonly EncodedResource[], removedNames: readonly string[]): Steps<string> {
  const h = createHash("sha256").update(selectionVersion).update("|");
  for (let i = 0; i < updates.length; i += NAMES_PER_STEP) {
    h.update(
      updates
        .slice(i, i + NAMES_PER_STEP)
        .map((r) => r.name + "@" + r.version)
        .join(",") + ",",
    );
    if (i + NAMES_PER_STEP < updates.length) yield;
  }
  h.update("|");
  for (let i = 0; i < removedNames.length; i += NAMES_PER_STEP) {
    h.update(removedNames.slice(i, i + NAMES_PER_STEP).join(",") + ",");
    if (i + NAMES_PER_STEP < removedNames.length) yield;
  }
  return h.digest("base64");
}
