/**
 * `mini-pilot static`: what one proxy would receive over xDS, as one static
 * Envoy bootstrap (`envoy -c FILE`, no control plane). The resources go
 * through the same path as `translate` and `serve` (parse, validate, mesh,
 * generate, strict encode and decode), then src/bootstrap/static.ts folds RDS
 * and EDS into them. The result is checked against Envoy's schema and PGV rules
 * before it is written (src/translate/static-bootstrap.ts).
 */
import { CliError, CommandSpec, parseFlags, parseLabels } from "./args";
import { FORMAT_FLAG, outFlag, outputFormat, render, writeOut } from "./output";
import { MESH_FLAGS, meshOptions } from "./mesh-flags";
import { readManifestDir } from "./translate";
import { formatDiagnostic } from "../model/types";
import { buildStatic } from "../translate/static-bootstrap";

export const summary = "render what one proxy would receive as a static Envoy bootstrap (no control plane)";

export const spec: CommandSpec = {
  name: "static",
  usage: "--config-dir DIR --proxy NODE_ID [flags] [--out FILE]",
  description: [
    "Translates a folder of Kubernetes and Istio manifests for one proxy, like `translate`, and writes the",
    "listeners, routes, clusters and endpoints as one static Envoy bootstrap: routes inline in each HTTP",
    "connection manager, EDS clusters as STATIC (STRICT_DNS for hostnames) with their endpoints inline,",
    "cluster names unchanged, admin on 127.0.0.1. Run it with `envoy -c FILE`.",
    "",
    "A sidecar's HTTP outbound listeners (0.0.0.0_<port>) do not bind a port: in a pod, iptables sends",
    "traffic to virtualOutbound (15001), which hands it to them by original destination. Without iptables,",
    "--bind-outbound binds each of them on --bind-address:<port + --port-offset>; then",
    "`curl -H 'Host: bill-service' 127.0.0.1:9999/` goes through the same routes. --port-offset also moves",
    "every other listener Envoy binds (virtualOutbound, virtualInbound, gateway ports), e.g. to stay",
    "clear of privileged ports or of another Envoy. --labels defaults to the labels of the Pod the node",
    "id names, when the folder has it. Diagnostics go to stderr.",
  ].join("\n"),
  flags: {
    "config-dir": { type: "string", arg: "DIR", help: "folder of manifests (read recursively)" },
    proxy: { type: "string", arg: "NODE_ID", help: "node id, e.g. sidecar~10.1.1.5~app-1.default~default.svc.cluster.local" },
    labels: { type: "string", arg: "K=V,...", help: "the proxy's labels (default: its Pod's labels from the folder)" },
    out: outFlag("-", "the bootstrap"),
    output: FORMAT_FLAG,
    "admin-port": { type: "string", arg: "PORT", default: "15000", help: "Envoy admin port (on 127.0.0.1)" },
    "bind-outbound": { type: "boolean", default: false, help: "bind the sidecar's HTTP outbound listeners (for a run without iptables)" },
    "bind-address": { type: "string", arg: "ADDR", default: "127.0.0.1", help: "address --bind-outbound binds" },
    "port-offset": { type: "string", arg: "N", default: "0", help: "add N to the port of every listener Envoy binds" },
    ...MESH_FLAGS,
  },
};

function intFlag(value: unknown, flag: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(String(value)) || n < min || n > max) throw new CliError(`--${flag} wants an integer ${min}-${max}, got "${String(value)}"`);
  return n;
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags(spec, argv);
  if (!parsed) return 0;
  if (parsed.positionals.length) throw new CliError(`unexpected argument "${parsed.positionals[0]}"`);
  const f = parsed.flags;
  const dir = f["config-dir"] as string | undefined;
  if (!dir) throw new CliError("--config-dir DIR is required");
  const nodeId = f.proxy as string | undefined;
  if (!nodeId) throw new CliError("--proxy NODE_ID is required (e.g. sidecar~10.1.1.5~app-1.default~default.svc.cluster.local)");
  const labels = parseLabels(f.labels as string | undefined, "labels");
  const mesh = meshOptions(f);
  const adminPort = intFlag(f["admin-port"], "admin-port", 1, 65535);
  const portOffset = intFlag(f["port-offset"], "port-offset", 0, 65535);
  const bindAddress = String(f["bind-address"]);
  if (f["bind-outbound"] !== true && f["bind-address"] !== "127.0.0.1") throw new CliError("--bind-address only applies with --bind-outbound");
  const output = String(f.out);
  const format = outputFormat(f.output, output);

  const result = buildStatic({
    files: readManifestDir(dir),
    nodeId,
    metadata: Object.keys(labels).length ? { LABELS: labels } : {},
    mesh,
    adminPort,
    ...(f["bind-outbound"] === true ? { bindOutbound: bindAddress } : {}),
    portOffset,
  });
  for (const d of result.diagnostics) process.stderr.write(`${d.severity}: ${formatDiagnostic(d)}\n`);
  if (!result.ok) throw new CliError(result.error);
  if (result.labelsFrom) process.stderr.write(`labels from ${result.labelsFrom}: ${JSON.stringify(result.proxy.labels)}\n`);
  writeOut(output, render(result.bootstrap, format));
  if (output === "-") return 0;
  const res = result.bootstrap.static_resources as { listeners: unknown[]; clusters: unknown[] };
  process.stderr.write(`wrote ${output} for ${nodeId}: ${res.listeners.length} listeners, ${res.clusters.length} clusters; run: envoy -c ${output}\n`);
  return 0;
}
