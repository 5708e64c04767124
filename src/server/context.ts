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
}

/**
 * Longest stretch of one stream's work (a request, a flush) before the event
 * loop gets a turn. Ordinary requests finish well within it, synchronously;
 * a request of 100,000 names is handled over several turns, so other streams'
 * pushes, /healthz and new connections are not held behind it.
 */
export const STREAM_SLICE_MS = 5;

export function createStreamContext(limits: Partial<ServerLimits> = {}, now: () => number = Date.now, sliceMs = STREAM_SLICE_MS): StreamContext {
  const resolved = resolveLimits(limits);
  return {
    selections: new SelectionCache(),
    responses: new SharedSotwResponses(),
    limits: resolved,
    budget: new SubscriptionBudget(resolved.maxSubscribedNamesTotal),
    now,
    sliceMs,
  };
}
