/**
 * Manifest text -> raw objects, each with the file and line it starts on.
 * Multi-document YAML, JSON (a YAML subset), `kind: List` with `items`, and a
 * top-level list of objects are all accepted. A document that does not parse
 * is reported with its line and skipped; the other documents still come through.
 */
import { LineCounter, parseAllDocuments, isMap, isSeq, type Document } from "yaml";
import type { Diagnostic, Origin } from "./types";

export interface RawObject {
  raw: Record<string, unknown>;
  origin: Origin;
}

export interface ParseResult {
  objects: RawObject[];
  diagnostics: Diagnostic[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

// yaml's messages end with " at line N, column M:" followed by a code excerpt; the line is in the origin.
function firstLine(message: string): string {
  return (message.split("\n")[0] ?? "").replace(/ at line \d+, column \d+:?$/, "");
}

function diagnostic(file: string, line: number, message: string): Diagnostic {
  return { severity: "error", message, origin: { file, line } };
}

/** Line of the node at `offset`, 1-based. */
function lineAt(lines: LineCounter, offset: number | undefined): number {
  return offset === undefined ? 1 : lines.linePos(offset).line;
}

function nodeLine(lines: LineCounter, node: unknown): number {
  const range = (node as { range?: [number, number, number] } | undefined)?.range;
  return lineAt(lines, range?.[0]);
}

function documentObjects(doc: Document, file: string, lines: LineCounter, out: ParseResult): void {
  const contents = doc.contents;
  const start = lineAt(lines, contents?.range?.[0] ?? doc.range?.[0]);
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 1000 });
  } catch (e) {
    out.diagnostics.push(diagnostic(file, start, `invalid YAML: ${(e as Error).message}`));
    return;
  }
  if (value === null || value === undefined) return;
  // A bare list of objects (common in JSON) is treated like a List's items.
  if (Array.isArray(value) && isSeq(contents)) {
    value.forEach((item, i) => pushItem(item, nodeLine(lines, contents.items[i]), file, out));
    return;
  }
  if (!isRecord(value)) {
    out.diagnostics.push(diagnostic(file, start, `document is not an object (got ${Array.isArray(value) ? "a list" : typeof value})`));
    return;
  }
  if (value.kind === "List" && Array.isArray(value.items) && isMap(contents)) {
    const itemsNode = contents.get("items", true);
    const nodes: unknown[] = isSeq(itemsNode) ? itemsNode.items : [];
    value.items.forEach((item, i) => pushItem(item, nodeLine(lines, nodes[i]), file, out));
    return;
  }
  out.objects.push({ raw: value, origin: { file, line: start } });
}

function pushItem(item: unknown, line: number, file: string, out: ParseResult): void {
  if (isRecord(item)) out.objects.push({ raw: item, origin: { file, line } });
  else out.diagnostics.push(diagnostic(file, line, "list item is not an object"));
}

/** Parse every document in `text`; `file` names the origin of each object and diagnostic. */
export function parseManifests(text: string, file: string): ParseResult {
  const out: ParseResult = { objects: [], diagnostics: [] };
  const lines = new LineCounter();
  // merge: Kubernetes' YAML reader honours `<<` merge keys.
  const docs = parseAllDocuments(text, { lineCounter: lines, merge: true });
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    const error = doc.errors[0];
    if (error) {
      out.diagnostics.push(diagnostic(file, error.linePos?.[0].line ?? lineAt(lines, doc.range?.[0]), `invalid YAML: ${firstLine(error.message)}`));
      continue;
    }
    documentObjects(doc, file, lines, out);
  }
  return out;
}
