/**
 * test/fidelity/accepted-differences.yaml: the one list of what may differ
 * between istiod and mini-pilot, each entry with its reason.
 *
 *   normalize: subtrees left out of the comparison on both sides (Istio-only
 *              extensions, istiod's bookkeeping metadata): not counted at all.
 *   accepted:  differences that are known and explained (or pending a fix):
 *              counted as differences, but they do not fail the test.
 *
 * Patterns are globs over the whole string (`*` matches anything, dots and
 * brackets included). An entry that matches nothing in a full run is stale and
 * fails the test, so the list stays honest.
 */
import * as fs from "node:fs";
import { parse } from "yaml";
import type { Difference, Side } from "./diff";

export interface Entry {
  /** Case names (globs); default every case. */
  cases?: string[];
  /** listeners | routes | clusters | endpoints; default any. */
  type?: string;
  /** Resource name glob; default any. */
  resource?: string;
  /** Path glob ("" is the whole resource). */
  path: string;
  /** accepted only: which side has it; default any. */
  side?: Side;
  reason: string;
}

export interface AcceptedFile {
  normalize: Entry[];
  accepted: Entry[];
}

const TYPES = new Set(["listeners", "routes", "clusters", "endpoints"]);
const SIDES = new Set(["istiod-only", "mini-pilot-only", "differs"]);
const KEYS = new Set(["cases", "type", "resource", "path", "side", "reason"]);

/** Parse and check the file: a bad entry names its section, index and field. */
export function loadAccepted(file: string): AcceptedFile {
  const doc = (parse(fs.readFileSync(file, "utf8")) ?? {}) as Record<string, unknown>;
  const section = (name: string): Entry[] => {
    const list = doc[name] ?? [];
    if (!Array.isArray(list)) throw new Error(`${file}: ${name} must be a list`);
    return list.map((raw, i) => {
      const at = `${file}: ${name}[${i}]`;
      if (typeof raw !== "object" || raw === null) throw new Error(`${at}: must be a map`);
      const e = raw as Record<string, unknown>;
      for (const k of Object.keys(e)) if (!KEYS.has(k)) throw new Error(`${at}: unknown field "${k}"`);
      if (typeof e.path !== "string") throw new Error(`${at}.path: required (a glob; "" for a whole resource)`);
      if (typeof e.reason !== "string" || e.reason.trim() === "") throw new Error(`${at}.reason: every entry needs a reason`);
      if (e.type !== undefined && !TYPES.has(String(e.type))) throw new Error(`${at}.type: "${String(e.type)}" is not one of ${[...TYPES].join(", ")}`);
      if (e.side !== undefined && !SIDES.has(String(e.side))) throw new Error(`${at}.side: "${String(e.side)}" is not one of ${[...SIDES].join(", ")}`);
      if (e.side !== undefined && name === "normalize") throw new Error(`${at}.side: normalize entries apply to both sides`);
      if (e.cases !== undefined && (!Array.isArray(e.cases) || e.cases.some((c) => typeof c !== "string")))
        throw new Error(`${at}.cases: must be a list of globs`);
      return e as unknown as Entry;
    });
  };
  for (const k of Object.keys(doc)) if (k !== "normalize" && k !== "accepted") throw new Error(`${file}: unknown section "${k}"`);
  return { normalize: section("normalize"), accepted: section("accepted") };
}

const globCache = new Map<string, RegExp>();
export function glob(pattern: string): RegExp {
  let re = globCache.get(pattern);
  if (!re) {
    re = new RegExp("^" + pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*") + "$");
    globCache.set(pattern, re);
  }
  return re;
}

export function entryMatches(e: Entry, caseName: string, type: string, resource: string, path: string, side?: Side): boolean {
  if (e.cases && !e.cases.some((c) => glob(c).test(caseName))) return false;
  if (e.type && e.type !== type) return false;
  if (e.resource !== undefined && !glob(e.resource).test(resource)) return false;
  if (e.side && side && e.side !== side) return false;
  return glob(e.path).test(path);
}

/** The first accepted entry that explains `d`, if any. */
export function acceptedEntry(file: AcceptedFile, caseName: string, d: Difference): Entry | undefined {
  return file.accepted.find((e) => entryMatches(e, caseName, d.type, d.resource, d.path, d.side));
}
