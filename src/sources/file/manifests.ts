/**
 * The one manifest loader: find manifest files (a folder walked by the rules in
 * ./walk, a single file, or `-` for stdin), read them within a size limit,
 * parse and validate. `serve --config-dir` (through DirSource), `translate`,
 * `validate` and `static` all read manifests through here, so they agree on
 * which files count, in what order, and what a broken one reports.
 *
 * Diagnostics keep the `file:line kind ns/name field: message` form; a file
 * that cannot be read at all carries its reason as a diagnostic on a
 * `ManifestFile` with no text, so callers need no second error channel.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { keyOf } from "../../store";
import { parseManifests, DEFAULT_PARSE_LIMITS, type ParseLimits } from "../../model/parse";
import { validateObject } from "../../model/validate";
import type { Diagnostic, MeshObject, Origin } from "../../model/types";
import { describeFsError, walkManifestDir, DEFAULT_WALK_LIMITS, type WalkLimits } from "./walk";

export interface ManifestFile {
  file: string;
  text: string;
  /** Why the file could not be read (then `text` is empty). */
  diagnostics?: Diagnostic[];
}

export interface LoadLimits extends ParseLimits, WalkLimits {
  /** Bytes per file; a bigger file is refused without being read. */
  maxFileBytes: number;
}

export const DEFAULT_LOAD_LIMITS: LoadLimits = { ...DEFAULT_PARSE_LIMITS, ...DEFAULT_WALK_LIMITS, maxFileBytes: 16 * 1024 * 1024 };

/** The path that means "standard input". */
export const STDIN = "-";
/** How standard input is named in diagnostics. */
export const STDIN_NAME = "<stdin>";

/** Thrown when the folder or file the user named cannot be read at all. */
export class ManifestRootError extends Error {
  constructor(
    readonly root: string,
    readonly reason: "does not exist" | "is not a directory" | string,
  ) {
    super(`"${root}" ${reason}`);
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function unreadable(file: string, message: string): ManifestFile {
  return { file, text: "", diagnostics: [{ severity: "error", message, origin: { file } }] };
}

/** Read one manifest file (or stdin for "-"), refusing files over the byte limit before reading them. */
export function readManifestFile(file: string, limits: Pick<LoadLimits, "maxFileBytes"> = DEFAULT_LOAD_LIMITS): ManifestFile {
  try {
    if (file === STDIN) {
      const buf = fs.readFileSync(0);
      if (buf.length > limits.maxFileBytes)
        return unreadable(STDIN_NAME, `standard input is ${mib(buf.length)}; the limit is ${mib(limits.maxFileBytes)} per file`);
      return { file: STDIN_NAME, text: buf.toString("utf8") };
    }
    const size = fs.statSync(file).size;
    if (size > limits.maxFileBytes)
      return unreadable(file, `file is ${mib(size)}; the limit is ${mib(limits.maxFileBytes)} per file (split it into several files)`);
    return { file, text: fs.readFileSync(file, "utf8") };
  } catch (e) {
    return unreadable(file, `cannot read: ${describeFsError(e)}`);
  }
}

/** Manifest files under a folder, in walk order; walk problems come back as unreadable entries. */
export function readManifestFolder(dir: string, opts: { limits?: LoadLimits; relativeTo?: string } = {}): ManifestFile[] {
  const limits = opts.limits ?? DEFAULT_LOAD_LIMITS;
  let walked;
  try {
    walked = walkManifestDir(dir, limits);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ManifestRootError(
      dir,
      code === "ENOENT" ? "does not exist" : code === "ENOTDIR" ? "is not a directory" : `cannot be read: ${describeFsError(e)}`,
    );
  }
  const name = (p: string) => (opts.relativeTo === undefined ? p : path.relative(opts.relativeTo, p) || p);
  const out: ManifestFile[] = walked.problems.map((d) => ({
    file: name(d.origin?.file ?? dir),
    text: "",
    diagnostics: [{ ...d, origin: { file: name(d.origin?.file ?? dir) } }],
  }));
  for (const file of walked.files) {
    const read = readManifestFile(file, limits);
    out.push({
      ...read,
      file: name(file),
      ...(read.diagnostics ? { diagnostics: read.diagnostics.map((d) => ({ ...d, origin: { file: name(file) } })) } : {}),
    });
  }
  return out;
}

/**
 * Manifest files named by `paths` (files, folders read recursively, or "-"),
 * each read once. A path that cannot be read is an unreadable entry, not an exception.
 */
export function readManifestPaths(paths: readonly string[], limits: LoadLimits = DEFAULT_LOAD_LIMITS): ManifestFile[] {
  const out: ManifestFile[] = [];
  const seen = new Set<string>();
  const add = (f: ManifestFile) => {
    if (seen.has(f.file)) return;
    seen.add(f.file);
    out.push(f);
  };
  for (const p of paths) {
    if (p === STDIN) {
      add(readManifestFile(p, limits));
      continue;
    }
    let isDir: boolean;
    try {
      isDir = fs.statSync(p).isDirectory();
    } catch (e) {
      add(unreadable(p, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`));
      continue;
    }
    if (!isDir) {
      add(readManifestFile(p, limits));
      continue;
    }
    try {
      for (const f of readManifestFolder(p, { limits })) add(f);
    } catch (e) {
      if (!(e instanceof ManifestRootError)) throw e;
      add(unreadable(p, `cannot read: ${e.reason}`)); // vanished or unreadable since the stat above
    }
  }
  return out;
}

export interface LoadedObjects {
  objects: MeshObject[];
  diagnostics: Diagnostic[];
  /** Objects read, valid or not. */
  read: number;
}

/** Manifest texts -> validated objects plus every read/parse/validation diagnostic (the user's path). */
export function objectsFromManifests(files: readonly ManifestFile[], limits: ParseLimits = DEFAULT_LOAD_LIMITS): LoadedObjects {
  const out: LoadedObjects = { objects: [], diagnostics: [], read: 0 };
  for (const f of files) {
    if (f.diagnostics) out.diagnostics.push(...f.diagnostics);
    if (f.text === "") continue;
    const parsed = parseManifests(f.text, f.file, limits);
    out.diagnostics.push(...parsed.diagnostics);
    for (const { raw, origin } of parsed.objects) {
      out.read++;
      const r = validateObject(raw, origin);
      if (r.ok) {
        out.objects.push(r.object);
        out.diagnostics.push(...r.warnings);
      } else {
        out.diagnostics.push(...r.diagnostics);
      }
    }
  }
  return out;
}

/** One object's validation outcome, as a worker can send it back (plain data). */
export type CheckedEntry = { object: MeshObject; warnings: Diagnostic[] } | { invalidKey?: string; origin: Origin; diagnostics: Diagnostic[] };

export interface CheckedFile {
  /** Parse problems (and limit breaches); an error here means the file as a whole is unusable. */
  parseDiagnostics: Diagnostic[];
  entries: CheckedEntry[];
}

/** Parse and validate one file's text, without deciding what to keep (see mergeWithLastGood). */
export function checkFileText(text: string, file: string, limits: ParseLimits = DEFAULT_LOAD_LIMITS): CheckedFile {
  const parsed = parseManifests(text, file, limits);
  const out: CheckedFile = { parseDiagnostics: parsed.diagnostics, entries: [] };
  if (parsed.diagnostics.some((d) => d.severity === "error")) return out;
  for (const { raw, origin } of parsed.objects) {
    const v = validateObject(raw, origin);
    if (v.ok) out.entries.push({ object: v.object, warnings: v.warnings });
    else {
      const invalidKey = rawKey(raw);
      out.entries.push({ ...(invalidKey ? { invalidKey } : {}), origin, diagnostics: v.diagnostics });
    }
  }
  return out;
}

/**
 * What a long-running source serves from a checked file, falling back to
 * `lastGood` where it is broken: a file that does not parse (or breaks a
 * limit) keeps all its last good objects; an invalid object keeps its last
 * valid version if it had one. Either way a diagnostic says so.
 */
export function mergeWithLastGood(file: string, checked: CheckedFile, lastGood: readonly MeshObject[]): { objects: MeshObject[]; diagnostics: Diagnostic[] } {
  const diagnostics = [...checked.parseDiagnostics];
  if (diagnostics.some((d) => d.severity === "error")) return keepLastGood(file, lastGood, diagnostics);
  // Built only when an object is invalid: a big valid file pays nothing for it.
  let previous: Map<string, MeshObject> | undefined;
  const objects: MeshObject[] = [];
  for (const e of checked.entries) {
    // One push per diagnostic, not a spread per entry: a 100,000-object file has mostly none (35 ms of one turn before).
    if ("object" in e) {
      objects.push(e.object);
      for (const w of e.warnings) diagnostics.push(w);
      continue;
    }
    for (const d of e.diagnostics) diagnostics.push(d);
    if (e.invalidKey && !previous) previous = new Map(lastGood.map((o) => [keyOf(o), o]));
    const kept = e.invalidKey ? previous!.get(e.invalidKey) : undefined;
    if (kept) {
      objects.push(kept);
      diagnostics.push({
        severity: "warning",
        kind: kept.kind,
        namespace: kept.metadata.namespace,
        name: kept.metadata.name,
        message: "invalid; still serving its last valid version",
        origin: e.origin,
      });
    }
  }
  return { objects, diagnostics };
}

/** The file as a whole could not be used: serve what it last held, and say so. */
export function keepLastGood(file: string, lastGood: readonly MeshObject[], diagnostics: Diagnostic[]): { objects: MeshObject[]; diagnostics: Diagnostic[] } {
  const out = [...diagnostics];
  if (lastGood.length > 0)
    out.push({ severity: "warning", message: `kept the ${lastGood.length} object(s) last read from this file until it parses again`, origin: { file } });
  return { objects: [...lastGood], diagnostics: out };
}

/** The store key a raw object would have, to find its last valid version. */
function rawKey(raw: Record<string, unknown>): string | undefined {
  const meta = raw.metadata as { name?: unknown; namespace?: unknown } | undefined;
  if (typeof raw.kind !== "string" || typeof meta?.name !== "string") return undefined;
  const clusterScoped = raw.kind === "Node" || raw.kind === "Namespace";
  const ns = clusterScoped ? "" : typeof meta.namespace === "string" ? meta.namespace : "default";
  return `${raw.kind}/${ns}/${meta.name}`;
}
