/**
 * One flag vocabulary for what a command prints, as kubectl and istioctl use
 * it: `-o/--output` is the format (json or yaml), `--out FILE` is where a
 * file-writing command writes (`-` for stdout). Writes are atomic: a reader
 * (Envoy) never sees half a file.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { stringify } from "yaml";
import { CliError, FlagSpec } from "../util/flags";

export type OutputFormat = "json" | "yaml";

export const FORMAT_FLAG: FlagSpec = { type: "string", short: "o", arg: "json|yaml", help: "output format (default: from --out's extension, else json)" };

export function outFlag(defaultPath: string, what: string): FlagSpec {
  return { type: "string", arg: "FILE", default: defaultPath, help: `where to write ${what}; - for stdout` };
}

const YAML_FILE = /\.ya?ml$/i;

/**
 * The format from -o, else from the file name. A value that looks like a file
 * is the old meaning of -o (before it became the format): say so.
 */
export function outputFormat(value: unknown, out: string): OutputFormat {
  if (value === undefined) return YAML_FILE.test(out) ? "yaml" : "json";
  const v = String(value);
  if (v === "json" || v === "yaml") {
    // Envoy reads a file by its extension: YAML in a .json file would not load.
    if (v === "yaml" && /\.json$/i.test(out)) throw new CliError(`-o yaml with --out ${out}: Envoy reads a .json file as JSON; name it .yaml or use -o json`);
    return v;
  }
  throw new CliError(`-o/--output is the format, json or yaml, got "${v}"; to write a file use --out FILE`);
}

/** JSON with two-space indent and a final newline (readable diffs), or block YAML. */
export function render(value: unknown, format: OutputFormat): string {
  return format === "json" ? `${JSON.stringify(value, null, 2)}\n` : stringify(value, { lineWidth: 0 });
}

/** Write `text` to `out` (`-`: stdout); parent folders are created, the file replaced atomically. */
export function writeOut(out: string, text: string): void {
  if (out === "-") {
    process.stdout.write(text);
    return;
  }
  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, out);
}
