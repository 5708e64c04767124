/**
 * The validation-parity cases (test/unit/validation-parity/*.yaml): one YAML
 * document per case with the object, mini-pilot's expected verdict, the field
 * path and a piece of the message, and Istio's verdict where it differs on
 * purpose. Shared by the unit test (mini-pilot's verdicts) and the check
 * against Istio's own validation (test/integration/validation-parity-istio).
 */
import fs from "node:fs";
import path from "node:path";
import { isMap, isScalar, parseAllDocuments } from "yaml";

export const PARITY_DIR = path.join(__dirname, "..", "..", "..", "test", "unit", "validation-parity");

export type Verdict = "error" | "warning" | "accept";

export interface ParityCase {
  file: string;
  /** Line of the `object:` key in the case file. */
  line: number;
  case: string;
  /** mini-pilot's verdict. */
  expect: Verdict;
  /** The field path of the diagnostic that carries the verdict. */
  field?: string;
  /** A piece of that diagnostic's message. */
  message?: string;
  /** Istio's verdict, when mini-pilot differs on purpose (with `why`). */
  istio?: Verdict;
  why?: string;
  object: Record<string, unknown>;
}

const VERDICTS = new Set(["error", "warning", "accept"]);

function isVerdict(v: unknown): v is Verdict {
  return typeof v === "string" && VERDICTS.has(v);
}

export function parityFiles(): string[] {
  return fs
    .readdirSync(PARITY_DIR)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => path.join(PARITY_DIR, f));
}

/** Every case of one file; a malformed case throws (a broken table must not pass quietly). */
export function readParityCases(file: string): ParityCase[] {
  const text = fs.readFileSync(file, "utf8");
  const lineOf = (offset: number): number => text.slice(0, offset).split("\n").length;
  return parseAllDocuments(text).map((doc) => {
    const c = doc.toJS() as Record<string, unknown>;
    const name = String(c.case);
    if (typeof c.case !== "string" || !isVerdict(c.expect) || typeof c.object !== "object" || c.object === null) {
      throw new Error(`${path.basename(file)}: case ${name} needs case, expect (error|warning|accept) and object`);
    }
    if (c.istio !== undefined && (!isVerdict(c.istio) || typeof c.why !== "string")) {
      throw new Error(`${path.basename(file)}: case ${name}: istio needs a verdict and a why`);
    }
    const key = isMap(doc.contents) ? doc.contents.items.find((p) => isScalar(p.key) && p.key.value === "object")?.key : undefined;
    const offset = isScalar(key) && key.range ? key.range[0] : doc.range[0];
    return {
      file,
      line: lineOf(offset),
      case: c.case,
      expect: c.expect,
      ...(typeof c.field === "string" ? { field: c.field } : {}),
      ...(typeof c.message === "string" ? { message: c.message } : {}),
      ...(c.istio !== undefined ? { istio: c.istio as Verdict, why: c.why as string } : {}),
      object: c.object as Record<string, unknown>,
    };
  });
}
