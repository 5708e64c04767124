/**
 * Which files under a folder are manifests — the one set of rules shared by
 * `serve --config-dir`, `translate`, `validate` and `static`:
 *
 * - names ending .yaml, .yml or .json, in any letter case;
 * - entries whose name starts with "." are skipped (editor swap files, `.git`,
 *   and the `..data` / `..2026_…` folders of a Kubernetes ConfigMap volume),
 *   but symlinks are followed, so a ConfigMap's `foo.yaml -> ..data/foo.yaml`
 *   is read exactly once, through its visible name;
 * - depth first, each folder's entries in code-unit order of their names.
 *
 * The walk never throws for what it finds inside the folder: symlink loops,
 * dangling links, unreadable entries and folders that vanish mid-walk become
 * `problems` (or, for a vanished entry, are simply absent), and it stops at a
 * depth and file-count cap so a huge tree cannot stall the caller.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { setImmediate as yieldToLoop } from "node:timers/promises";
import type { Diagnostic } from "../../model/types";

export const MANIFEST_EXTENSION = /\.(ya?ml|json)$/i;

export interface WalkLimits {
  /** Files listed before the walk stops (with a problem saying so). */
  maxFiles: number;
  /** Folder nesting below the root. */
  maxDepth: number;
}

export const DEFAULT_WALK_LIMITS: WalkLimits = { maxFiles: 20_000, maxDepth: 32 };

export interface WalkResult {
  /** Manifest files, in walk order, as paths under the root (symlinks not resolved). */
  files: string[];
  /** Their stats (symlinks followed) as the walk saw them, so callers need not stat again. */
  stats: fs.Stats[];
  /** Every folder read (root included), for watchers. */
  dirs: string[];
  /**
   * Folders (or files) that exist but could not be read: what was loaded from
   * under them before is unknown rather than gone, so callers keep it.
   */
  unreadable: string[];
  problems: Diagnostic[];
}

function problem(file: string, message: string, severity: Diagnostic["severity"] = "error"): Diagnostic {
  return { severity, message, origin: { file } };
}

/** A short reason for a file-system error, e.g. "permission denied (EACCES)". */
export function describeFsError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err.code) {
    case "EACCES":
    case "EPERM":
      return `permission denied (${err.code})`;
    case "ELOOP":
      return "symlink loop (ELOOP)";
    case "ENOENT":
      return "does not exist (ENOENT)";
    case "ENOTDIR":
      return "not a folder (ENOTDIR)";
    case "EMFILE":
    case "ENFILE":
      return `too many open files (${err.code})`;
    default:
      return err.code ? `${err.message}` : String(e);
  }
}

const isGone = (e: unknown) => {
  const code = (e as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
};

/** Walk `root` (a folder) for manifests. Throws only if `root` itself cannot be read. */
export function walkManifestDir(root: string, limits: WalkLimits = DEFAULT_WALK_LIMITS): WalkResult {
  const result = emptyResult();
  for (const _ of walkSteps(root, limits, result)) {
    // run to the end in one go
  }
  return result;
}

/**
 * The same walk, yielding to the event loop whenever it has worked for
 * `sliceMs`, so a big tree never holds up serving (a 20,000-file tree takes
 * 70-230 ms of stat calls).
 */
export async function walkManifestDirSliced(root: string, limits: WalkLimits = DEFAULT_WALK_LIMITS, sliceMs = 10): Promise<WalkResult> {
  const result = emptyResult();
  let sliceStart = performance.now();
  for (const _ of walkSteps(root, limits, result)) {
    if (performance.now() - sliceStart < sliceMs) continue;
    await yieldToLoop();
    sliceStart = performance.now();
  }
  return result;
}

function emptyResult(): WalkResult {
  return { files: [], stats: [], dirs: [], unreadable: [], problems: [] };
}

/** How many entries are handled between chances to yield. */
const STEP_ENTRIES = 64;

/** The walk as a generator: it yields between batches of entries, and fills `result`. */
function* walkSteps(root: string, limits: WalkLimits, result: WalkResult): Generator<void> {
  let capped = false;
  // dev:ino of the folders on the current path: a folder met again below itself is a loop.
  const ancestors = new Set<string>();
  // Folders already read through another path (two symlinks to one folder): read once.
  const visited = new Set<string>();

  function* walk(dir: string, id: string, depth: number, isRoot: boolean): Generator<void> {
    let names: string[];
    try {
      names = fs.readdirSync(dir).sort();
    } catch (e) {
      if (isRoot) throw e;
      if (isGone(e)) return; // vanished between listing its parent and reading it: its files are gone
      result.unreadable.push(dir);
      result.problems.push(problem(dir, `cannot read folder: ${describeFsError(e)}; keeping what was read from it before`));
      return;
    }
    result.dirs.push(dir);
    ancestors.add(id);
    visited.add(id);
    let handled = 0;
    for (const name of names) {
      if (capped) break;
      if (++handled % STEP_ENTRIES === 0) yield;
      if (name.startsWith(".")) continue;
      const p = path.join(dir, name);
      let st: fs.Stats;
      try {
        st = fs.statSync(p); // follows symlinks
      } catch (e) {
        if (isGone(e)) {
          // A dangling symlink stays dangling: say so if it looks like a manifest; a vanished entry is just gone.
          if (MANIFEST_EXTENSION.test(name) && isSymlink(p)) result.problems.push(problem(p, "dangling symlink: its target does not exist", "warning"));
          continue;
        }
        result.unreadable.push(p);
        // Could be a folder or a manifest: an error if the name says manifest, else a warning.
        result.problems.push(problem(p, `cannot read: ${describeFsError(e)}`, MANIFEST_EXTENSION.test(name) ? "error" : "warning"));
        continue;
      }
      if (st.isDirectory()) {
        const childId = `${st.dev}:${st.ino}`;
        if (ancestors.has(childId)) {
          result.problems.push(problem(p, "symlink loop: this folder contains itself; not followed", "warning"));
          continue;
        }
        if (visited.has(childId)) continue; // the same folder through a second symlink: read once
        if (depth + 1 > limits.maxDepth) {
          result.problems.push(problem(p, `folders nested deeper than ${limits.maxDepth} levels are not read`));
          continue;
        }
        yield* walk(p, childId, depth + 1, false);
      } else if (st.isFile() && MANIFEST_EXTENSION.test(name)) {
        if (result.files.length >= limits.maxFiles) {
          capped = true;
          result.unreadable.push(root); // what lies past the cap is unknown, not gone
          result.problems.push(problem(root, `more than ${limits.maxFiles} manifest files; the rest are not read`));
          break;
        }
        result.files.push(p);
        result.stats.push(st);
      }
    }
    ancestors.delete(id);
  }

  const st = fs.statSync(root);
  if (!st.isDirectory()) throw Object.assign(new Error(`not a folder: ${root}`), { code: "ENOTDIR" });
  yield* walk(root, `${st.dev}:${st.ino}`, 0, true);
}

function isSymlink(p: string): boolean {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
