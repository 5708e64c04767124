/**
 * `mini-pilot iptables`: istio-iptables for the injected init container.
 * Prints (--dry-run) or applies with `iptables-restore --noflush` the nat rules
 * that send a pod's TCP to its sidecar: outbound to 15001, inbound to 15006,
 * the proxy's UID/GID exempt. Running it twice leaves the same table.
 */
import { spawnSync } from "node:child_process";
import { CliError, CommandSpec, FlagSpec, parseFlags } from "./args";
import { CAPTURE_FLAG_NAMES, CaptureFlags, settingsFromFlags } from "../inject/capture-args";
import { CaptureSettingsError, restoreInput } from "../inject/iptables-rules";

export const summary = "install the sidecar's traffic-capture iptables rules in this network namespace (istio-iptables)";

const CAPTURE_FLAGS: Record<(typeof CAPTURE_FLAG_NAMES)[number], FlagSpec> = {
  "envoy-port": { type: "string", short: "p", arg: "PORT", default: "15001", help: "outbound capture port (Envoy's virtualOutbound)" },
  "inbound-capture-port": { type: "string", short: "z", arg: "PORT", default: "15006", help: "inbound capture port (virtualInbound)" },
  "proxy-uid": { type: "string", short: "u", arg: "UID,...", default: "1337", help: "user ids whose traffic is not captured (the proxy's)" },
  "proxy-gid": { type: "string", short: "g", arg: "GID,...", default: "1337", help: "group ids whose traffic is not captured" },
  "istio-inbound-ports": { type: "string", short: "b", arg: "PORTS|*", default: "*", help: 'inbound ports to capture: "*" all, "" none' },
  "istio-local-exclude-ports": { type: "string", short: "d", arg: "PORTS", help: 'inbound ports never captured (with -b "*")' },
  "istio-service-cidr": { type: "string", short: "i", arg: "CIDRS|*", default: "*", help: 'outbound IP ranges to capture: "*" all, "" none' },
  "istio-service-exclude-cidr": { type: "string", short: "x", arg: "CIDRS", help: "outbound IP ranges never captured" },
  "istio-local-outbound-ports-exclude": { type: "string", short: "o", arg: "PORTS", help: "outbound ports never captured" },
  "istio-include-outbound-ports": { type: "string", short: "q", arg: "PORTS", help: "outbound ports captured whatever their destination" },
};

const spec: CommandSpec = {
  name: "iptables",
  usage: "[flags]",
  description: [
    "Installs the nat-table rules of Istio's init container (REDIRECT mode, IPv4) in the current network namespace:",
    "PREROUTING → ISTIO_INBOUND → ISTIO_IN_REDIRECT (15006), OUTPUT → ISTIO_OUTPUT → ISTIO_REDIRECT (15001).",
    "Needs NET_ADMIN and NET_RAW. --dry-run prints the iptables-restore input and changes nothing.",
  ].join("\n"),
  flags: {
    ...CAPTURE_FLAGS,
    "istio-inbound-interception-mode": { type: "string", short: "m", arg: "MODE", default: "REDIRECT", help: "only REDIRECT is implemented" },
    "dry-run": { type: "boolean", short: "n", help: "print the iptables-restore input instead of applying it" },
    "iptables-restore": { type: "string", arg: "PATH", default: "iptables-restore", help: "iptables-restore binary" },
    "iptables-save": { type: "string", arg: "PATH", default: "iptables-save", help: "iptables-save binary (reads the rules a previous run left)" },
  },
};

function exec(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", input, timeout: 30_000 });
  if (r.error) throw new CliError(`cannot run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new CliError(`${cmd} ${args.join(" ")} exited ${r.status}: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags(spec, argv);
  if (!parsed) return 0;
  const { flags, positionals } = parsed;
  if (positionals.length) throw new CliError(`unexpected argument "${positionals[0]}"`);
  if (flags["istio-inbound-interception-mode"] !== "REDIRECT") {
    throw new CliError(`--istio-inbound-interception-mode ${String(flags["istio-inbound-interception-mode"])}: only REDIRECT is implemented (no TPROXY)`);
  }
  const raw: CaptureFlags = {};
  for (const name of CAPTURE_FLAG_NAMES) if (typeof flags[name] === "string") raw[name] = flags[name];
  const warnings: string[] = [];
  let settings;
  try {
    settings = settingsFromFlags(raw, warnings);
  } catch (e) {
    if (e instanceof CaptureSettingsError) throw new CliError(e.message);
    throw e;
  }
  for (const w of warnings) process.stderr.write(`mini-pilot iptables: warning: ${w}\n`);
  if (flags["dry-run"] === true) {
    process.stdout.write(restoreInput(settings));
    return 0;
  }
  const saved = exec(String(flags["iptables-save"]), ["-t", "nat"]);
  const input = restoreInput(settings, saved);
  exec(String(flags["iptables-restore"]), ["--noflush"], input);
  process.stdout.write(input);
  process.stderr.write("mini-pilot iptables: rules installed\n");
  return 0;
}
