/**
 * `mini-pilot proxy-status [PROXY]`, after `istioctl proxy-status`: every
 * connected proxy with its per-type sync state, read from serve's debug port.
 * With a PROXY and `--envoy-admin URL`: what mini-pilot would send that proxy
 * against what the Envoy at that admin address holds, type by type.
 */
import { CommandSpec, CliError, parseFlags } from "./args";
import { SERVER_FLAGS, SyncEntry, baseUrl, debugClient, proxyName, request, resolveProxy, syncz } from "./debug-client";
import { compareDumps, formatComparison } from "../debug/dump-diff";
import { table } from "./table";

export const summary = "connected proxies and their sync state (SYNCED/STALE/NOT SENT/ERROR); with PROXY, diff against its Envoy";

export const spec: CommandSpec = {
  name: "proxy-status",
  usage: "[PROXY] [--server URL] [--envoy-admin URL]",
  description: [
    "Without PROXY: a table of the proxies connected to the server at --server, one row per proxy, with",
    "the state of each xDS type: SYNCED (the latest config was sent and acknowledged), STALE (sent and not",
    "yet acknowledged, or newer config not yet sent), NOT SENT, ERROR (the proxy rejected it; the NACK",
    "message follows the table). Exit 0.",
    "",
    "With PROXY (a node id, or pod.namespace as istioctl takes it): that proxy's types in detail. With",
    "--envoy-admin too: what mini-pilot would send it compared with what that Envoy holds (its admin",
    "/config_dump), 'Clusters Match' or a diff per type. Exit 0 when everything matches, 1 when not.",
    "",
    "Unknown proxy, a debug port that does not answer, an admin URL that is not Envoy: one line, exit 2.",
  ].join("\n"),
  flags: {
    ...SERVER_FLAGS,
    "envoy-admin": { type: "string", arg: "URL", help: "the proxy's Envoy admin address (e.g. http://127.0.0.1:15000): diff against what it holds" },
  },
};

const TYPE_COLUMNS: [string, string][] = [
  ["CDS", "clusters"],
  ["LDS", "listeners"],
  ["EDS", "endpoints"],
  ["RDS", "routes"],
];

export async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags(spec, argv);
  if (!parsed) return 0;
  const f = parsed.flags;
  if (parsed.positionals.length > 1) throw new CliError(`one PROXY at most, got ${parsed.positionals.length}: ${parsed.positionals.join(" ")}`);
  const envoyAdmin = f["envoy-admin"] !== undefined ? baseUrl(String(f["envoy-admin"]), "--envoy-admin") : undefined;
  const client = debugClient(f);
  const entries = await syncz(client);
  const arg = parsed.positionals[0];
  if (arg === undefined) {
    if (envoyAdmin) throw new CliError("--envoy-admin compares one proxy: give its PROXY (node id or pod.namespace)");
    process.stdout.write(statusTable(entries));
    return 0;
  }
  const id = resolveProxy(arg, entries);
  if (!envoyAdmin) {
    process.stdout.write(statusTable(entries.filter((e) => e.proxy === id)) + "\n" + detail(entries.filter((e) => e.proxy === id)));
    return 0;
  }
  const served = await client.get(`/debug/config_dump?proxy=${encodeURIComponent(id)}`);
  if (served === undefined) throw new CliError(`${client.base}: no config for proxy "${id}" (it disconnected?)`);
  const held = await envoyConfigDump(envoyAdmin);
  const comparison = compareDumps(served, held);
  process.stdout.write(formatComparison(comparison));
  return comparison.every((c) => c.match) ? 0 : 1;
}

/** One row per proxy (its streams merged), sorted by name; NACK messages listed under the table. */
export function statusTable(entries: SyncEntry[]): string {
  const byProxy = new Map<string, SyncEntry[]>();
  for (const e of entries) {
    if (e.proxy === null) continue;
    byProxy.set(e.proxy, [...(byProxy.get(e.proxy) ?? []), e]);
  }
  const withSecrets = entries.some((e) => e.types.secrets !== undefined);
  const columns = withSecrets ? [...TYPE_COLUMNS, ["SDS", "secrets"] as [string, string]] : TYPE_COLUMNS;
  const header = ["NAME", "TYPE", "CLUSTER", ...columns.map(([c]) => c), "SERVER", "VERSION"];
  const rows: string[][] = [];
  const errors: string[] = [];
  const ids = [...byProxy.keys()].sort((a, b) => proxyName(a).name.localeCompare(proxyName(b).name) || a.localeCompare(b));
  for (const id of ids) {
    const ss = byProxy.get(id)!;
    const { type, name } = proxyName(id);
    const cells = columns.map(([col, key]) => {
      const t = ss.map((s) => s.types[key]).find((x) => x !== undefined);
      if (!t) return "NOT SENT";
      if (t.status === "ERROR" && t.lastError) errors.push(`${name} ${col}: ${t.lastError.message}`);
      return t.status === "NOT_SENT" ? "NOT SENT" : t.status;
    });
    const first = ss[0]!;
    rows.push([name, type, first.clusterId ?? first.cluster ?? "", ...cells, first.server ?? "", first.istioVersion ?? ""].map((c) => c || "-"));
  }
  let out = table(header, rows);
  if (errors.length) out += "\nRejected (NACK):\n" + errors.map((e) => `  ${e}`).join("\n") + "\n";
  return out;
}

function detail(ss: SyncEntry[]): string {
  const lines: string[] = [];
  for (const s of ss) {
    lines.push(`${s.proxy} stream ${s.stream}${s.mode ? ` (${s.mode})` : ""}, connected ${s.connectedAt} to ${s.server ?? "?"}`);
    for (const [t, v] of Object.entries(s.types)) {
      lines.push(`  ${t.padEnd(10)} ${v.status.padEnd(8)} sent ${v.sentVersion ?? "-"}  acked ${v.ackedVersion ?? "-"}`);
      if (v.lastError) lines.push(`             rejected at ${v.lastError.at}: ${v.lastError.message}`);
    }
  }
  lines.push("", "Give --envoy-admin URL (the proxy's Envoy admin address) to compare with what the Envoy holds.");
  return lines.join("\n") + "\n";
}

/** The Envoy's /config_dump with endpoints, after checking it is an Envoy admin at all. */
async function envoyConfigDump(admin: string): Promise<unknown> {
  const info = await request(`${admin}/server_info`, {}, "--envoy-admin", "the Envoy admin");
  let parsed: { version?: unknown; command_line_options?: unknown } | undefined;
  try {
    parsed = JSON.parse(info.body) as typeof parsed;
  } catch {
    parsed = undefined;
  }
  if (info.status !== 200 || typeof parsed?.version !== "string" || parsed.command_line_options === undefined) {
    throw new CliError(`--envoy-admin ${admin}: not an Envoy admin (/server_info answered HTTP ${info.status} without Envoy's server info)`);
  }
  const dump = await request(`${admin}/config_dump?include_eds`, {}, "--envoy-admin", "the Envoy admin");
  if (dump.status !== 200) throw new CliError(`--envoy-admin ${admin}/config_dump: HTTP ${dump.status}`);
  try {
    return JSON.parse(dump.body);
  } catch {
    throw new CliError(`--envoy-admin ${admin}/config_dump: the answer is not JSON`);
  }
}
