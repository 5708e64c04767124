#!/usr/bin/env node
/**
 * `mini-pilot <command> [flags]`: one file per command under src/cli/.
 * Each command module exports `run(argv): Promise<number>` (the exit code) and
 * `summary` (one line for this help).
 */
import { CliError } from "./args";

interface Command {
  summary: string;
  run(argv: string[]): Promise<number>;
}

/** Loaded lazily so `mini-pilot validate` does not pay for the gRPC server. */
const COMMANDS: Record<string, () => Command> = {
  serve: () => require("./serve") as Command,
  translate: () => require("./translate") as Command,
  validate: () => require("./validate") as Command,
  bootstrap: () => require("./bootstrap") as Command,
  static: () => require("./static") as Command,
  agent: () => require("./agent") as Command,
  bench: () => require("./bench") as Command,
  manifests: () => require("./manifests") as Command,
};

function available(): [string, Command][] {
  const out: [string, Command][] = [];
  for (const [name, load] of Object.entries(COMMANDS)) {
    try {
      out.push([name, load()]);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "MODULE_NOT_FOUND") throw e;
    }
  }
  return out;
}

function usage(): string {
  const lines = available().map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return [
    "mini-pilot: a small, fast xDS control plane (Kubernetes and Istio config to Envoy v3 over ADS)",
    "",
    "Usage: mini-pilot <command> [flags]      mini-pilot <command> --help",
    "",
    "Commands:",
    ...lines,
    "",
  ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const entry = available().find(([n]) => n === name);
  if (!entry) {
    process.stderr.write(`mini-pilot: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await entry[1].run(rest);
  } catch (e) {
    if (e instanceof CliError) {
      process.stderr.write(`mini-pilot ${name}: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`mini-pilot: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
