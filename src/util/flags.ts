/**
 * Flag values and the error a user's bad input raises, shared by the commands
 * and the modules that resolve their inputs (src/bootstrap/env.ts). Neutral
 * ground: nothing here knows about a command, so library code can import it
 * without importing src/cli/.
 */

/** A mistake in the user's input (a flag, a file it names): one line, exit 2, no stack trace. */
export class CliError extends Error {}

export interface FlagSpec {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
  default?: string | boolean | string[];
  /** Shown in --help, e.g. "HOST:PORT". */
  arg?: string;
  help: string;
}

export type ParsedFlags = Record<string, string | boolean | string[] | undefined>;

/** "HOST:PORT" -> {host, port}, with an error naming the flag. */
export function parseHostPort(value: string, flag: string): { host: string; port: number } {
  const i = value.lastIndexOf(":");
  const host = i > 0 ? value.slice(0, i).replace(/^\[|\]$/g, "") : "";
  const port = Number(value.slice(i + 1));
  if (i <= 0 || !/^\d+$/.test(value.slice(i + 1)) || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new CliError(`--${flag} wants HOST:PORT (port 0-65535), got "${value}"`);
  }
  return { host, port };
}

/** "a=b,c=d" -> {a: "b", c: "d"}. */
export function parseLabels(value: string | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!value) return out;
  for (const pair of value.split(",")) {
    if (pair.trim() === "") continue;
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new CliError(`--${flag} wants k=v pairs separated by commas, got "${pair}"`);
    out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return out;
}
