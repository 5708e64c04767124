/**
 * A state-of-the-world stream: every response carries the whole subscribed
 * set of a type (RDS and EDS may carry only what changed, see `push`), shared
 * byte for byte with every stream that sends the same content.
 */
import { Snapshot } from "../cache/snapshot";
import { EncodedResource } from "../xds/resource";
import { CLUSTER, ENDPOINT, XdsTypeUrl } from "../xds/types";
import { Decision, Subscription, decideSotwSteps } from "./should-respond";
import type { Steps } from "../util/steps";
import { TypeState, XdsRequest, XdsStream } from "./stream";
import { selectionDiff } from "./selection-diff";

interface SotwTypeState extends TypeState {
  /** The resources of the last response: what the client holds (kept to delay cluster removal). */
  lastSent: ReadonlyMap<string, EncodedResource>;
  /** The names list of the last request decided for this type (an ACK repeating it arrives as the same array: repeated-names.ts). */
  lastNames?: readonly string[];
}

export class SotwStream extends XdsStream<SotwTypeState> {
  readonly mode = "sotw" as const;

  protected decide(st: SotwTypeState | undefined, typeUrl: XdsTypeUrl, req: XdsRequest): Steps<Decision> {
    return decideSotwSteps(this.watchState(st), {
      wildcardType: this.isWildcard(typeUrl),
      names: req.names ?? [],
      responseNonce: req.responseNonce,
      errorMessage: req.errorMessage,
      sameNamesAsState: st !== undefined && req.names !== undefined && req.names === st.lastNames,
    });
  }

  protected override namesAlreadyChecked(req: XdsRequest): boolean {
    const st = this.types.get((req.typeUrl || this.allowedTypes[0]) as XdsTypeUrl);
    return st !== undefined && req.names !== undefined && req.names === st.lastNames;
  }

  protected newTypeState(typeUrl: XdsTypeUrl): SotwTypeState {
    return { ...this.baseTypeState(typeUrl), lastSent: new Map() };
  }

  protected upfrontCost(): number {
    return 0;
  }

  /** A SotW request may repeat names it holds (an ACK), so its names on the wire are no lower bound of a change. */
  protected upfrontCostOnWire(): number {
    return 0;
  }

  /** A SotW request repeats the whole subscription; only what it adds or drops is a change. */
  protected decidedCost(before: Subscription, d: Decision): number {
    const added = d.kind === "initial" ? d.subscription.names.size : d.subscribed.filter((n) => n !== "*").length;
    const removed = before.names.size - (d.subscription.names.size - added);
    return added + removed + (d.subscription.wildcard !== before.wildcard ? 1 : 0);
  }

  /** SotW requests carry the whole subscription: nothing beyond the shared record, and the list it came as. */
  // eslint-disable-next-line require-yield -- one assignment
  protected *apply(st: SotwTypeState, _d: Decision, req: XdsRequest): Steps<void> {
    st.lastNames = req.names;
  }

  // eslint-disable-next-line require-yield -- linear in the snapshot's resources, not in the names a client sends: one step
  protected *push(t: XdsTypeUrl, st: SotwTypeState, snapshot: Snapshot): Steps<void> {
    const selections = this.ctx.selections;
    let selected = selections.select(snapshot.types[t], st.subscription);
    if (this.holdRemovedClusters(t)) {
      const kept = selectionDiff(st.lastSent, selected).kept();
      if (kept.length > 0) selected = selections.select(undefined, st.subscription, [...selected.resources, ...kept]);
    }
    const changed = selected.version !== st.sync.sentKey;
    if (!st.mustRespond && (!changed || selected.version === st.rejectedKey)) return;
    // RDS and EDS are not full-state in SotW: a push may carry only what changed
    // (resources left out stay as the client has them), as Istio's incremental
    // EDS does. An endpoint change then costs one assignment, not all of them.
    const diff = selectionDiff(st.lastSent, selected);
    const onlyChanged = !st.mustRespond && !this.isWildcard(t) && st.lastSent.size > 0 ? diff.partial() : undefined;
    const privateNonce = () => this.nextNonce();
    const responses = this.ctx.responses;
    const response = onlyChanged
      ? responses.response(t, selected.version, onlyChanged.resources, st.sentNonce, privateNonce, onlyChanged.version)
      : responses.response(t, selected.version, selected.resources, st.sentNonce, privateNonce);
    this.send(st, response.nonce, selected.version, selected.version, response.bytes);
    st.lastSent = selected.byName;
    if (t === CLUSTER) this.resendEndpointsOf(diff.changedNames());
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
    if (clusterNames.some((n) => eds.subscription.wildcard || eds.subscription.names.has(n))) eds.mustRespond = true;
  }
}
