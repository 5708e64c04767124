/**
 * `mini-pilot proxy-config (clusters|listeners|routes|endpoints|secrets) PROXY`,
 * after `istioctl proxy-config`: what the server sends (or would send) one
 * connected proxy, as istioctl's tables, or in full with -o json|yaml (the
 * ConfigDump section in Envoy's shape; private keys redacted by the server).
 */
import { CommandSpec, CliError, parseFlags } from "./args";
import { SERVER_FLAGS, debugClient, resolveProxy, syncz } from "./debug-client";
import { render } from "./output";
import { ConfigKind, TABLES, section } from "./proxy-config-tables";

export const summary = "a proxy's clusters, listeners, routes, endpoints or secrets as the server sends them (tables, or -o json|yaml)";

const KINDS = Object.keys(TABLES) as ConfigKind[];
/** istioctl's short forms. */
const ALIASES: Record<string, ConfigKind> = {
  cluster: "clusters",
  c: "clusters",
  listener: "listeners",
  l: "listeners",
  route: "routes",
  r: "routes",
  endpoint: "endpoints",
  ep: "endpoints",
  secret: "secrets",
  s: "secrets",
};

export const spec: CommandSpec = {
  name: "proxy-config",
  usage: `(${KINDS.join("|")}) PROXY [--server URL] [-o json|yaml]`,
  description: [
    "Shows what mini-pilot sends one connected proxy (PROXY: its node id, or pod.namespace), read from",
    "serve's debug port (/debug/config_dump), as the tables istioctl proxy-config prints. -o json|yaml",
    "prints the full ConfigDump section instead, in Envoy's admin shape (private keys show as [redacted]).",
  ].join("\n"),
  flags: {
    ...SERVER_FLAGS,
    output: { type: "string", short: "o", arg: "json|yaml", help: "print the full form instead of the table" },
  },
};

export async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags(spec, argv);
  if (!parsed) return 0;
  const [what, proxy, ...extra] = parsed.positionals;
  if (!what || !proxy) throw new CliError(`usage: mini-pilot proxy-config ${spec.usage}`);
  if (extra.length) throw new CliError(`unexpected argument "${extra[0]}"`);
  const kind = (KINDS as string[]).includes(what) ? (what as ConfigKind) : ALIASES[what];
  if (!kind) throw new CliError(`unknown config type "${what}": want one of ${KINDS.join(", ")}`);
  const format = parsed.flags.output;
  if (format !== undefined && format !== "json" && format !== "yaml") throw new CliError(`-o/--output is the format, json or yaml, got "${String(format)}"`);
  const client = debugClient(parsed.flags);
  const id = resolveProxy(proxy, await syncz(client));
  const dump = await client.get(`/debug/config_dump?proxy=${encodeURIComponent(id)}`);
  if (dump === undefined) throw new CliError(`${client.base}: no config for proxy "${id}" (it disconnected?)`);
  process.stdout.write(format ? render(section(dump, kind), format) : TABLES[kind](dump));
  return 0;
}
