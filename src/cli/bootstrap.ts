/**
 * `mini-pilot bootstrap`: write a pilot-agent-style `envoy-rev0.json` from the
 * pod's environment and flags. The file is checked against Envoy's schema and
 * PGV rules before it is written, so a file this command leaves behind is one
 * Envoy starts with.
 */
import * as fs from "node:fs";
import { CliError, CommandSpec, parseFlags } from "./args";
import { FORMAT_FLAG, OutputFormat, outputFormat, render, writeOut } from "./output";
import { BOOTSTRAP_FLAGS, bootstrapOptions } from "../bootstrap/env";
import { proxyConfigInputs } from "./mesh-flags";
import { BootstrapOptions, nodeId, renderBootstrap } from "../bootstrap/render";
import { checkBootstrap } from "../bootstrap/check";

export const summary = "write a pilot-agent-style Envoy bootstrap (envoy-rev0.json)";

export const spec: CommandSpec = {
  name: "bootstrap",
  usage: "[flags]",
  description: [
    "Writes the Envoy bootstrap that points a sidecar or gateway at mini-pilot over ADS.",
    "Identity comes from POD_NAME, POD_NAMESPACE, INSTANCE_IP and SERVICE_ACCOUNT (or the flags);",
    "ISTIO_META_* variables become node metadata with the prefix stripped. --out - prints to stdout;",
    "-o yaml writes YAML (Envoy reads a .yaml file as YAML).",
  ].join("\n"),
  flags: { ...BOOTSTRAP_FLAGS, output: FORMAT_FLAG },
};

/** Options from this process's environment and files (and `--mesh-config`'s proxy settings, under both). */
export function optionsFromProcess(flags: Record<string, unknown>): BootstrapOptions {
  const proxy = proxyConfigInputs(flags["mesh-config"] as string | undefined);
  return bootstrapOptions({
    env: { ...proxy.env, ...process.env },
    flags: { ...proxy.flags, ...definedOnly(flags) } as never,
    readFile: (p) => fs.readFileSync(p, "utf8"),
    fileProblem: readableFileProblem,
  });
}

function definedOnly(flags: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined));
}

/** Can this process read `file` as a regular file? (Envoy runs as the same user under the agent.) */
export function readableFileProblem(file: string): string | undefined {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === "ENOENT" ? "no such file" : `cannot read it (${code ?? (e as Error).message})`;
  }
  if (!stat.isFile()) return "not a regular file";
  try {
    fs.accessSync(file, fs.constants.R_OK);
  } catch {
    return "not readable by this user";
  }
  return undefined;
}

/**
 * Render, check and write (atomically: a half-written file must never be what
 * Envoy reads). Returns the problems instead of writing when the check fails.
 */
export function writeBootstrap(
  options: BootstrapOptions,
  out: string,
  format: OutputFormat = "json",
): { ok: true; text: string } | { ok: false; errors: string[] } {
  const json = renderBootstrap(options);
  const errors = checkBootstrap(json);
  if (errors.length) return { ok: false, errors };
  const text = render(json, format);
  writeOut(out, text);
  return { ok: true, text };
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags(spec, argv);
  if (!parsed) return 0;
  if (parsed.positionals.length) throw new CliError(`unexpected argument "${parsed.positionals[0]}"`);
  const out = String(parsed.flags.out);
  const format = outputFormat(parsed.flags.output, out);
  const options = optionsFromProcess(parsed.flags);
  const result = writeBootstrap(options, out, format);
  if (!result.ok) {
    // The inputs were accepted, so this is a renderer bug, not a user mistake.
    process.stderr.write(`mini-pilot bootstrap: the rendered bootstrap is not valid Envoy config:\n${result.errors.map((e) => `  ${e}`).join("\n")}\n`);
    return 1;
  }
  if (out !== "-") process.stderr.write(`wrote ${out} for ${nodeId(options)}\n`);
  return 0;
}
