/**
 * `mini-pilot agent`: pilot-agent's job for one pod. Writes the bootstrap (same
 * flags and environment as `mini-pilot bootstrap`), runs Envoy with it,
 * restarts Envoy with capped backoff when it crashes, passes SIGTERM/SIGINT on,
 * and exits with Envoy's status once it has shut down.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import { spawn } from "node:child_process";
import { CliError, CommandSpec, parseFlags } from "./args";
import { optionsFromProcess, writeBootstrap } from "./bootstrap";
import { BOOTSTRAP_FLAGS } from "../bootstrap/env";
import { nodeId } from "../bootstrap/render";
import { findEnvoy } from "../bootstrap/envoy-path";
import { envoyArgs } from "../bootstrap/envoy-args";
import { ChildExit, DEFAULT_POLICY, SupervisedChild, Supervisor } from "../bootstrap/supervisor";
import { AGENT_IDENTITY_FLAGS, identitySettings } from "./agent-identity";
import { startWorkloadIdentity, type RunningIdentity } from "../agent/workload";

export const summary = "write the bootstrap, then run and supervise Envoy with it (pilot-agent)";

export const spec: CommandSpec = {
  name: "agent",
  usage: "[flags]",
  description: [
    "Writes envoy-rev0.json like `mini-pilot bootstrap`, starts Envoy with it and keeps it running:",
    "a crash restarts Envoy after 1s, 2s, 4s ... up to 30s; SIGTERM and SIGINT are passed to Envoy",
    "and the agent exits with Envoy's status.",
    "",
    "With --ca-address (or CA_ADDR) it is also the workload's certificate agent: it makes a private key",
    "(which never leaves this process), sends a CSR with the service account token to the control",
    "plane's TLS port, serves the certificate to Envoy over SDS (secrets default and ROOTCA on",
    "--sds-socket) and renews it at half life. The bootstrap then has the sds-grpc cluster, and",
    "--xds-tls connects to the control plane with that certificate.",
  ].join("\n"),
  flags: {
    ...BOOTSTRAP_FLAGS,
    ...AGENT_IDENTITY_FLAGS,
    envoy: { type: "string", arg: "PATH", help: "Envoy binary (default: $ENVOY_BIN, else envoy on PATH)" },
    "log-level": { type: "string", arg: "LEVEL", default: "warning", help: "Envoy log level" },
    concurrency: { type: "string", arg: "N", default: "2", help: "Envoy worker threads" },
    "drain-time-s": { type: "string", arg: "SECONDS", default: "45", help: "Envoy --drain-time-s" },
    "parent-shutdown-time-s": { type: "string", arg: "SECONDS", default: "60", help: "Envoy --parent-shutdown-time-s" },
    "max-restarts": { type: "string", arg: "N", help: "give up after N restarts (default: never)" },
    "envoy-arg": { type: "string", arg: "ARG", multiple: true, help: "extra argument for Envoy, passed through as is" },
  },
};

function count(flags: Record<string, unknown>, name: string, min: number): number {
  const raw = String(flags[name]);
  if (!/^\d+$/.test(raw) || Number(raw) < min) throw new CliError(`--${name} wants a whole number >= ${min}, got "${raw}"`);
  return Number(raw);
}

function envoyBinary(flag: string | undefined): string {
  const bin = flag ?? findEnvoy();
  if (!bin) throw new CliError("no Envoy binary: pass --envoy PATH, set ENVOY_BIN, or install it (bash scripts/install-envoy.sh)");
  try {
    fs.accessSync(bin, fs.constants.X_OK);
  } catch {
    throw new CliError(`Envoy binary ${bin} is not an executable file`);
  }
  return bin;
}

/** Spawn Envoy with our stdio; a failure to spawn reads as exit 127, like a shell's "command not found". */
function spawnEnvoy(bin: string, args: string[]): SupervisedChild {
  const child = spawn(bin, args, { stdio: ["ignore", "inherit", "inherit"] });
  const exited = new Promise<ChildExit>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    child.once("error", (err) => {
      process.stderr.write(`mini-pilot agent: cannot start ${bin}: ${err.message}\n`);
      resolve({ code: 127, signal: null });
    });
  });
  return { pid: child.pid, kill: (s) => child.kill(s), exited };
}

function sleep(ms: number): { done: Promise<void>; wake(): void } {
  let timer: NodeJS.Timeout | undefined;
  let resolve!: () => void;
  const done = new Promise<void>((r) => {
    resolve = r;
    timer = setTimeout(r, ms);
  });
  return {
    done,
    wake: () => {
      clearTimeout(timer);
      resolve();
    },
  };
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags(spec, argv);
  if (!parsed) return 0;
  const { flags } = parsed;
  if (parsed.positionals.length) throw new CliError(`unexpected argument "${parsed.positionals[0]}"`);
  const identity = identitySettings(flags, process.env);
  if (identity) flags["sds-socket"] = identity.sdsSocket;
  const options = optionsFromProcess(flags);
  const bin = envoyBinary(typeof flags.envoy === "string" ? flags.envoy : undefined);
  const output = String(flags.out);
  if (output === "-") throw new CliError("--out - is for `mini-pilot bootstrap`; the agent needs a file for Envoy");
  const written = writeBootstrap(options, output);
  if (!written.ok) {
    process.stderr.write(`mini-pilot agent: the rendered bootstrap is not valid Envoy config:\n${written.errors.map((e) => `  ${e}`).join("\n")}\n`);
    return 1;
  }
  const args = envoyArgs({
    configPath: output,
    concurrency: count(flags, "concurrency", 1),
    logLevel: String(flags["log-level"]),
    drainTimeS: count(flags, "drain-time-s", 0),
    parentShutdownTimeS: count(flags, "parent-shutdown-time-s", 1),
    ipVersion: net.isIPv6(options.instanceIp) ? "v6" : "v4",
    extra: (flags["envoy-arg"] as string[] | undefined) ?? [],
  });
  const maxRestarts = flags["max-restarts"] !== undefined ? count(flags, "max-restarts", 0) : undefined;
  const log = (m: string): void => void process.stderr.write(`mini-pilot agent: ${m}\n`);
  let stopping = false;
  const earlyStop = (): void => void (stopping = true);
  process.on("SIGTERM", earlyStop);
  process.on("SIGINT", earlyStop);
  let running: RunningIdentity | undefined;
  if (identity) {
    if (!options.serviceAccount) throw new CliError("a workload certificate needs the service account: set SERVICE_ACCOUNT or pass --service-account");
    running = await startWorkloadIdentity({
      ...identity,
      identity: `spiffe://${identity.trustDomain}/ns/${options.namespace}/sa/${options.serviceAccount}`,
      log: { info: log, warn: log },
      cancelled: () => stopping,
    });
    if (!running) return 143;
  }
  process.off("SIGTERM", earlyStop);
  process.off("SIGINT", earlyStop);
  log(`wrote ${output} for ${nodeId(options)}; running ${bin} ${args.join(" ")}`);

  const supervisor = new Supervisor(
    { start: () => spawnEnvoy(bin, args), now: () => Date.now(), sleep, log },
    { ...DEFAULT_POLICY, ...(maxRestarts !== undefined ? { maxRestarts } : {}) },
  );
  const onSignal = (s: NodeJS.Signals): void => supervisor.shutdown(s);
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  try {
    return await supervisor.run();
  } finally {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
    running?.stop();
  }
}
