/**
 * Flag parsing for every command: node's util.parseArgs plus a generated
 * `--help`, and errors that say which flag was wrong.
 */
import { parseArgs } from "node:util";

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

export interface CommandSpec {
  name: string;
  usage: string;
  description: string;
  flags: Record<string, FlagSpec>;
}

export function helpText(spec: CommandSpec): string {
  const rows = Object.entries(spec.flags).map(([name, f]) => {
    const left = `${f.short ? `-${f.short}, ` : "    "}--${name}${f.type === "string" ? ` ${f.arg ?? "VALUE"}` : ""}`;
    const def = f.default !== undefined && f.default !== false ? ` (default: ${Array.isArray(f.default) ? f.default.join(",") : String(f.default)})` : "";
    return `  ${left.padEnd(34)} ${f.help}${def}${f.multiple ? " [repeatable]" : ""}`;
  });
  return [`Usage: mini-pilot ${spec.name} ${spec.usage}`, "", spec.description, "", "Flags:", ...rows, `      --help${" ".repeat(28)} show this help`, ""].join(
    "\n",
  );
}

export type ParsedFlags = Record<string, string | boolean | string[] | undefined>;

/** Parse argv; returns undefined after printing help when --help was given. */
export function parseFlags(spec: CommandSpec, argv: string[]): { flags: ParsedFlags; positionals: string[] } | undefined {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(helpText(spec));
    return undefined;
  }
  const options: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean; default?: string | boolean | string[] }> = {};
  for (const [name, f] of Object.entries(spec.flags)) {
    options[name] = {
      type: f.type,
      ...(f.short ? { short: f.short } : {}),
      ...(f.multiple ? { multiple: true } : {}),
      ...(f.default !== undefined ? { default: f.default } : {}),
    };
  }
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { flags: values as ParsedFlags, positionals };
  } catch (e) {
    throw new CliError(`${(e as Error).message.replace(/^.*?: /, "")}\nRun 'mini-pilot ${spec.name} --help' for the flags.`);
  }
}

/** "HOST:PORT" -> {host, port}, with an error naming the flag. */
export function parseHostPort(value: string, flag: string): { host: string; port: number } {
  const i = value.lastIndexOf(":");
  const host = i > 0 ? value.slice(0, i).replace(/^\[|\]$/g, "") : "";
  const port = Number(value.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
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
