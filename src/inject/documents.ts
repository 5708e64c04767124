/**
 * kube-inject over a multi-document YAML (or JSON) text: each document is a
 * Kubernetes object, a `kind: List` of them, or empty. Documents that are not
 * injected are copied from the input byte for byte (comments included); any
 * bad document fails the whole run with its number, kind/name, line, field
 * and reason, so a partial manifest never reaches `kubectl apply`.
 */
import { parseAllDocuments, stringify } from "yaml";
import { InjectError } from "./inject-pod";
import { injectObject, ObjectContext } from "./workloads";
import type { Json } from "./sidecar";

export interface DocumentsResult {
  /** Empty when there are errors. */
  output: string;
  /** One line per workload: injected, or why not. */
  notes: string[];
  errors: string[];
}

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function describe(obj: unknown, ctx: ObjectContext): string {
  if (!isObject(obj)) return "";
  const meta = isObject(obj.metadata) ? obj.metadata : {};
  const name = typeof meta.name === "string" ? meta.name : typeof meta.generateName === "string" ? `${meta.generateName}*` : "(no name)";
  const ns = typeof meta.namespace === "string" ? meta.namespace : ctx.defaultNamespace;
  return ` (${typeof obj.kind === "string" ? obj.kind : "no kind"} ${ns}/${name})`;
}

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

export function injectDocuments(text: string, file: string, ctx: ObjectContext, format: "yaml" | "json"): DocumentsResult {
  const docs = parseAllDocuments(text, { prettyErrors: false });
  const notes: string[] = [];
  const errors: string[] = [];
  const pieces: string[] = [];
  const objects: unknown[] = [];
  let cursor = 0;
  const list = Array.isArray(docs) ? docs : [];
  list.forEach((doc, i) => {
    const end = doc.range[2];
    const piece = text.slice(cursor, end);
    // The first line of the object itself, not of its `---` marker.
    const startLine = lineOf(text, doc.contents?.range[0] ?? doc.range[0]);
    const where = `${file}: document ${i + 1}`;
    cursor = end;
    if (doc.errors.length) {
      errors.push(`${where} (line ${startLine}): not valid YAML: ${doc.errors[0]!.message.split("\n")[0]}`);
      return;
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) {
      pieces.push(piece);
      return;
    }
    const one = (obj: unknown, label: string): { changed: boolean; object: unknown } => {
      try {
        const r = injectObject(obj, ctx);
        if (r.kind === "skipped") return { changed: false, object: obj };
        notes.push(`${label}${describe(obj, ctx)}: ${r.injected ? "injected" : "not injected"} (${r.decision.reason})`);
        return { changed: r.injected, object: r.object };
      } catch (e) {
        if (!(e instanceof InjectError)) throw e;
        errors.push(`${label}${describe(obj, ctx)} (line ${startLine}): ${e.message}`);
        return { changed: false, object: obj };
      }
    };
    let result: { changed: boolean; object: unknown };
    if (isObject(value) && value.kind === "List" && Array.isArray(value.items)) {
      const items = value.items.map((item, j) => one(item, `${where} items[${j}]`));
      result = { changed: items.some((r) => r.changed), object: { ...value, items: items.map((r) => r.object) } };
    } else {
      result = one(value, where);
    }
    objects.push(result.object);
    pieces.push(result.changed ? `${i > 0 ? "---\n" : ""}${stringify(result.object, { lineWidth: 0 })}` : piece);
  });
  if (errors.length) return { output: "", notes, errors };
  if (format === "json") {
    const body = objects.length === 1 ? objects[0] : { apiVersion: "v1", kind: "List", items: objects };
    return { output: `${JSON.stringify(body, null, 2)}\n`, notes, errors };
  }
  return { output: pieces.join("") + text.slice(cursor), notes, errors };
}
