/**
 * The YAML-folder source: every manifest file below the given folders (the
 * rules are in ./walk: extensions in any case, dot-entries skipped, symlinks
 * followed, so ConfigMap volumes work), multi-document, parsed and validated,
 * written to the store one file at a time (`replaceSource`), so deleting a
 * file deletes its objects.
 *
 * Bad input loses nothing: a file with a document that does not parse (or
 * that breaks a size limit) keeps all of its last good objects; an object that
 * fails validation keeps its last valid version (if it had one). Either way a
 * diagnostic names file:line. File-system trouble (symlink loops, dangling
 * links, permission errors, folders vanishing mid-scan, watcher errors) is a
 * diagnostic too, never an exception: the process keeps serving.
 *
 * Serving never waits on reading: a scan yields to the event loop between
 * files, big files are parsed in a worker thread, and a scan's results are
 * written to the store together at its end, so a push never sees half a scan.
 * Changes are seen through one non-recursive watcher per folder (capped) plus
 * a slow poll as a backstop; bursts of events are coalesced into one scan.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { setImmediate as yieldToLoop } from "node:timers/promises";
import { ConfigStore, keyOf } from "../../store";
import { Diagnostic, MeshObject } from "../../model/types";
import { DEFAULT_LOAD_LIMITS, LoadLimits, checkFileText, keepLastGood, mergeWithLastGood } from "./manifests";
import { describeFsError, walkManifestDirSliced } from "./walk";
import { checkFileInWorker, WorkerCheck } from "./check-in-worker";

interface FileState {
  /** dev, inode, size, mtime, ctime: a cheap "did it change" before reading (an inode change catches rename-saves and ..data swaps). */
  stamp: string;
  objects: MeshObject[];
  diagnostics: Diagnostic[];
  /** Written to the store as SHARDS sources (see writeSharded) rather than one. */
  sharded?: boolean;
}

export interface DirSourceOptions {
  dirs: string[];
  store: ConfigStore;
  /** Called with a file's (or folder's) diagnostics when they may have changed; [] clears them. */
  onDiagnostics?(file: string, diagnostics: Diagnostic[]): void;
  /** Poll interval, the backstop for events watchers miss; 0 disables. */
  pollMs?: number;
  /** Quiet time after a file-system event before scanning. */
  debounceMs?: number;
  /** Longest a stream of events can postpone a scan. */
  debounceMaxMs?: number;
  limits?: Partial<LoadLimits>;
  /** Files at least this big are parsed in a worker thread. */
  workerThresholdBytes?: number;
  /** Heap for that worker. */
  workerHeapMb?: number;
  /** Diagnostics kept per file; the rest are counted in one line. */
  maxDiagnosticsPerFile?: number;
  /** Folders watched at most; changes deeper in a bigger tree are seen by the poll. */
  maxWatchedDirs?: number;
}

/** Longest stretch of work between yields to the event loop during a scan. */
const SLICE_MS = 10;

export class DirSource {
  private readonly files = new Map<string, FileState>();
  /** Walk problems by path (loops, dangling links, unreadable folders). */
  private problems = new Map<string, Diagnostic[]>();
  private readonly watchers = new Map<string, fs.FSWatcher>();
  private readonly limits: LoadLimits;
  private timer?: NodeJS.Timeout;
  private firstEventAt = 0;
  private poller?: NodeJS.Timeout;
  private scanning?: Promise<void>;
  private rescanRequested = false;
  private stopped = false;
  /** Bumped by stop(): a scan that was running then drops its results. */
  private epoch = 0;
  private started = false;
  private inFlight?: WorkerCheck;

  constructor(private readonly opts: DirSourceOptions) {
    this.limits = { ...DEFAULT_LOAD_LIMITS, ...opts.limits };
  }

  /** Check the folders exist (throws at once if not), then scan once and start watching. */
  start(): Promise<void> {
    for (const dir of this.opts.dirs) {
      let ok = false;
      try {
        ok = fs.statSync(dir).isDirectory();
      } catch {
        // reported below
      }
      if (!ok) throw new Error(`--config-dir: "${dir}" is not a folder`);
    }
    return this.scan().then(() => {
      this.started = true;
      const pollMs = this.opts.pollMs ?? 2000;
      if (pollMs > 0 && !this.stopped) this.poller = setInterval(() => void this.scan(), pollMs);
    });
  }

  stop(): void {
    this.stopped = true;
    this.epoch++;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    if (this.timer) clearTimeout(this.timer);
    if (this.poller) clearInterval(this.poller);
    this.inFlight?.cancel();
  }

  diagnostics(): Diagnostic[] {
    return [...[...this.problems.values()].flat(), ...[...this.files.values()].flatMap((f) => f.diagnostics)];
  }

  /** Folders currently watched (for tests and /debug). */
  watchedDirs(): string[] {
    return [...this.watchers.keys()];
  }

  private scheduleScan(): void {
    if (this.stopped) return;
    const now = Date.now();
    if (!this.timer) this.firstEventAt = now;
    else if (now - this.firstEventAt >= (this.opts.debounceMaxMs ?? 500))
      return; // let the pending scan run
    else clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.scan();
    }, this.opts.debounceMs ?? 30);
  }

  /**
   * Re-read files that changed, drop files that are gone. One scan at a time:
   * a call during a scan asks for one more after it, and resolves when that is done.
   * Never rejects.
   */
  scan(): Promise<void> {
    if (this.scanning) {
      this.rescanRequested = true;
      return this.scanning;
    }
    this.scanning = (async () => {
      do {
        this.rescanRequested = false;
        try {
          await this.scanOnce();
        } catch (e) {
          // A bug here must not take serving down; the next event or poll retries.
          this.setProblems(
            new Map([
              [this.opts.dirs[0] ?? ".", [{ severity: "error", message: `scan failed: ${(e as Error).message}`, origin: { file: this.opts.dirs[0] ?? "." } }]],
            ]),
          );
        }
      } while (this.rescanRequested);
    })().finally(() => {
      this.scanning = undefined;
    });
    return this.scanning;
  }

  private async scanOnce(): Promise<void> {
    const epoch = this.epoch;
    const listed: string[] = [];
    const stats = new Map<string, fs.Stats>();
    const unreadable: string[] = [];
    const dirs: string[] = [];
    const problems = new Map<string, Diagnostic[]>();
    const addProblem = (d: Diagnostic) => {
      const where = d.origin?.file ?? "";
      problems.set(where, [...(problems.get(where) ?? []), d]);
    };
    for (const root of this.opts.dirs) {
      try {
        const walked = await walkManifestDirSliced(root, this.limits, SLICE_MS);
        walked.files.forEach((f, i) => stats.set(f, walked.stats[i]!));
        listed.push(...walked.files);
        unreadable.push(...walked.unreadable);
        dirs.push(...walked.dirs);
        walked.problems.forEach(addProblem);
      } catch (e) {
        unreadable.push(root);
        addProblem({
          severity: "error",
          message: `config folder cannot be read: ${describeFsError(e)}; keeping the objects last read from it`,
          origin: { file: root },
        });
      }
    }
    const under = (file: string) => unreadable.some((u) => file === u || file.startsWith(u + path.sep));
    const seen = new Set(listed);
    const results = new Map<string, FileState | undefined>();
    for (const file of this.files.keys()) if (!seen.has(file) && !under(file)) results.set(file, undefined);

    let sliceStart = performance.now();
    for (const file of listed) {
      if (this.epoch !== epoch) return;
      const next = await this.loadIfChanged(file, stats.get(file)!);
      if (next) results.set(file, next);
      if (performance.now() - sliceStart > SLICE_MS) {
        await yieldToLoop();
        sliceStart = performance.now();
      }
    }
    if (this.epoch !== epoch) return;
    // Apply the scan in one go, so a push never sees some files of a change and not others.
    // Only work too big for one turn of the event loop is spread over several: a flood of
    // thousands of files (yielding every SLICE_MS), and big files (written in shards after).
    const big: [string, FileState | undefined, boolean][] = [];
    sliceStart = performance.now();
    for (const [file, state] of results) {
      if (performance.now() - sliceStart > SLICE_MS) {
        await yieldToLoop();
        if (this.epoch !== epoch) return;
        sliceStart = performance.now();
      }
      const wasSharded = this.files.get(file)?.sharded ?? false;
      if (state) this.files.set(file, state);
      else this.files.delete(file);
      this.opts.onDiagnostics?.(file, state?.diagnostics ?? []);
      // A big file coming, changing or going (deleting 100,000 objects costs as much as adding them).
      if (state?.sharded || wasSharded) {
        big.push([file, state, wasSharded]);
        continue;
      }
      this.opts.store.replaceSource(sourceId(file), state?.objects ?? []);
    }
    for (const [file, state, wasSharded] of big) {
      if (state?.sharded) {
        if (!(await this.writeSharded(file, state.objects, epoch))) return;
        if (!wasSharded) this.opts.store.replaceSource(sourceId(file), []);
      } else {
        // Now small or gone: its objects first (a key in both is never seen deleted), then empty the shards.
        this.opts.store.replaceSource(sourceId(file), state?.objects ?? []);
        if (!(await this.writeSharded(file, [], epoch))) return;
      }
    }
    const added = this.watch(dirs, addProblem);
    this.setProblems(problems);
    // Files created in a new folder before its watcher existed were missed by nothing but this rescan.
    if (added && this.started) this.scheduleScan();
  }

  /**
   * Write a big file's objects as SHARDS store sources, yielding between them
   * ([] empties them: the file went away or became small).
   * An object's shard follows from its key, so an edit never moves it between
   * shards and no write shows it deleted in between. Returns false if stopped.
   */
  private async writeSharded(file: string, objects: MeshObject[], epoch: number): Promise<boolean> {
    const shards: MeshObject[][] = Array.from({ length: SHARDS }, () => []);
    let sliceStart = performance.now();
    // Splitting 100,000 objects (a key and a hash each) takes ~100 ms: in slices too.
    for (let i = 0; i < objects.length; i++) {
      const o = objects[i]!;
      shards[shardOf(keyOf(o))]!.push(o);
      if (i % 1024 === 1023 && performance.now() - sliceStart > SLICE_MS) {
        await yieldToLoop();
        if (this.epoch !== epoch) return false;
        sliceStart = performance.now();
      }
    }
    for (let i = 0; i < SHARDS; i++) {
      if (this.epoch !== epoch) return false;
      this.opts.store.replaceSource(shardId(file, i), shards[i]!);
      if (performance.now() - sliceStart > SLICE_MS) {
        await yieldToLoop();
        sliceStart = performance.now();
      }
    }
    return true;
  }

  /** The file's new state, or undefined if it has not changed (or vanished: the next scan drops it). */
  private async loadIfChanged(file: string, st: fs.Stats): Promise<FileState | undefined> {
    const previous = this.files.get(file);
    const lastGood = previous?.objects ?? [];
    const stamp = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
    if (previous?.stamp === stamp) return undefined;
    if (st.size > this.limits.maxFileBytes) {
      return this.failed(
        file,
        `file is ${mib(st.size)}; the limit is ${mib(this.limits.maxFileBytes)} per file (split it into several files)`,
        lastGood,
        stamp,
      );
    }
    const maxDiagnostics = this.opts.maxDiagnosticsPerFile ?? 100;
    if (st.size >= (this.opts.workerThresholdBytes ?? 256 * 1024)) {
      this.inFlight = checkFileInWorker(file, { limits: this.limits, maxDiagnostics, maxHeapMb: this.opts.workerHeapMb ?? 2048 });
      const checked = await this.inFlight.result;
      this.inFlight = undefined;
      const merged = mergeWithLastGood(file, checked, lastGood);
      return {
        stamp,
        objects: merged.objects,
        diagnostics: capDiagnostics(file, merged.diagnostics, maxDiagnostics, checked.dropped),
        sharded: merged.objects.length > SHARD_ABOVE,
      };
    }
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return undefined;
      return this.failed(file, `cannot read: ${describeFsError(e)}`, lastGood, stamp);
    }
    const merged = mergeWithLastGood(file, checkFileText(text, file, this.limits), lastGood);
    return {
      stamp,
      objects: merged.objects,
      diagnostics: capDiagnostics(file, merged.diagnostics, maxDiagnostics, 0),
      sharded: merged.objects.length > SHARD_ABOVE,
    };
  }

  private failed(file: string, message: string, lastGood: MeshObject[], stamp: string): FileState {
    const kept = keepLastGood(file, lastGood, [{ severity: "error", message, origin: { file } }]);
    return { stamp, ...kept, sharded: kept.objects.length > SHARD_ABOVE };
  }

  /** One watcher per folder, up to the cap; returns whether any was added. */
  private watch(dirs: string[], addProblem: (d: Diagnostic) => void): boolean {
    if (this.stopped) return false;
    const wanted = new Set(dirs);
    for (const [dir, w] of this.watchers) {
      if (wanted.has(dir)) continue;
      w.close();
      this.watchers.delete(dir);
    }
    const cap = this.opts.maxWatchedDirs ?? 1000;
    let added = false;
    let unwatched = 0;
    for (const dir of dirs) {
      if (this.watchers.has(dir)) continue;
      if (this.watchers.size >= cap) {
        unwatched++;
        continue;
      }
      try {
        const w = fs.watch(dir, { persistent: false }, () => this.scheduleScan());
        // e.g. the folder is deleted or unmounted: forget the watcher and rescan (which re-adds it if the folder is back).
        w.on("error", () => {
          w.close();
          if (this.watchers.get(dir) === w) this.watchers.delete(dir);
          this.scheduleScan();
        });
        this.watchers.set(dir, w);
        added = true;
      } catch (e) {
        // Out of inotify watches, or the folder just vanished: the poll still sees changes here.
        unwatched++;
        if ((e as NodeJS.ErrnoException).code !== "ENOENT")
          addProblem({
            severity: "warning",
            message: `cannot watch folder (${describeFsError(e)}); its changes are seen by the poll only`,
            origin: { file: dir },
          });
      }
    }
    if (unwatched > 0 && this.watchers.size >= cap) {
      const root = this.opts.dirs[0] ?? ".";
      addProblem({
        severity: "warning",
        message: `${dirs.length} folders: only ${cap} are watched; changes in the other ${unwatched} are seen by the poll only`,
        origin: { file: root },
      });
    }
    return added;
  }

  /** Replace the walk problems, telling the listener about paths whose problems appeared or cleared. */
  private setProblems(next: Map<string, Diagnostic[]>): void {
    for (const where of this.problems.keys()) if (!next.has(where) && !this.files.has(where)) this.opts.onDiagnostics?.(where, []);
    for (const [where, ds] of next) this.opts.onDiagnostics?.(where, [...ds, ...(this.files.get(where)?.diagnostics ?? [])]);
    this.problems = next;
  }
}

function sourceId(file: string): string {
  return `file:${file}`;
}

/** A file with more objects than this is written to the store in shards, between turns of the event loop. */
const SHARD_ABOVE = 2000;
const SHARDS = 64;

function shardId(file: string, shard: number): string {
  return `file:${file}#${shard}`;
}

/** A stable shard for a key (FNV-1a). */
function shardOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) % SHARDS;
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** At most `max` diagnostics for a file, and one line counting the rest (a file of 100,000 bad objects must not flood the log). */
function capDiagnostics(file: string, ds: Diagnostic[], max: number, alreadyDropped: number): Diagnostic[] {
  const dropped = alreadyDropped + Math.max(0, ds.length - max);
  if (dropped === 0) return ds;
  return [...ds.slice(0, max), { severity: "warning", message: `${dropped} more problem(s) in this file not shown`, origin: { file } }];
}
