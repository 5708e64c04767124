/**
 * Give memory back after the mesh shrinks a lot (a 50 MB file deleted).
 *
 * Nothing keeps the dropped objects alive (a heap snapshot after a GC shows the
 * idle heap again), but V8 collects only when the program allocates, and an
 * idle control plane hardly does: measured, the heap stayed at ~300 MiB used
 * (RSS ~400 MiB) for as long as we watched after 100,000 Services were deleted,
 * against 42 MiB before they came. So after such a drop one full GC is run,
 * once things are quiet. It is cheap exactly then: a full GC costs in
 * proportion to what is still alive, which is what the drop just made small
 * (~10-30 ms for the idle heap), and big drops are rare (rate-limited anyway).
 */
import * as v8 from "node:v8";
import * as vm from "node:vm";

export interface ReleaseOptions {
  /** Wait this long after the shrink (more changes may follow; let them settle). */
  delayMs?: number;
  /** At most one GC per this long. */
  minIntervalMs?: number;
  log?: { info(o: object, msg: string): void };
}

/** Objects that must go away at once (and half of what there was) to count as a big drop. */
export const BIG_DROP_OBJECTS = 10_000;

export function isBigDrop(before: number, after: number): boolean {
  return before - after >= BIG_DROP_OBJECTS && after <= before / 2;
}

let gcFunction: (() => void) | null | undefined;

/**
 * V8's full GC. `global.gc` exists only under --expose-gc; the flag can also be
 * set at run time, and then a fresh context exposes `gc` (the documented way
 * V8 flags apply to contexts created after they are set).
 */
function fullGc(): (() => void) | null {
  if (gcFunction !== undefined) return gcFunction;
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (typeof exposed === "function") return (gcFunction = exposed);
  try {
    v8.setFlagsFromString("--expose-gc");
    const fn = vm.runInNewContext("gc") as unknown;
    gcFunction = typeof fn === "function" ? (fn as () => void) : null;
  } catch {
    gcFunction = null;
  }
  return gcFunction;
}

export class MemoryReleaser {
  private timer?: NodeJS.Timeout;
  private lastAt = -Infinity;
  /** GCs run (tests, logs). */
  runs = 0;

  constructor(private readonly opts: ReleaseOptions = {}) {}

  /** The mesh went from `before` to `after` objects: after a big drop, schedule one GC. */
  shrank(before: number, after: number): void {
    if (!isBigDrop(before, after) || this.timer) return;
    const wait = Math.max(this.opts.delayMs ?? 1000, this.lastAt + (this.opts.minIntervalMs ?? 10_000) - Date.now());
    this.timer = setTimeout(() => this.release(before, after), wait);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private release(before: number, after: number): void {
    this.timer = undefined;
    const gc = fullGc();
    if (!gc) return;
    const heapBefore = process.memoryUsage().heapUsed;
    const started = performance.now();
    gc();
    this.lastAt = Date.now();
    this.runs++;
    const mib = (n: number) => Math.round(n / 1024 / 1024);
    this.opts.log?.info(
      {
        objectsBefore: before,
        objectsAfter: after,
        heapUsedMiBBefore: mib(heapBefore),
        heapUsedMiBAfter: mib(process.memoryUsage().heapUsed),
        gcMs: Math.round(performance.now() - started),
      },
      "the mesh shrank a lot; ran one full GC to give the memory back",
    );
  }
}
