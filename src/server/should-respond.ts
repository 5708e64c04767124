/**
 * The xDS protocol decision, in one pure function per variant: given what a
 * stream has sent for a type and the request that just arrived, what is this
 * request and what changes?  (Istio calls this ShouldRespond.)
 *
 * Rules (envoyproxy.io "xDS REST and gRPC protocol"):
 * - ACK vs NACK is decided by `error_detail` alone, never by comparing versions.
 * - A request whose nonce is not the last one sent on this stream for this type
 *   is stale: the client has not seen our latest response yet. It is ignored,
 *   except that a subscription change it carries is never lost.
 * - An empty nonce is the client's first request for the type on this stream
 *   (a new stream or a reconnect): always answered.
 * - LDS and CDS are wildcard types. In SotW, an empty name list means wildcard
 *   only until names were given ("legacy" wildcard); "*" asks for wildcard
 *   explicitly, alongside any names.
 */
import { Steps, runSteps } from "../util/steps";

/**
 * Names handled between two yields of the `...Steps` variants: a request of
 * 100,000 names is decided in slices, so one client's big request does not
 * hold the event loop for everyone else (see XdsStream's work queue).
 */
export const NAMES_PER_STEP = 2048;

export interface Subscription {
  readonly wildcard: boolean;
  /** Explicitly named resources ("*" excluded). */
  readonly names: ReadonlySet<string>;
}

export const NO_SUBSCRIPTION: Subscription = { wildcard: false, names: new Set() };

/** What a stream remembers per type, as far as the decision needs it. */
export interface WatchState {
  readonly subscription: Subscription;
  /** Nonce of the last response sent for this type; undefined before any. */
  readonly sentNonce?: string;
  /** SotW legacy rule: were names ever given for this type on this stream? */
  readonly namesGiven: boolean;
}

export type Decision =
  /** First request for this type on the stream: answer with everything subscribed. */
  | { kind: "initial"; subscription: Subscription; namesGiven: boolean }
  /** The client applied our response `nonce`. */
  | { kind: "ack"; subscription: Subscription; namesGiven: boolean; subscribed: string[] }
  /** The client rejected our response `nonce`; do not resend that content. */
  | { kind: "nack"; message: string; subscription: Subscription; namesGiven: boolean; subscribed: string[] }
  /** An old nonce: ignore it, but keep any subscription change it carries. */
  | { kind: "stale"; subscription: Subscription; namesGiven: boolean; subscribed: string[] };

export interface SotwRequest {
  readonly wildcardType: boolean;
  readonly names: readonly string[];
  readonly responseNonce: string;
  readonly errorMessage?: string;
  /**
   * The names are the very list that made `state.subscription` (the stream's
   * last request of this type): the subscription and the legacy-wildcard
   * rule come out as they did then, so they are not worked out again.
   */
  readonly sameNamesAsState?: boolean;
}

/** State-of-the-world: a request carries the full subscription every time. */
export function decideSotw(state: WatchState | undefined, req: SotwRequest): Decision {
  return runSteps(decideSotwSteps(state, req));
}

/** decideSotw, yielding every NAMES_PER_STEP names. */
export function* decideSotwSteps(state: WatchState | undefined, req: SotwRequest): Steps<Decision> {
  const { subscription, namesGiven } = yield* sotwSubscription(state, req);
  const before = state?.subscription ?? NO_SUBSCRIPTION;
  if (state === undefined || req.responseNonce === "") {
    return { kind: "initial", subscription, namesGiven };
  }
  const subscribed = subscription === before ? [] : yield* addedNamesSteps(before, subscription);
  if (req.responseNonce !== state.sentNonce) return { kind: "stale", subscription, namesGiven, subscribed };
  if (req.errorMessage !== undefined) return { kind: "nack", message: req.errorMessage, subscription, namesGiven, subscribed };
  return { kind: "ack", subscription, namesGiven, subscribed };
}

function* sotwSubscription(state: WatchState | undefined, req: SotwRequest): Steps<{ subscription: Subscription; namesGiven: boolean }> {
  if (state && req.sameNamesAsState) return { subscription: state.subscription, namesGiven: state.namesGiven };
  let explicitWildcard = false;
  const names = new Set<string>();
  for (let i = 0; i < req.names.length; i++) {
    const n = req.names[i]!;
    if (n === "*") explicitWildcard = true;
    else names.add(n);
    if (i % NAMES_PER_STEP === NAMES_PER_STEP - 1) yield;
  }
  const namesGiven = (state?.namesGiven ?? false) || names.size > 0;
  // Legacy wildcard: an empty list is wildcard until the client has named something.
  const wildcard = req.wildcardType && (explicitWildcard || (req.names.length === 0 && !namesGiven));
  return { subscription: yield* sameOrNew(state?.subscription, wildcard, names), namesGiven };
}

/**
 * SotW requests repeat the whole subscription (an EDS ACK names every
 * cluster). An unchanged one keeps its object, so what is derived from it
 * (the selection memo's key) is not computed again for every ACK.
 */
function* sameOrNew(before: Subscription | undefined, wildcard: boolean, names: Set<string>): Steps<Subscription> {
  if (before && before.wildcard === wildcard && before.names.size === names.size) {
    let i = 0;
    let same = true;
    for (const n of names) {
      if (!before.names.has(n)) {
        same = false;
        break;
      }
      if (++i % NAMES_PER_STEP === 0) yield;
    }
    if (same) return before;
  }
  return { wildcard, names };
}

/** Names (or wildcard, as "*") that `after` wants and `before` did not. */
export function addedNames(before: Subscription, after: Subscription): string[] {
  return runSteps(addedNamesSteps(before, after));
}

function* addedNamesSteps(before: Subscription, after: Subscription): Steps<string[]> {
  const added: string[] = [];
  if (after.wildcard && !before.wildcard) added.push("*");
  let i = 0;
  for (const n of after.names) {
    if (!before.names.has(n)) added.push(n);
    if (++i % NAMES_PER_STEP === 0) yield;
  }
  return added;
}

export interface DeltaRequest {
  readonly wildcardType: boolean;
  readonly subscribe: readonly string[];
  readonly unsubscribe: readonly string[];
  readonly responseNonce: string;
  readonly errorMessage?: string;
}

/**
 * Delta: requests carry subscription changes, applied whatever the nonce.
 * For a wildcard type, the first request with no names subscribes to wildcard;
 * "*" subscribes or unsubscribes wildcard explicitly.
 */
export function decideDelta(state: WatchState | undefined, req: DeltaRequest): Decision {
  return runSteps(decideDeltaSteps(state, req));
}

/** decideDelta, yielding every NAMES_PER_STEP names. */
export function* decideDeltaSteps(state: WatchState | undefined, req: DeltaRequest): Steps<Decision> {
  const before = state?.subscription ?? NO_SUBSCRIPTION;
  const { subscription, subscribed } = yield* applyDeltaChanges(before, state === undefined && req.wildcardType && req.subscribe.length === 0, req);
  const namesGiven = true;
  if (state === undefined) return { kind: "initial", subscription, namesGiven };
  if (req.responseNonce === "" || req.responseNonce !== state.sentNonce) {
    // A pure subscription change carries no nonce; treat it like a stale request:
    // nothing is acknowledged, but the subscription change is applied.
    return { kind: "stale", subscription, namesGiven, subscribed };
  }
  if (req.errorMessage !== undefined) return { kind: "nack", message: req.errorMessage, subscription, namesGiven, subscribed };
  return { kind: "ack", subscription, namesGiven, subscribed };
}

/**
 * The subscription after a delta request, and the names (or "*") it added.
 * An ACK without changes keeps the subscription object and costs nothing;
 * otherwise the cost is the copy plus the request's own names, never a scan
 * per name over the subscription, and it yields every NAMES_PER_STEP names.
 */
function* applyDeltaChanges(before: Subscription, initialWildcard: boolean, req: DeltaRequest): Steps<{ subscription: Subscription; subscribed: string[] }> {
  if (!initialWildcard && req.subscribe.length === 0 && req.unsubscribe.length === 0) return { subscription: before, subscribed: [] };
  const names = new Set<string>();
  let i = 0;
  for (const n of before.names) {
    names.add(n);
    if (++i % NAMES_PER_STEP === 0) yield;
  }
  let wildcard = before.wildcard || initialWildcard;
  // Added names in the order first subscribed; a Set dedupes them.
  const added = new Set<string>();
  for (const n of req.subscribe) {
    if (n === "*") wildcard = true;
    else if (!names.has(n)) {
      names.add(n);
      added.add(n);
    }
    if (++i % NAMES_PER_STEP === 0) yield;
  }
  for (const n of req.unsubscribe) {
    if (n === "*") wildcard = false;
    else {
      names.delete(n);
      added.delete(n);
    }
    if (++i % NAMES_PER_STEP === 0) yield;
  }
  const subscribed: string[] = [];
  if (wildcard && !before.wildcard) subscribed.push("*");
  for (const n of added) subscribed.push(n);
  return { subscription: { wildcard, names }, subscribed };
}
