/**
 * Manifest text -> raw objects, each with the file and line it starts on.
 * Multi-document YAML, JSON (a YAML subset), `kind: List` with `items`, and a
 * top-level list of objects are all accepted. A document that does not parse
 * is reported with its line and skipped; the other documents still come through.
 *
 * Documents are composed one at a time (yaml's Parser + Composer), so a big
 * file never holds more than one document's syntax tree at once.
 *
 * Limits keep hostile or mistaken input from exhausting memory: YAML aliases
 * (counted by the yaml package, and the size they expand to, measured here,
 * since a few hundred aliases can turn kilobytes into a 59 MB route table)
 * and objects per file. Going over a limit is an error diagnostic that names
 * the limit; the caller then treats the file as not parsing.
 */
import { Composer, LineCounter, Parser, isMap, isSeq, type Document } from "yaml";
import type { Diagnostic, Origin } from "./types";

export interface RawObject {
  raw: Record<string, unknown>;
  origin: Origin;
}

export interface ParseResult {
  objects: RawObject[];
  diagnostics: Diagnostic[];
}

export interface ParseLimits {
  /** yaml's own guard against alias "billion laughs" (its default is 100). */
  maxAliasCount: number;
  /**
   * A document's JSON size after its aliases are expanded may be at most this
   * many times its text length (plus `expansionSlackBytes`). Without aliases the
   * ratio is about 1, so only alias expansion can trip it.
   */
  maxExpansionRatio: number;
  expansionSlackBytes: number;
  /** Objects in one file (List items count one each). */
  maxObjects: number;
}

export const DEFAULT_PARSE_LIMITS: ParseLimits = {
  maxAliasCount: 1000,
  maxExpansionRatio: 10,
  expansionSlackBytes: 64 * 1024,
  maxObjects: 50_000,
};

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
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

/**
 * The JSON size of `value` with shared (aliased) subtrees counted each time
 * they appear, stopping as soon as it passes `budget` (so the walk itself is
 * bounded no matter how far the aliases would expand).
 */
export function expandedSize(value: unknown, budget: number): number {
  let size = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0 && size <= budget) {
    const v = stack.pop();
    if (typeof v === "string") size += v.length + 2;
    else if (Array.isArray(v)) {
      size += 2 + v.length;
      for (const item of v) stack.push(item);
    } else if (isRecord(v)) {
      size += 2;
      for (const [k, item] of Object.entries(v)) {
        size += k.length + 4;
        stack.push(item);
      }
    } else size += 5; // numbers, booleans, null: a rough constant is enough for a guard
  }
  return size;
}

class Collector {
  readonly out: ParseResult = { objects: [], diagnostics: [] };
  private count = 0;
  /** Set once the object limit is passed: the rest of the file is not read. */
  overLimit = false;

  constructor(
    private readonly file: string,
    private readonly limits: ParseLimits,
  ) {}

  push(raw: Record<string, unknown>, line: number): void {
    if (this.overLimit) return;
    if (++this.count > this.limits.maxObjects) {
      this.overLimit = true;
      this.out.diagnostics.push(
        diagnostic(this.file, line, `more than ${this.limits.maxObjects} objects in one file (the limit); split it into several files`),
      );
      return;
    }
    this.out.objects.push({ raw, origin: { file: this.file, line } });
  }

  error(line: number, message: string): void {
    this.out.diagnostics.push(diagnostic(this.file, line, message));
  }
}

function documentObjects(doc: Document, lines: LineCounter, into: Collector, limits: ParseLimits): void {
  const contents = doc.contents;
  const start = lineAt(lines, contents?.range?.[0] ?? doc.range?.[0]);
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: limits.maxAliasCount });
  } catch (e) {
    into.error(start, `invalid YAML: ${(e as Error).message}`);
    return;
  }
  if (value === null || value === undefined) return;
  const textLength = (doc.range?.[2] ?? 0) - (doc.range?.[0] ?? 0);
  const budget = textLength * limits.maxExpansionRatio + limits.expansionSlackBytes;
  if (expandedSize(value, budget) > budget) {
    into.error(
      start,
      `YAML aliases expand this ${kib(textLength)} document beyond ${kib(budget)} (more than ${limits.maxExpansionRatio}x its size); write the repeated parts out or use fewer aliases`,
    );
    return;
  }
  // A bare list of objects (common in JSON) is treated like a List's items.
  if (Array.isArray(value) && isSeq(contents)) {
    value.forEach((item, i) => pushItem(item, nodeLine(lines, contents.items[i]), into));
    return;
  }
  if (!isRecord(value)) {
    into.error(start, `document is not an object (got ${Array.isArray(value) ? "a list" : typeof value})`);
    return;
  }
  if (value.kind === "List" && Array.isArray(value.items) && isMap(contents)) {
    const itemsNode = contents.get("items", true);
    const nodes: unknown[] = isSeq(itemsNode) ? itemsNode.items : [];
    value.items.forEach((item, i) => pushItem(item, nodeLine(lines, nodes[i]), into));
    return;
  }
  into.push(value, start);
}

function kib(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`;
}

function pushItem(item: unknown, line: number, into: Collector): void {
  if (isRecord(item)) into.push(item, line);
  else into.error(line, "list item is not an object");
}

/** Parse every document in `text`; `file` names the origin of each object and diagnostic. */
export function parseManifests(text: string, file: string, limits: ParseLimits = DEFAULT_PARSE_LIMITS): ParseResult {
  const into = new Collector(file, limits);
  const lines = new LineCounter();
  const parser = new Parser(lines.addNewLine);
  // merge: Kubernetes' YAML reader honours `<<` merge keys.
  const composer = new Composer({ merge: true });
  for (const doc of composer.compose(parser.parse(text))) {
    const error = doc.errors[0];
    if (error) {
      into.error(lineAt(lines, error.pos[0] ?? doc.range?.[0]), `invalid YAML: ${error.message.split("\n")[0] ?? ""}`);
      continue;
    }
    documentObjects(doc, lines, into, limits);
    if (into.overLimit) break;
  }
  return into.out;
}
