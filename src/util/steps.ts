/**
 * Cooperative work for big meshes and big requests. A builder written as a generator `yield`s
 * now and then (every few hundred items); whoever drives it decides what a
 * yield means: `runSteps` ignores them (plain synchronous call, same result),
 * the push pipeline returns to the event loop once a time slice is used up, so
 * a 100,000-Service model build never holds /healthz or xDS for long.
 */
export type Steps<T> = Generator<void, T, void>;

/** Items of work between two yields: small enough that no stretch between them takes long. */
export const YIELD_EVERY = 256;

/** Run to the end, ignoring the yields. */
export function runSteps<T>(steps: Steps<T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** `items.map(fn)`, yielding every YIELD_EVERY items. */
export function* mapSteps<T, U>(items: readonly T[], fn: (item: T) => U): Steps<U[]> {
  const out: U[] = new Array<U>(items.length);
  for (let i = 0; i < items.length; i++) {
    out[i] = fn(items[i]!);
    if (i % YIELD_EVERY === YIELD_EVERY - 1) yield;
  }
  return out;
}

/** Elements sorted natively in one go; longer arrays are sorted in runs of this size, then merged. */
const RUN = 2048;

/**
 * A stable sort with the same result as `items.sort(cmp)` (both are stable),
 * in slices: runs of RUN sorted natively, then merged pairwise, yielding
 * between runs and every YIELD_EVERY elements merged. Sorts `items` in place.
 */
export function* sortSteps<T>(items: T[], cmp: (a: T, b: T) => number): Steps<T[]> {
  const n = items.length;
  if (n <= RUN) return items.sort(cmp);
  let src = items.slice();
  for (let lo = 0; lo < n; lo += RUN) {
    const run = src.slice(lo, lo + RUN).sort(cmp);
    for (let i = 0; i < run.length; i++) src[lo + i] = run[i]!;
    yield;
  }
  let dst = new Array<T>(n);
  for (let width = RUN; width < n; width *= 2) {
    let k = 0;
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n);
      const hi = Math.min(lo + 2 * width, n);
      let i = lo;
      let j = mid;
      while (i < mid || j < hi) {
        // Ties take the left element first: stable.
        if (j >= hi || (i < mid && cmp(src[i]!, src[j]!) <= 0)) dst[k++] = src[i++]!;
        else dst[k++] = src[j++]!;
        if (k % YIELD_EVERY === 0) yield;
      }
    }
    [src, dst] = [dst, src];
  }
  for (let i = 0; i < n; i++) items[i] = src[i]!;
  return items;
}
