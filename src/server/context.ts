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
}

export function createStreamContext(limits: Partial<ServerLimits> = {}, now: () => number = Date.now): StreamContext {
  const resolved = resolveLimits(limits);
  return {
    selections: new SelectionCache(),
    responses: new SharedSotwResponses(),
    limits: resolved,
    budget: new SubscriptionBudget(resolved.maxSubscribedNamesTotal),
    now,
  };
}
