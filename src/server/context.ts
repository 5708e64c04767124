/**
 * What the streams of one server share: the selection memo, the shared SotW
 * responses, the limits and the subscription budget. Owned by the server (a
 * test may make its own), so two servers in one process share nothing.
 */
import { SelectionCache } from "./select";
import { SharedSotwResponses } from "./responses";
import { ServerLimits, SubscriptionBudget, resolveLimits } from "./limits";
import type { XdsObserver } from "./observer";

export interface StreamContext {
  readonly selections: SelectionCache;
  readonly responses: SharedSotwResponses;
  readonly limits: Readonly<ServerLimits>;
  readonly budget: SubscriptionBudget;
  /** Milliseconds; the token buckets' clock. */
  readonly now: () => number;
  /** Told about nodes, responses, rejections and convergence (metrics). */
  observer?: XdsObserver;
  /** Longest stretch of one stream's work before the event loop gets a turn (STREAM_SLICE_MS; tests set 0). */
  readonly sliceMs: number;
  /** The work of all streams together in one turn of the event loop (TURN_BUDGET_MS in a server; unbounded by default). */
  readonly turn: TurnBudget;
}

/**
 * Stream work (requests, pushes) of all streams in one turn of the event
 * loop, together. Each stream already yields after `sliceMs`, but thousands of
 * streams whose requests arrive in the same turn (a connect storm), or a push
 * to every stream, ran back to back: 10,000 delta clients connecting held the
 * loop for seconds at a time, and then timers fired before the socket data
 * waiting behind them was read (gRPC keepalive, the handshake timeout). Once
 * a turn has run this long, further stream work waits for the next turn
 * (setImmediate, in order), so sockets are read and written in between. It
 * also lets the first responses of a fan-out leave while the rest are still
 * being prepared.
 */
export class TurnBudget {
  /** When the first stream work of this turn started (performance.now()), or -1 between turns. */
  private started = -1;

  constructor(readonly ms: number) {}

  /** Whether stream work may run now; false: wait for a later turn. */
  available(): boolean {
    if (this.ms === Infinity) return true;
    if (this.started < 0) {
      this.started = performance.now();
      // The check phase, after this turn's I/O callbacks: the next stream work starts a new budget.
      setImmediate(() => (this.started = -1));
      return true;
    }
    return performance.now() - this.started < this.ms;
  }
}

/** A server's budget of stream work per event-loop turn (see TurnBudget). */
export const TURN_BUDGET_MS = 20;

/**
 * Longest stretch of one stream's work (a request, a flush) before the event
 * loop gets a turn. Ordinary requests finish well within it, synchronously;
 * a request of 100,000 names is handled over several turns, so other streams'
 * pushes, /healthz and new connections are not held behind it.
 */
export const STREAM_SLICE_MS = 5;

export function createStreamContext(
  limits: Partial<ServerLimits> = {},
  now: () => number = Date.now,
  sliceMs = STREAM_SLICE_MS,
  turnBudgetMs = Infinity,
): StreamContext {
  const resolved = resolveLimits(limits);
  return {
    selections: new SelectionCache(),
    responses: new SharedSotwResponses(),
    limits: resolved,
    budget: new SubscriptionBudget(resolved.maxSubscribedNamesTotal),
    now,
    sliceMs,
    turn: new TurnBudget(turnBudgetMs),
  };
}
