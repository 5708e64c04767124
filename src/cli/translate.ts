/**
 * `mini-pilot translate`: what one proxy would receive from a config folder,
 * printed as canonical JSON/YAML decoded from the encoded resources, so it is
 * exactly what goes on the wire. Diagnostics go to stderr.
 */
import { stringify } from "yaml";
import { CliError, CommandSpec, parseFlags, parseLabels } from "./args";
import { MESH_FLAGS, meshOptions } from "./mesh-flags";
import { ManifestFile, ManifestRootError, objectsFromManifests, readManifestFolder } from "../sources/file/manifests";
import { buildMesh } from "../model/mesh";
import { parseProxy, ProxyView, withWorkloadLocality } from "../model/proxy";
import { unselectedRouterHint } from "../model/router-hint";
import { formatDiagnostic } from "../model/types";
import { generate, GeneratedResources } from "../generate";
import { wireJson } from "../translate/wire-json";
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, XdsTypeUrl } from "../xds/types";

export const summary = "print the xDS resources one proxy would receive from a config folder";

const spec: CommandSpec = {
  name: "translate",
  usage: "--config-dir DIR --proxy NODE_ID [flags]",
  description:
    "Reads Kubernetes and Istio manifests (.yaml/.yml/.json, recursively), translates them for the proxy\n" +
    "with the given node id, and prints the resources it would receive. Diagnostics go to stderr; the\n" +
    "resources are printed either way, and the exit status is 1 when any diagnostic is an error.",
  flags: {
    "config-dir": { type: "string", arg: "DIR", help: "folder of manifests (read recursively)" },
    proxy: { type: "string", arg: "NODE_ID", help: "node id, e.g. sidecar~10.1.1.5~app-1.default~default.svc.cluster.local" },
    labels: { type: "string", arg: "K=V,...", help: "the proxy's labels (its pod's labels)" },
    type: { type: "string", arg: "TYPE", default: "all", help: "listeners, routes, clusters, endpoints or all" },
    output: { type: "string", short: "o", arg: "FORMAT", default: "yaml", help: "json or yaml" },
    ...MESH_FLAGS,
  },
};

const TYPES: Record<string, { url: XdsTypeUrl; key: keyof GeneratedResources }> = {
  listeners: { url: LISTENER, key: "listeners" },
  routes: { url: ROUTE, key: "routes" },
  clusters: { url: CLUSTER, key: "clusters" },
  endpoints: { url: ENDPOINT, key: "endpoints" },
};

// The manifest loader lives in sources/file/manifests; these names stay here for existing importers.
export type { ManifestFile } from "../sources/file/manifests";
export { objectsFromManifests } from "../sources/file/manifests";

/** Every manifest under `dir` (the loader's rules), in walk order, named relative to the working folder. */
export function readManifestDir(dir: string): ManifestFile[] {
  try {
    return readManifestFolder(dir, { relativeTo: process.cwd() });
  } catch (e) {
    if (e instanceof ManifestRootError) throw new CliError(`--config-dir "${dir}" ${e.reason}`);
    throw e;
  }
}

function proxyFromFlags(nodeId: string | undefined, labels: Record<string, string>): ProxyView {
  if (!nodeId) throw new CliError("--proxy NODE_ID is required (e.g. sidecar~10.1.1.5~app-1.default~default.svc.cluster.local)");
  const r = parseProxy(nodeId, Object.keys(labels).length > 0 ? { LABELS: labels } : {});
  if (!r.ok) throw new CliError(r.error);
  return r.proxy;
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags(spec, argv);
  if (!parsed) return 0;
  const f = parsed.flags;
  const dir = f["config-dir"] as string | undefined;
  if (!dir) throw new CliError("--config-dir DIR is required");
  const proxy = proxyFromFlags(f.proxy as string | undefined, parseLabels(f.labels as string | undefined, "labels"));
  const type = String(f.type);
  if (type !== "all" && !TYPES[type]) throw new CliError(`--type must be listeners, routes, clusters, endpoints or all, got "${type}"`);
  const format = String(f.output);
  if (format !== "json" && format !== "yaml") throw new CliError(`-o must be json or yaml, got "${format}"`);
  const options = meshOptions(f);
  if (parsed.positionals.length) throw new CliError(`unexpected argument "${parsed.positionals[0]}"`);

  const loaded = objectsFromManifests(readManifestDir(dir));
  const { mesh, diagnostics } = buildMesh(loaded.objects, options);
  // As serve: a proxy whose Pod is in the folder runs where that Pod's Node is.
  const generated = generate(mesh, withWorkloadLocality(proxy, mesh));
  const all = [
    ...loaded.diagnostics,
    ...diagnostics,
    ...(generated.diagnostics ?? []),
    ...(generated.credentials?.diagnostics ?? []),
    ...unselectedRouterHint(mesh, proxy),
  ];
  for (const d of all) process.stderr.write(`${d.severity}: ${formatDiagnostic(d)}\n`);

  const selected = type === "all" ? Object.keys(TYPES) : [type];
  const out: Record<string, unknown[]> = {};
  for (const t of selected) out[t] = wireJson(TYPES[t]!.url, generated[TYPES[t]!.key]);
  const body = type === "all" ? out : out[type];
  process.stdout.write(format === "json" ? `${JSON.stringify(body, null, 2)}\n` : stringify(body, { lineWidth: 0 }));
  const errors = all.filter((d) => d.severity === "error").length;
  if (errors === 0) return 0;
  // The objects in error were left out, so this output is not what the folder says: a script must notice.
  process.stderr.write(`mini-pilot translate: ${errors} error${errors === 1 ? "" : "s"} in ${dir}; objects in error were left out of the output\n`);
  return 1;
}
