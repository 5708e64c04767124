/**
 * `mini-pilot translate`: what one proxy would receive from a config folder,
 * printed as canonical JSON/YAML decoded from the encoded resources, so it is
 * exactly what goes on the wire. Diagnostics go to stderr.
 */
import { stringify } from "yaml";
import { CliError, CommandSpec, parseFlags, parseLabels } from "./args";
import { ManifestFile, ManifestRootError, objectsFromManifests, readManifestFolder } from "../sources/file/manifests";
import { buildMesh, BuildMeshOptions } from "../model/mesh";
import { parseProxy, ProxyView } from "../model/proxy";
import { formatDiagnostic } from "../model/types";
import { generate, GeneratedResources } from "../generate";
import { encodeResource, resourceToJson } from "../xds/resource";
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, XdsTypeUrl } from "../xds/types";

export const summary = "print the xDS resources one proxy would receive from a config folder";

const spec: CommandSpec = {
  name: "translate",
  usage: "--config-dir DIR --proxy NODE_ID [flags]",
  description:
    "Reads Kubernetes and Istio manifests (.yaml/.yml/.json, recursively), translates them for the proxy\n" +
    "with the given node id, and prints the resources it would receive. Diagnostics go to stderr.",
  flags: {
    "config-dir": { type: "string", arg: "DIR", help: "folder of manifests (read recursively)" },
    proxy: { type: "string", arg: "NODE_ID", help: "node id, e.g. sidecar~10.1.1.5~app-1.default~default.svc.cluster.local" },
    labels: { type: "string", arg: "K=V,...", help: "the proxy's labels (its pod's labels)" },
    type: { type: "string", arg: "TYPE", default: "all", help: "listeners, routes, clusters, endpoints or all" },
    output: { type: "string", short: "o", arg: "FORMAT", default: "yaml", help: "json or yaml" },
    "outbound-traffic-policy": { type: "string", arg: "MODE", default: "ALLOW_ANY", help: "ALLOW_ANY or REGISTRY_ONLY" },
    "root-namespace": { type: "string", arg: "NS", default: "istio-system", help: "namespace of mesh-wide DestinationRules" },
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

/** Generated JSON -> encoded (strict) -> decoded: exactly what the proxy would be sent. */
export function wireJson(url: XdsTypeUrl, resources: object[]): unknown[] {
  return resources.map((r) => resourceToJson(encodeResource(url, r)));
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
  const policy = String(f["outbound-traffic-policy"]);
  if (policy !== "ALLOW_ANY" && policy !== "REGISTRY_ONLY") throw new CliError(`--outbound-traffic-policy must be ALLOW_ANY or REGISTRY_ONLY, got "${policy}"`);

  const loaded = objectsFromManifests(readManifestDir(dir));
  const meshOptions: BuildMeshOptions = { outboundTrafficPolicy: policy, rootNamespace: String(f["root-namespace"]) };
  const { mesh, diagnostics } = buildMesh(loaded.objects, meshOptions);
  for (const d of [...loaded.diagnostics, ...diagnostics]) process.stderr.write(`${d.severity}: ${formatDiagnostic(d)}\n`);

  const generated = generate(mesh, proxy);
  const selected = type === "all" ? Object.keys(TYPES) : [type];
  const out: Record<string, unknown[]> = {};
  for (const t of selected) out[t] = wireJson(TYPES[t]!.url, generated[TYPES[t]!.key]);
  const body = type === "all" ? out : out[type];
  process.stdout.write(format === "json" ? `${JSON.stringify(body, null, 2)}\n` : stringify(body, { lineWidth: 0 }));
  return 0;
}
