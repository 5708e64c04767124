/**
 * Debounce with mergeable requests and an injected clock (so tests never sleep):
 * a burst of pushes becomes one, fired `after` ms after the last push, but never
 * later than `max` ms after the first one.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface DebounceOptions {
  /** Quiet time after the last push before firing. */
  afterMs: number;
  /** Upper bound on the wait since the first push of a burst. */
  maxMs: number;
}

export class Debouncer<T> {
  private pending: T | undefined;
  private firstAt = 0;
  private timer: unknown;

  constructor(
    private readonly opts: DebounceOptions,
    private readonly merge: (a: T, b: T) => T,
    private readonly fire: (merged: T) => void,
    private readonly clock: Clock = realClock,
  ) {}

  push(request: T): void {
    const now = this.clock.now();
    if (this.pending === undefined) {
      this.pending = request;
      this.firstAt = now;
    } else {
      this.pending = this.merge(this.pending, request);
    }
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    const deadline = Math.min(now + this.opts.afterMs, this.firstAt + this.opts.maxMs);
    this.timer = this.clock.setTimeout(() => this.flush(), Math.max(0, deadline - now));
  }

  /** Fire now whatever is pending (shutdown, tests). */
  flush(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    const merged = this.pending;
    this.pending = undefined;
    if (merged !== undefined) this.fire(merged);
  }

  get isPending(): boolean {
    return this.pending !== undefined;
  }

  stop(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
  }
}
