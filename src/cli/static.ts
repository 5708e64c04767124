/**
 * `mini-pilot static`: what one proxy would receive over xDS, as one static
 * Envoy bootstrap (`envoy -c FILE`, no control plane). The resources go
 * through the same path as `translate` and `serve` (parse, validate, mesh,
 * generate, strict encode and decode), then src/bootstrap/static.ts folds RDS
 * and EDS into them. The result is checked against Envoy's schema and PGV rules
 * before it is written.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { CliError, CommandSpec, parseFlags, parseLabels } from "./args";
import { objectsFromManifests, ManifestFile, readManifestDir, wireJson } from "./translate";
import { buildMesh, BuildMeshOptions } from "../model/mesh";
import { parseProxy, ProxyView } from "../model/proxy";
import { Diagnostic, MeshObject, formatDiagnostic } from "../model/types";
import { generate } from "../generate";
import { CLUSTER, ENDPOINT, LISTENER, ROUTE } from "../xds/types";
import { renderStatic, StaticConfigError } from "../bootstrap/static";
import { checkBootstrap, serializeBootstrap } from "../bootstrap/check";
import type { JsonValue } from "../bootstrap/render";

export const summary = "render what one proxy would receive as a static Envoy bootstrap (no control plane)";

export const spec: CommandSpec = {
  name: "static",
  usage: "--config-dir DIR --proxy NODE_ID [flags] -o FILE",
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
    output: { type: "string", short: "o", arg: "FILE", default: "-", help: "where to write the bootstrap; - for stdout" },
    "admin-port": { type: "string", arg: "PORT", default: "15000", help: "Envoy admin port (on 127.0.0.1)" },
    "bind-outbound": { type: "boolean", default: false, help: "bind the sidecar's HTTP outbound listeners (for a run without iptables)" },
    "bind-address": { type: "string", arg: "ADDR", default: "127.0.0.1", help: "address --bind-outbound binds" },
    "port-offset": { type: "string", arg: "N", default: "0", help: "add N to the port of every listener Envoy binds" },
    "outbound-traffic-policy": { type: "string", arg: "MODE", default: "ALLOW_ANY", help: "ALLOW_ANY or REGISTRY_ONLY" },
    "root-namespace": { type: "string", arg: "NS", default: "istio-system", help: "namespace of mesh-wide DestinationRules" },
  },
};

export interface StaticRequest {
  files: ManifestFile[];
  nodeId: string;
  /** Node metadata as Envoy would send it (NAMESPACE, LABELS, ...). */
  metadata: Record<string, unknown>;
  mesh?: BuildMeshOptions;
  adminPort?: number;
  bindOutbound?: string;
  portOffset?: number;
}

export type StaticResult =
  | { ok: true; bootstrap: Record<string, JsonValue>; diagnostics: Diagnostic[]; proxy: ProxyView; labelsFrom?: string }
  | { ok: false; error: string; diagnostics: Diagnostic[] };

/**
 * Manifests + proxy → a checked static bootstrap. The one path used by the
 * CLI, scripts/gen-envoy-configs.ts and the tests. When metadata has no
 * LABELS, the labels of the Pod the node id names are used if it is among
 * the manifests (pilot-agent would read them from the same pod).
 */
export function buildStatic(req: StaticRequest): StaticResult {
  const loaded = objectsFromManifests(req.files);
  const { mesh, diagnostics: meshDiagnostics } = buildMesh(loaded.objects, req.mesh ?? {});
  const diagnostics = [...loaded.diagnostics, ...meshDiagnostics];
  let metadata = req.metadata;
  let labelsFrom: string | undefined;
  const first = parseProxy(req.nodeId, metadata);
  if (!first.ok) return { ok: false, error: first.error, diagnostics };
  if (metadata.LABELS === undefined) {
    const pod = findPod(loaded.objects, first.proxy.podName, first.proxy.namespace);
    if (pod?.metadata.labels) {
      metadata = { ...metadata, LABELS: pod.metadata.labels };
      labelsFrom = `Pod ${pod.metadata.namespace}/${pod.metadata.name}`;
    }
  }
  const parsed = parseProxy(req.nodeId, metadata);
  if (!parsed.ok) return { ok: false, error: parsed.error, diagnostics };
  const proxy = parsed.proxy;
  if (proxy.generator === "grpc") {
    return {
      ok: false,
      error: `node "${req.nodeId}" is a proxyless gRPC client (metadata GENERATOR=grpc): it reads xDS from a control plane and has no static form; a static bootstrap is for Envoy`,
      diagnostics,
    };
  }

  const g = generate(mesh, proxy);
  diagnostics.push(...(g.diagnostics ?? []));
  const xds = {
    listeners: wireJson(LISTENER, g.listeners),
    routes: wireJson(ROUTE, g.routes),
    clusters: wireJson(CLUSTER, g.clusters),
    endpoints: wireJson(ENDPOINT, g.endpoints),
  };
  const node = {
    id: proxy.id,
    cluster: `${proxy.labels.app || proxy.podName}.${proxy.namespace}`,
    metadata: { LABELS: sorted(proxy.labels), NAMESPACE: proxy.namespace } as Record<string, JsonValue>,
  };
  let bootstrap: Record<string, JsonValue>;
  try {
    bootstrap = renderStatic(xds, {
      node,
      adminPort: req.adminPort ?? 15000,
      ...(req.bindOutbound !== undefined ? { bindOutbound: req.bindOutbound } : {}),
      portOffset: req.portOffset ?? 0,
    });
  } catch (e) {
    if (e instanceof StaticConfigError) return { ok: false, error: e.message, diagnostics };
    throw e;
  }
  const problems = checkBootstrap(bootstrap);
  if (problems.length) {
    return { ok: false, error: `the static bootstrap is not valid Envoy config (a mini-pilot bug):\n${problems.map((p) => `  ${p}`).join("\n")}`, diagnostics };
  }
  return { ok: true, bootstrap, diagnostics, proxy, ...(labelsFrom ? { labelsFrom } : {}) };
}

function findPod(objects: MeshObject[], name: string, namespace: string): MeshObject | undefined {
  return objects.find((o) => o.kind === "Pod" && o.metadata.name === name && o.metadata.namespace === namespace);
}

function sorted(labels: Record<string, string>): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const k of Object.keys(labels).sort()) out[k] = labels[k]!;
  return out;
}

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
  const policy = String(f["outbound-traffic-policy"]);
  if (policy !== "ALLOW_ANY" && policy !== "REGISTRY_ONLY") throw new CliError(`--outbound-traffic-policy must be ALLOW_ANY or REGISTRY_ONLY, got "${policy}"`);
  const adminPort = intFlag(f["admin-port"], "admin-port", 1, 65535);
  const portOffset = intFlag(f["port-offset"], "port-offset", 0, 65535);
  const bindAddress = String(f["bind-address"]);
  if (f["bind-outbound"] !== true && f["bind-address"] !== "127.0.0.1") throw new CliError("--bind-address only applies with --bind-outbound");
  const output = String(f.output);

  const result = buildStatic({
    files: readManifestDir(dir),
    nodeId,
    metadata: Object.keys(labels).length ? { LABELS: labels } : {},
    mesh: { outboundTrafficPolicy: policy, rootNamespace: String(f["root-namespace"]) },
    adminPort,
    ...(f["bind-outbound"] === true ? { bindOutbound: bindAddress } : {}),
    portOffset,
  });
  for (const d of result.diagnostics) process.stderr.write(`${d.severity}: ${formatDiagnostic(d)}\n`);
  if (!result.ok) throw new CliError(result.error);
  if (result.labelsFrom) process.stderr.write(`labels from ${result.labelsFrom}: ${JSON.stringify(result.proxy.labels)}\n`);
  const text = serializeBootstrap(result.bootstrap);
  if (output === "-") {
    process.stdout.write(text);
    return 0;
  }
  fs.mkdirSync(path.dirname(path.resolve(output)), { recursive: true });
  const tmp = `${output}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, output);
  const res = result.bootstrap.static_resources as { listeners: unknown[]; clusters: unknown[] };
  process.stderr.write(`wrote ${output} for ${nodeId}: ${res.listeners.length} listeners, ${res.clusters.length} clusters; run: envoy -c ${output}\n`);
  return 0;
}
