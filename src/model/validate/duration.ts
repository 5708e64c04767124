/**
 * Durations as Istio users write them: Go's time.ParseDuration syntax ("10s",
 * "100ms", "1m", "1h30m", "1.5s", "250us"), which also covers the proto3 JSON
 * form ("0.250s"). Generators use `parseIstioDuration` to turn them into Envoy
 * durations; validation adds Istio's limits (at least 1ms, ms precision).
 */
import type { Ctx } from "./ctx";
import { describe, type Reader } from "./read";

export type DurationResult = { ok: true; ms: number } | { ok: false; reason: string };

const NS_PER_UNIT: Record<string, number> = {
  ns: 1,
  us: 1e3,
  "\u00b5s": 1e3, // micro sign
  "\u03bcs": 1e3, // Greek mu
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

// Go's limit: durations are int64 nanoseconds (about 290 years).
// (2^63 - 1 is not exact as a double; the nearest double, 2^63, is what comparisons see.)
const MAX_NS = 2 ** 63;

const SEGMENT = /^(\d*)(?:\.(\d*))?([a-zµμ]+)/;
const SYNTAX = 'expected a number followed by a unit (ns, us, ms, s, m, h), e.g. "10s"';

/** Parse a Go-style duration; `ms` may be fractional (e.g. "1500us" -> 1.5) or negative. */
export function parseIstioDuration(text: string): DurationResult {
  let rest = text;
  let sign = 1;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    sign = rest.startsWith("-") ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === "0") return { ok: true, ms: 0 };
  if (rest === "") return { ok: false, reason: "empty duration" };
  let ns = 0;
  while (rest !== "") {
    const m = SEGMENT.exec(rest);
    if (!m || (m[1] === "" && (m[2] ?? "") === "")) return { ok: false, reason: SYNTAX };
    const [whole, intDigits = "", fracDigits = "", unitName = ""] = m;
    const unit = NS_PER_UNIT[unitName];
    if (unit === undefined) return { ok: false, reason: `unknown unit "${unitName}" (want ns, us, ms, s, m or h)` };
    ns += Number(intDigits || "0") * unit;
    // The fraction is scaled separately so "1.1s" is exactly 1100000000ns.
    if (fracDigits !== "") ns += Math.round((Number(fracDigits) * unit) / 10 ** fracDigits.length);
    if (ns > MAX_NS) return { ok: false, reason: "duration out of range" };
    rest = rest.slice(whole.length);
  }
  return { ok: true, ms: (sign * ns) / 1e6 };
}

export interface DurationRules {
  /** "0s" is accepted (e.g. an idle timeout of 0 disables it). */
  allowZero?: boolean;
  /** Only whole seconds (CORS maxAge). */
  seconds?: boolean;
}

/** Istio's duration rules: at least 1ms and no finer than 1ms. */
export function checkDuration(text: string, path: string, ctx: Ctx, rules: DurationRules = {}): void {
  const r = parseIstioDuration(text);
  if (!r.ok) {
    ctx.error(path, `invalid duration ${JSON.stringify(text)}: ${r.reason}`);
    return;
  }
  if (r.ms === 0 && rules.allowZero) return;
  if (r.ms < 1) ctx.error(path, "duration must be at least 1ms");
  else if (!Number.isInteger(r.ms)) ctx.error(path, "only durations to ms precision are supported");
  else if (rules.seconds && r.ms % 1000 !== 0) ctx.error(path, "duration is accurate only to seconds precision");
}

/** A duration field: a string that passes `checkDuration`. */
export function duration(rules: DurationRules = {}): Reader<string> {
  return (v, path, ctx) => {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "string") {
      ctx.error(path, `expected a duration string like "10s", got ${describe(v)}`);
      return undefined;
    }
    checkDuration(v, path, ctx, rules);
    return v;
  };
}
