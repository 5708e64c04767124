/**
 * The canary against a folder of YAML (`--config-dir`): reads every manifest
 * the way serve does (the same walk), edits the DestinationRule and
 * VirtualService documents in the files that hold them, and creates new files
 * for new objects. Each write is atomic (a dot-named temp file, which the
 * walk skips, renamed over the target), so a running `serve --config-dir`
 * never reads half a file; the DestinationRule is written before the
 * VirtualService that names its subsets. Other documents, and the comments
 * above each document, are kept.
 *
 * Deployments are not managed here: in a folder they are the user's (the
 * folder feeds a control plane, not a cluster).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { walkManifestDir } from "../sources/file/walk";
import type { ChangeWriter } from "./apply";
import type { AppState, Raw } from "./objects";
import { type Change, Refusal } from "./plan";

interface Located {
  file: string;
  /** Index of the document in the file. */
  doc: number;
}

const KINDS = new Set(["Service", "Deployment", "Pod", "EndpointSlice", "DestinationRule", "VirtualService"]);

function readDocs(file: string): YAML.Document.Parsed[] {
  return YAML.parseAllDocuments(fs.readFileSync(file, "utf8")) as YAML.Document.Parsed[];
}

function render(file: string, docs: YAML.Document[]): string {
  if (/\.json$/i.test(file)) {
    if (docs.length !== 1) throw new Error(`${file}: a JSON file holds one document`);
    return JSON.stringify(docs[0]!.toJS(), null, 2) + "\n";
  }
  // A parsed document that began with "---" prints it again; a new one does not.
  return docs
    .map((d, i) => {
      const text = d.toString({ lineWidth: 0 });
      return i === 0 || text.startsWith("---") ? text : "---\n" + text;
    })
    .join("");
}

/**
 * Change a parsed document to `next` touching only what differs (per field of
 * metadata, per top-level key otherwise), so comments on the rest stay.
 */
function updateInPlace(doc: YAML.Document, current: Raw, next: Raw): void {
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  for (const key of new Set([...Object.keys(current), ...Object.keys(next)])) {
    if (same(current[key], next[key])) continue;
    if (next[key] === undefined) doc.delete(key);
    else if (key === "metadata" && current.metadata && typeof next.metadata === "object") {
      for (const m of new Set([...Object.keys(current.metadata), ...Object.keys(next.metadata)])) {
        if (same(current.metadata[m], next.metadata[m])) continue;
        if (next.metadata[m] === undefined) doc.deleteIn(["metadata", m]);
        else doc.setIn(["metadata", m], doc.createNode(next.metadata[m]));
      }
    } else doc.set(key, doc.createNode(next[key]));
  }
}

/** Write `text` to `file` atomically: a temp file beside it, then rename. */
function writeAtomic(file: string, text: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.canary-${process.pid}`);
  try {
    fs.writeFileSync(tmp, text, { mode: fs.existsSync(file) ? fs.statSync(file).mode & 0o777 : 0o644 });
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

export class FolderCanaryBackend implements ChangeWriter {
  readonly where: string;
  private readonly located = new Map<string, Located>();
  /** File contents before this run touched them (undefined: the file did not exist). */
  private readonly original = new Map<string, string | undefined>();

  constructor(
    private readonly dir: string,
    private readonly namespace: string,
  ) {
    this.where = `folder ${dir}`;
  }

  private key(kind: string, name: string): string {
    return `${kind}/${name}`;
  }

  load(app: string): Promise<AppState> {
    if (!fs.existsSync(this.dir) || !fs.statSync(this.dir).isDirectory()) throw new Refusal(`--config-dir ${this.dir}: not a folder`);
    const state: AppState = { namespace: this.namespace, app, deployments: [], pods: [], endpointSlices: [], destinationRules: [], virtualServices: [] };
    for (const rel of walkManifestDir(this.dir).files) {
      const file = rel; // the walk gives paths under the root, root included
      let docs: YAML.Document.Parsed[];
      try {
        docs = readDocs(file);
      } catch (e) {
        throw new Refusal(`${file}: cannot read it (${(e as Error).message.split("\n")[0]}); fix the folder first (mini-pilot validate -f ${this.dir})`);
      }
      // A rule in a file that does not parse is invisible here: acting anyway could add a second one.
      const broken = docs.find((d) => d.errors.length > 0);
      if (broken)
        throw new Refusal(`${file} does not parse (${broken.errors[0]!.message.split("\n")[0]}); fix the folder first (mini-pilot validate -f ${this.dir})`);
      docs.forEach((d, i) => {
        const o = d.toJS() as Raw | null;
        if (!o || typeof o !== "object" || !KINDS.has(o.kind)) return;
        if ((o.metadata?.namespace ?? "default") !== this.namespace) return;
        const name = String(o.metadata?.name ?? "");
        this.located.set(this.key(o.kind, name), { file, doc: i });
        if (o.kind === "Service" && name === app) state.service = o;
        else if (o.kind === "Deployment") state.deployments.push(o);
        else if (o.kind === "Pod") state.pods.push(o);
        else if (o.kind === "EndpointSlice") state.endpointSlices.push(o);
        else if (o.kind === "DestinationRule") state.destinationRules.push(o);
        else if (o.kind === "VirtualService") state.virtualServices.push(o);
      });
    }
    return Promise.resolve(state);
  }

  /** Where a created object goes: `<app>-<kind>.yaml` in the folder, never over an existing file. */
  newFile(c: Change): string {
    return path.join(this.dir, `${c.name}-${c.kind.toLowerCase()}.yaml`);
  }

  /**
   * One canary command at a time on a folder: a dot-named lock file (the walk
   * skips it) created exclusively. A cluster needs none: replace carries the
   * resourceVersion it read, so a concurrent edit fails there instead.
   */
  lock(): () => void {
    const file = path.join(this.dir, ".mini-pilot-canary.lock");
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: "wx" });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST")
        throw new Refusal(`another mini-pilot canary is working on ${this.dir} (${file} exists; remove it if no canary command is running)`);
      throw new Refusal(`${this.dir}: cannot write there (${(e as Error).message.split("\n")[0]})`);
    }
    return () => fs.rmSync(file, { force: true });
  }

  /** Refuse before writing anything when a plan would need a file that is taken. */
  check(changes: Change[]): void {
    for (const c of changes) {
      if (c.op === "create" && fs.existsSync(this.newFile(c))) throw new Refusal(`${this.newFile(c)} exists; cannot create ${c.kind} ${c.name} there`);
    }
  }

  private remember(file: string): void {
    if (!this.original.has(file)) this.original.set(file, fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined);
  }

  async apply(c: Change): Promise<void> {
    if (c.kind === "Deployment") throw new Error(`Deployments are not managed in folder mode`);
    if (c.op === "create") {
      const file = this.newFile(c);
      this.remember(file);
      if (fs.existsSync(file)) throw new Error(`${file} exists`);
      writeAtomic(file, new YAML.Document(c.object).toString({ lineWidth: 0 }));
      return;
    }
    const at = this.located.get(this.key(c.kind, c.name));
    if (!at) throw new Error(`${c.kind} ${c.name} is not in the folder any more`);
    this.remember(at.file);
    const docs: YAML.Document[] = readDocs(at.file);
    const doc = docs[at.doc];
    const current = doc?.toJS() as Raw | undefined;
    if (!doc || current?.kind !== c.kind || current?.metadata?.name !== c.name)
      throw new Error(`${at.file} changed while the canary ran (${c.kind} ${c.name} moved); run again`);
    if (c.op === "replace") {
      updateInPlace(doc, current, c.object);
      writeAtomic(at.file, render(at.file, docs));
    } else {
      docs.splice(at.doc, 1);
      // Later documents in this file moved up one.
      for (const l of this.located.values()) if (l.file === at.file && l.doc > at.doc) l.doc--;
      if (docs.length === 0) fs.rmSync(at.file);
      else writeAtomic(at.file, render(at.file, docs));
    }
    await Promise.resolve();
  }

  /** Undo restores whole files as they were before this run. */
  async undo(c: Change): Promise<void> {
    const file = c.op === "create" ? this.newFile(c) : this.located.get(this.key(c.kind, c.name))?.file;
    if (!file || !this.original.has(file)) return;
    const text = this.original.get(file);
    if (text === undefined) fs.rmSync(file, { force: true });
    else writeAtomic(file, text);
    await Promise.resolve();
  }
}
