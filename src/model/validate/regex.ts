/**
 * Regexes go to Envoy as `safe_regex` (Google RE2), so they are checked with
 * RE2 itself (re2-wasm), not JavaScript's RegExp: lookarounds and
 * backreferences are valid JS but NACKed by Envoy.
 */
import { RE2 } from "re2-wasm";

/** Envoy's default RE2 program-size limit is approximated by length, as Istio does. */
const MAX_REGEX_LENGTH = 1024;

/** Why `pattern` is not a usable RE2 regex, or undefined when it is. */
export function checkRE2(pattern: string): string | undefined {
  if (pattern.length > MAX_REGEX_LENGTH) return `regex is too large, max length allowed is ${MAX_REGEX_LENGTH}`;
  try {
    const re = new RE2(pattern, "u");
    // The compiled program lives in WASM memory that JS garbage collection cannot see.
    (re as unknown as { wrapper?: { delete?: () => void } }).wrapper?.delete?.();
    return undefined;
  } catch (e) {
    const detail = (e as Error).message.replace(/^Invalid regular expression: \/.*\/u: /s, "");
    return `invalid RE2 regex ${JSON.stringify(pattern)}: ${detail}`;
  }
}
