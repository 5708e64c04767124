/**
 * Flag parsing for every command: node's util.parseArgs plus a generated
 * `--help` and `--version`, and errors that say which flag was wrong.
 * The error type and value parsers live in src/util/flags.ts (library code
 * uses them too); they are re-exported here for the commands.
 */
import { parseArgs } from "node:util";
import { CliError, FlagSpec, ParsedFlags } from "../util/flags";
import { versionLine } from "../util/version";

export { CliError, parseHostPort, parseLabels } from "../util/flags";
export type { FlagSpec, ParsedFlags } from "../util/flags";

export interface CommandSpec {
  name: string;
  usage: string;
  description: string;
  flags: Record<string, FlagSpec>;
}

/** Help text is wrapped to this width (or the terminal's, when narrower than 120). */
const DEFAULT_WIDTH = 100;
/** A flag column wider than this puts its help on the next line instead of pushing every row right. */
const MAX_FLAG_COLUMN = 34;

/** Words of `text` in lines of at most `width` characters (a longer word gets a line of its own). */
export function wrapWords(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines.length ? lines : [""];
}

/**
 * Two columns, flag and help. The help column starts after the widest flag
 * that fits in MAX_FLAG_COLUMN; a wider flag gets its help on the next line,
 * and long help wraps under itself, so columns never run into each other.
 */
export function flagRows(rows: [string, string][], width = DEFAULT_WIDTH): string[] {
  const fitting = rows.map(([left]) => left.length).filter((n) => n <= MAX_FLAG_COLUMN);
  const column = Math.max(0, ...fitting) + 4; // two spaces of indent, two of gap
  const helpWidth = Math.max(30, width - column);
  const out: string[] = [];
  for (const [left, help] of rows) {
    const wrapped = wrapWords(help, helpWidth);
    if (left.length > column - 4) out.push(`  ${left}`);
    else out.push(`  ${left.padEnd(column - 4)}  ${wrapped.shift()!}`);
    for (const rest of wrapped) out.push(`${" ".repeat(column)}${rest}`);
  }
  return out;
}

function helpWidth(): number {
  const cols = process.stdout.isTTY ? process.stdout.columns : undefined;
  return cols && cols >= 60 ? Math.min(cols, 120) : DEFAULT_WIDTH;
}

export function helpText(spec: CommandSpec, width = helpWidth()): string {
  const rows: [string, string][] = Object.entries(spec.flags).map(([name, f]) => {
    const left = `${f.short ? `-${f.short}, ` : "    "}--${name}${f.type === "string" ? ` ${f.arg ?? "VALUE"}` : ""}`;
    const def = f.default !== undefined && f.default !== false ? ` (default: ${Array.isArray(f.default) ? f.default.join(",") : String(f.default)})` : "";
    return [left, `${f.help}${def}${f.multiple ? " [repeatable]" : ""}`];
  });
  rows.push(["    --version", "print the version and exit"], ["-h, --help", "show this help"]);
  return [`Usage: mini-pilot ${spec.name} ${spec.usage}`, "", spec.description, "", "Flags:", ...flagRows(rows, width), ""].join("\n");
}

/** Parse argv; returns undefined after printing help (--help) or the version (--version). */
export function parseFlags(spec: CommandSpec, argv: string[]): { flags: ParsedFlags; positionals: string[] } | undefined {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(helpText(spec));
    return undefined;
  }
  if (argv.includes("--version")) {
    process.stdout.write(versionLine());
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
