/**
 * The YAML-folder source: every `.yaml/.yml/.json` file below the given folders,
 * multi-document, parsed and validated, written to the store one file at a time
 * (`replaceSource`), so deleting a file deletes its objects.
 *
 * Bad input loses nothing: a file with a document that does not parse keeps
 * all of its last good objects; an object that fails validation keeps its last
 * valid version (if it had one). Either way a diagnostic names file:line.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ConfigStore, keyOf } from "../../store";
import { parseManifests } from "../../model/parse";
import { validateObject } from "../../model/validate";
import { Diagnostic, MeshObject } from "../../model/types";

const EXTENSIONS = new Set([".yaml", ".yml", ".json"]);

interface FileState {
  /** mtime+size: a cheap "did it change" before reading. */
  stamp: string;
  objects: MeshObject[];
  diagnostics: Diagnostic[];
}

export interface DirSourceOptions {
  dirs: string[];
  store: ConfigStore;
  /** Called with every file's diagnostics after a scan that changed something. */
  onDiagnostics?(file: string, diagnostics: Diagnostic[]): void;
  /** Poll interval when fs.watch is unavailable or misses events; 0 disables. */
  pollMs?: number;
  debounceMs?: number;
}

export class DirSource {
  private readonly files = new Map<string, FileState>();
  private watchers: fs.FSWatcher[] = [];
  private timer?: NodeJS.Timeout;
  private poller?: NodeJS.Timeout;

  constructor(private readonly opts: DirSourceOptions) {}

  /** Scan once; throws if a folder does not exist. */
  start(): void {
    for (const dir of this.opts.dirs) {
      if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new Error(`--config-dir: "${dir}" is not a folder`);
    }
    this.scan();
    for (const dir of this.opts.dirs) {
      try {
        this.watchers.push(fs.watch(dir, { recursive: true }, () => this.scheduleScan()));
      } catch {
        // Recursive watch unsupported here: polling below covers it.
      }
    }
    const pollMs = this.opts.pollMs ?? 2000;
    if (pollMs > 0) this.poller = setInterval(() => this.scan(), pollMs);
  }

  stop(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.timer) clearTimeout(this.timer);
    if (this.poller) clearInterval(this.poller);
  }

  diagnostics(): Diagnostic[] {
    return [...this.files.values()].flatMap((f) => f.diagnostics);
  }

  private scheduleScan(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.scan(), this.opts.debounceMs ?? 30);
  }

  /** Re-read files that changed, drop files that are gone. */
  scan(): void {
    const seen = new Set<string>();
    for (const dir of this.opts.dirs) for (const file of listFiles(dir)) seen.add(file);
    for (const file of [...this.files.keys()]) {
      if (seen.has(file)) continue;
      this.files.delete(file);
      this.opts.store.replaceSource(sourceId(file), []);
      this.opts.onDiagnostics?.(file, []);
    }
    for (const file of [...seen].sort()) this.load(file);
  }

  private load(file: string): void {
    let stamp: string;
    let text: string;
    try {
      const st = fs.statSync(file);
      stamp = `${st.mtimeMs}:${st.size}`;
      if (this.files.get(file)?.stamp === stamp) return;
      text = fs.readFileSync(file, "utf8");
    } catch {
      return; // vanished between listing and reading: the next scan removes it
    }
    const previous = this.files.get(file);
    const next = readObjects(text, file, previous?.objects ?? []);
    this.files.set(file, { stamp, ...next });
    this.opts.store.replaceSource(sourceId(file), next.objects);
    this.opts.onDiagnostics?.(file, next.diagnostics);
  }
}

function sourceId(file: string): string {
  return `file:${file}`;
}

/** Parse and validate one file's text, falling back to `lastGood` where it is broken. */
export function readObjects(text: string, file: string, lastGood: MeshObject[]): { objects: MeshObject[]; diagnostics: Diagnostic[] } {
  const parsed = parseManifests(text, file);
  const diagnostics = [...parsed.diagnostics];
  if (parsed.diagnostics.some((d) => d.severity === "error")) {
    if (lastGood.length > 0) diagnostics.push({ severity: "warning", message: `kept the ${lastGood.length} object(s) last read from this file until it parses again`, origin: { file } });
    return { objects: lastGood, diagnostics };
  }
  const previous = new Map(lastGood.map((o) => [keyOf(o), o]));
  const objects: MeshObject[] = [];
  for (const { raw, origin } of parsed.objects) {
    const v = validateObject(raw, origin);
    if (v.ok) {
      objects.push(v.object);
      diagnostics.push(...v.warnings);
      continue;
    }
    diagnostics.push(...v.diagnostics);
    const key = rawKey(raw);
    const kept = key ? previous.get(key) : undefined;
    if (kept) {
      objects.push(kept);
      diagnostics.push({ severity: "warning", kind: kept.kind, namespace: kept.metadata.namespace, name: kept.metadata.name, message: "invalid; still serving its last valid version", origin });
    }
  }
  return { objects, diagnostics };
}

/** The store key a raw object would have, to find its last valid version. */
function rawKey(raw: Record<string, unknown>): string | undefined {
  const meta = raw.metadata as { name?: unknown; namespace?: unknown } | undefined;
  if (typeof raw.kind !== "string" || typeof meta?.name !== "string") return undefined;
  const clusterScoped = raw.kind === "Node" || raw.kind === "Namespace";
  const ns = clusterScoped ? "" : typeof meta.namespace === "string" ? meta.namespace : "default";
  return `${raw.kind}/${ns}/${meta.name}`;
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.name.startsWith(".")) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && EXTENSIONS.has(path.extname(e.name))) out.push(p);
    }
  };
  walk(dir);
  return out;
}
