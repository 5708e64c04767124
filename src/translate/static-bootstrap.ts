/**
 * What one proxy would receive, as one static Envoy bootstrap: the library
 * behind `mini-pilot static`, scripts/gen-envoy-configs.ts and the tests. The
 * resources go through the same path as `translate` and `serve` (parse,
 * validate, mesh, generate, strict encode and decode), then
 * src/bootstrap/static.ts folds RDS and EDS into them, and the result is
 * checked against Envoy's schema and PGV rules.
 */
// The manifest loader is in the middle of moving out of cli/ (to sources/file/manifests); import it from there once it has.
import { objectsFromManifests, ManifestFile } from "../sources/file/manifests";
import { buildMesh, BuildMeshOptions } from "../model/mesh";
import { parseProxy, ProxyView, withWorkloadLocality } from "../model/proxy";
import { unselectedRouterHint } from "../model/router-hint";
import { Diagnostic, MeshObject } from "../model/types";
import { generate } from "../generate";
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET } from "../xds/types";
import { renderStatic, StaticConfigError } from "../bootstrap/static";
import { checkBootstrap } from "../bootstrap/check";
import type { JsonValue } from "../bootstrap/render";
import { wireJson } from "./wire-json";

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
  // Its locality, like its labels, from its Pod (and that Pod's Node) when the manifests have them.
  const proxy = withWorkloadLocality(parsed.proxy, mesh);
  if (proxy.generator === "grpc") {
    return {
      ok: false,
      error: `node "${req.nodeId}" is a proxyless gRPC client (metadata GENERATOR=grpc): it reads xDS from a control plane and has no static form; a static bootstrap is for Envoy`,
      diagnostics,
    };
  }

  const g = generate(mesh, proxy);
  diagnostics.push(...(g.diagnostics ?? []), ...(g.credentials?.diagnostics ?? []), ...unselectedRouterHint(mesh, proxy));
  const secrets = wireJson(SECRET, g.credentials?.secrets ?? []);
  const xds = {
    listeners: withoutUnservedCredentials(wireJson(LISTENER, g.listeners), secrets, diagnostics),
    routes: wireJson(ROUTE, g.routes),
    clusters: wireJson(CLUSTER, g.clusters),
    endpoints: wireJson(ENDPOINT, g.endpoints),
    secrets,
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

/**
 * Over ADS, a server whose credential cannot be served keeps its filter chain
 * and fails its handshakes (as with istiod); a static config cannot refer to a
 * secret it does not hold, so such a chain is left out (a listener left with
 * no chain goes too), with a warning. The Secret's own diagnostic says why.
 */
function withoutUnservedCredentials(listeners: unknown[], secrets: unknown[], diagnostics: Diagnostic[]): unknown[] {
  const served = new Set(secrets.map((x) => String((x as { name?: unknown }).name)));
  const out: unknown[] = [];
  for (const l of listeners as { name?: string; filter_chains?: unknown[] }[]) {
    const chains = l.filter_chains ?? [];
    const kept = chains.filter((c) => [...adsSecretNames(c)].every((n) => served.has(n)));
    for (const c of chains) {
      if (kept.includes(c)) continue;
      const missing = [...adsSecretNames(c)].filter((n) => !served.has(n));
      const message = `listener ${l.name}: a filter chain that needs ${missing.join(", ")} is left out of the static config (its Secret cannot be served)`;
      diagnostics.push({ severity: "warning", message });
    }
    if (kept.length === chains.length) out.push(l);
    else if (kept.length > 0) out.push({ ...l, filter_chains: kept });
  }
  return out;
}

function adsSecretNames(v: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(v)) for (const x of v) adsSecretNames(x, into);
  else if (v !== null && typeof v === "object") {
    const o = v as { name?: unknown; sds_config?: { ads?: unknown } };
    if (typeof o.name === "string" && o.sds_config?.ads !== undefined) into.add(o.name);
    for (const x of Object.values(o)) adsSecretNames(x, into);
  }
  return into;
}

function findPod(objects: MeshObject[], name: string, namespace: string): MeshObject | undefined {
  return objects.find((o) => o.kind === "Pod" && o.metadata.name === name && o.metadata.namespace === namespace);
}

function sorted(labels: Record<string, string>): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const k of Object.keys(labels).sort()) out[k] = labels[k]!;
  return out;
}
