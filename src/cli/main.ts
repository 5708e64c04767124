#!/usr/bin/env node
/**
 * `mini-pilot <command> [flags]`: one file per command under src/cli/.
 * Each command module exports `run(argv): Promise<number>` (the exit code) and
 * `summary` (one line for this help).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { CliError } from "../util/flags";
import { versionLine } from "../util/version";
import { flagRows } from "./args";

interface Command {
  summary: string;
  run(argv: string[]): Promise<number>;
}

/**
 * `bench` lives in bench/ beside src/ (dist/bench once built); a build without
 * that folder (the container image ships only dist/src) has no bench command.
 * Checked by looking for the folder, not by catching a failed require: a load
 * error in any command is a bug and must surface, never read as "unknown".
 */
const BENCH_DIR = path.resolve(__dirname, "..", "..", "bench");
export function benchIncluded(): boolean {
  return fs.existsSync(path.join(BENCH_DIR, "run.js")) || fs.existsSync(path.join(BENCH_DIR, "run.ts"));
}

/** Loaded lazily so `mini-pilot validate` does not pay for the gRPC server. */
const COMMANDS: Record<string, () => Command> = {
  serve: () => require("./serve") as Command,
  translate: () => require("./translate") as Command,
  validate: () => require("./validate") as Command,
  bootstrap: () => require("./bootstrap") as Command,
  static: () => require("./static") as Command,
  agent: () => require("./agent") as Command,
  demo: () => require("./demo") as Command,
  bench: () => require("./bench") as Command,
  ca: () => require("./ca") as Command,
  iptables: () => require("./iptables") as Command,
  "kube-inject": () => require("./kube-inject") as Command,
  "inject-webhook": () => require("./inject-webhook") as Command,
  manifests: () => require("./manifests") as Command,
  canary: () => require("./canary") as Command,
  "proxy-status": () => require("./proxy-status") as Command,
  "proxy-config": () => require("./proxy-config") as Command,
};

function available(): [string, Command][] {
  return Object.entries(COMMANDS)
    .filter(([name]) => name !== "bench" || benchIncluded())
    .map(([name, load]) => [name, load()]);
}

function usage(): string {
  const rows = available().map(([name, c]): [string, string] => [name, c.summary]);
  return [
    "mini-pilot: a small, fast xDS control plane (Kubernetes and Istio config to Envoy v3 over ADS)",
    "",
    "Usage: mini-pilot <command> [flags]      mini-pilot <command> --help      mini-pilot --version",
    "",
    "Commands:",
    ...flagRows(rows),
    ...(benchIncluded() ? [] : ["", "(bench is not included in this build; run it from the repository: npm run bench)"]),
    "",
  ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  if (name === "--version" || name === "version") {
    process.stdout.write(versionLine());
    return 0;
  }
  if (name === "bench" && !benchIncluded()) {
    process.stderr.write(`mini-pilot: bench is not included in this build (no ${BENCH_DIR}); run it from the repository: npm run bench\n`);
    return 2;
  }
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`mini-pilot: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await load().run(rest);
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
      // A command that failed has said why; nothing it left behind (a file
      // watcher, a half-started server) may keep the process alive.
      if (code !== 0) process.exit(code);
    },
    (e: unknown) => {
      process.stderr.write(`mini-pilot: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    },
  );
}
