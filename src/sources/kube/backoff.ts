/**
 * Capped exponential backoff with jitter, for reconnecting to the API server.
 * Jitter keeps many mini-pilot replicas (and the informers inside one) from
 * hitting a restarted API server in lockstep. `random` is injectable so the
 * sequence is deterministic in tests.
 */
export interface BackoffOptions {
  /** First delay. Default 100 ms. */
  initialMs?: number;
  /** Largest delay. Default 10 s. */
  maxMs?: number;
  /** Returns [0, 1). Default Math.random. */
  random?: () => number;
}

export class Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  private readonly random: () => number;
  private attempt = 0;

  constructor(opts: BackoffOptions = {}) {
    this.initialMs = Math.max(1, opts.initialMs ?? 100);
    this.maxMs = Math.max(this.initialMs, opts.maxMs ?? 10_000);
    this.random = opts.random ?? Math.random;
  }

  /** The next delay: initial·2^n capped at max, then between half and all of it ("equal jitter"). */
  next(): number {
    const base = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.round(base / 2 + (this.random() * base) / 2);
  }

  /** How many delays were handed out since the last reset. */
  get failures(): number {
    return this.attempt;
  }

  reset(): void {
    this.attempt = 0;
  }
}

/** A sleep that `signal` cuts short (resolving, not rejecting: the caller checks why it woke). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
