/**
 * What one client may cost the server. Every limit has a default sized for a
 * real Envoy fleet (istiod's where it has one) and ends only the offending
 * stream or connection, with a gRPC status that names the limit.
 */

export interface ServerLimits {
  /** Largest request message, bytes (istiod: 4 MiB). Larger: RESOURCE_EXHAUSTED from gRPC. */
  maxReceiveMessageBytes: number;
  /** Largest `node.metadata`, bytes as encoded (Kubernetes caps all annotations at 256 KiB). */
  maxNodeMetadataBytes: number;
  /** Resource names one request may carry (subscribe + unsubscribe + initial versions, or SotW names). */
  maxNamesPerRequest: number;
  /** Names one stream may be subscribed to, over all its types. */
  maxSubscribedNamesPerStream: number;
  /** Names all streams together may be subscribed to. */
  maxSubscribedNamesTotal: number;
  /**
   * Sustained requests per second per connection, shared by its streams (token
   * bucket refill rate). Envoy opens one stream per connection; sharing means a
   * client cannot reset its budget by reopening streams.
   */
  requestsPerSecond: number;
  /** Requests a connection may send in a burst (token bucket size). */
  requestBurst: number;
  /**
   * Subscription changes per second per connection, in names (SotW: the names of
   * a request that changes the subscription; delta: subscribe + unsubscribe +
   * initial versions). Work on a request is linear in these names, so this
   * bounds the share of the server one connection can take.
   */
  subscribedNamesPerSecond: number;
  /** Names a connection may change in a burst (at least maxNamesPerRequest). */
  subscribedNamesBurst: number;
  /**
   * Event-loop time a connection's requests may take, in ms per second per
   * open stream (Envoy opens one per connection; a connection carrying many
   * proxies' streams gets as many shares): deciding, keying and answering
   * them (pushes the server starts itself are not charged). A connection over
   * it is not refused: its next request waits until the budget has refilled,
   * so a client whose requests are each allowed but expensive (100,000-name
   * subscribes within the names budget) gets a bounded share of the process
   * and everyone else the rest. Reopening streams does not reset it.
   */
  requestCpuMsPerSecond: number;
  /** Request time a connection may save up per open stream, ms (a proxy's first requests on a big mesh). */
  requestCpuBurstMs: number;
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS: streams per connection. */
  maxStreamsPerConnection: number;
  /** Open TCP connections; more are answered with RESOURCE_EXHAUSTED and closed. */
  maxConnections: number;
  /** Server keepalive: ping a connection after this long (istiod: 30 s). */
  keepaliveTimeMs: number;
  /** Close a connection whose ping is not acknowledged within this (istiod: 10 s). */
  keepaliveTimeoutMs: number;
  /** A connection that has not sent the HTTP/2 preface by then is closed. */
  handshakeTimeoutMs: number;
}

export const DEFAULT_LIMITS: Readonly<ServerLimits> = Object.freeze({
  maxReceiveMessageBytes: 4 * 1024 * 1024,
  maxNodeMetadataBytes: 1024 * 1024,
  maxNamesPerRequest: 100_000,
  maxSubscribedNamesPerStream: 200_000,
  maxSubscribedNamesTotal: 20_000_000,
  requestsPerSecond: 100,
  requestBurst: 1000,
  subscribedNamesPerSecond: 50_000,
  subscribedNamesBurst: 200_000,
  requestCpuMsPerSecond: 25,
  requestCpuBurstMs: 250,
  maxStreamsPerConnection: 100,
  maxConnections: 100_000,
  keepaliveTimeMs: 30_000,
  keepaliveTimeoutMs: 10_000,
  handshakeTimeoutMs: 10_000,
});

export function resolveLimits(given: Partial<ServerLimits> = {}): ServerLimits {
  const limits = { ...DEFAULT_LIMITS };
  for (const [k, v] of Object.entries(given) as [keyof ServerLimits, number | undefined][]) {
    if (v === undefined) continue;
    if (!Number.isFinite(v) || v <= 0) throw new Error(`server limit ${k} must be a positive number, got ${String(v)}`);
    limits[k] = v;
  }
  return limits;
}

/** gRPC status codes the server sends. */
export const STATUS = { INVALID_ARGUMENT: 3, RESOURCE_EXHAUSTED: 8, INTERNAL: 13 } as const;

/** A limit was hit: the stream ends with this status. */
export interface LimitError {
  code: number;
  message: string;
}

/** Requests per second per stream: `rate` tokens a second, at most `burst` saved up. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  take(cost = 1): boolean {
    if (this.peek() < cost) return false;
    this.tokens -= cost;
    return true;
  }

  /** Spend `cost` whether or not it is there: the balance may go below zero (time already used). */
  charge(cost: number): void {
    this.peek();
    this.tokens -= cost;
  }

  /** Milliseconds until the balance is above zero again (0 if it is). */
  msUntilPositive(): number {
    const t = this.peek();
    return t > 0 ? 0 : Math.ceil((-t / this.rate) * 1000) + 1;
  }

  /** Tokens available now. */
  peek(): number {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
    return this.tokens;
  }
}

/**
 * The server-wide count of subscribed names. Each stream reports how its own
 * count changes; a change that would pass the total is refused.
 */
export class SubscriptionBudget {
  private used = 0;

  constructor(readonly max: number) {}

  /** Try to move a stream's share from `before` to `after` names. */
  change(before: number, after: number): boolean {
    const next = this.used - before + after;
    if (after > before && next > this.max) return false;
    this.used = next;
    return true;
  }

  get total(): number {
    return this.used;
  }
}

/** The rate budgets of one connection, shared by all its streams. */
export interface RateBudget {
  readonly requests: TokenBucket;
  /** Subscription changes, in names. */
  readonly names: TokenBucket;
  /** Event-loop time spent on requests, ms per open stream; on its own (real) clock, since what it meters is real time. */
  readonly cpu: TokenBucket;
  /** Streams open on the connection: time spent is charged divided by them (each stream brings its share). */
  streams: number;
}

export function newRateBudget(limits: Readonly<ServerLimits>, now: () => number = Date.now): RateBudget {
  return {
    requests: new TokenBucket(limits.requestsPerSecond, limits.requestBurst, now),
    names: new TokenBucket(limits.subscribedNamesPerSecond, limits.subscribedNamesBurst, now),
    cpu: new TokenBucket(limits.requestCpuMsPerSecond, limits.requestCpuBurstMs, () => performance.now()),
    streams: 0,
  };
}
