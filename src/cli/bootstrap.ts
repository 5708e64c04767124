/**
 * `mini-pilot bootstrap`: write a pilot-agent-style `envoy-rev0.json` from the
 * pod's environment and flags. The file is checked against Envoy's schema and
 * PGV rules before it is written, so a file this command leaves behind is one
 * Envoy starts with.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { CliError, CommandSpec, parseFlags } from "./args";
import { BOOTSTRAP_FLAGS, bootstrapOptions } from "../bootstrap/env";
import { BootstrapOptions, nodeId, renderBootstrap } from "../bootstrap/render";
import { checkBootstrap, serializeBootstrap } from "../bootstrap/check";

export const summary = "write a pilot-agent-style Envoy bootstrap (envoy-rev0.json)";

export const spec: CommandSpec = {
  name: "bootstrap",
  usage: "[flags]",
  description: [
    "Writes the Envoy bootstrap that points a sidecar or gateway at mini-pilot over ADS.",
    "Identity comes from POD_NAME, POD_NAMESPACE, INSTANCE_IP and SERVICE_ACCOUNT (or the flags);",
    "ISTIO_META_* variables become node metadata with the prefix stripped. --output - prints to stdout.",
  ].join("\n"),
  flags: BOOTSTRAP_FLAGS,
};

/** Options from this process's environment and files. */
export function optionsFromProcess(flags: Record<string, unknown>): BootstrapOptions {
  return bootstrapOptions({ env: process.env, flags: flags as never, readFile: (p) => fs.readFileSync(p, "utf8") });
}

/**
 * Render, check and write (atomically: a half-written file must never be what
 * Envoy reads). Returns the problems instead of writing when the check fails.
 */
export function writeBootstrap(options: BootstrapOptions, output: string): { ok: true; text: string } | { ok: false; errors: string[] } {
  const json = renderBootstrap(options);
  const errors = checkBootstrap(json);
  if (errors.length) return { ok: false, errors };
  const text = serializeBootstrap(json);
  if (output === "-") {
    process.stdout.write(text);
  } else {
    fs.mkdirSync(path.dirname(path.resolve(output)), { recursive: true });
    const tmp = `${output}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, output);
  }
  return { ok: true, text };
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags(spec, argv);
  if (!parsed) return 0;
  if (parsed.positionals.length) throw new CliError(`unexpected argument "${parsed.positionals[0]}"`);
  const options = optionsFromProcess(parsed.flags);
  const output = String(parsed.flags.output);
  const result = writeBootstrap(options, output);
  if (!result.ok) {
    // The inputs were accepted, so this is a renderer bug, not a user mistake.
    process.stderr.write(`mini-pilot bootstrap: the rendered bootstrap is not valid Envoy config:\n${result.errors.map((e) => `  ${e}`).join("\n")}\n`);
    return 1;
  }
  if (output !== "-") process.stderr.write(`wrote ${output} for ${nodeId(options)}\n`);
  return 0;
}
