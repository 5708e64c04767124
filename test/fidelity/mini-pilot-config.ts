/**
 * mini-pilot's config for a golden case's proxy, produced the way
 * test/golden/golden.test.ts produces the expected files (translate, encode,
 * decode: what goes on the wire), but for the given node metadata.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { objectsFromManifests } from "../../src/cli/translate";
import { caseManifests } from "../support/golden-cases";
import { buildMesh, type BuildMeshOptions } from "../../src/model/mesh";
import { parseProxy } from "../../src/model/proxy";
import { parseMeshConfig } from "../../src/model/mesh-config";
import { meshOptionsFromConfig } from "../../src/model/mesh-config-options";
import { generate } from "../../src/generate";
import { encodeResource, resourceToJson } from "../../src/xds/resource";
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, type XdsTypeUrl } from "../../src/xds/types";
import type { ProxySpec } from "./golden-proxy";
import type { Json, XdsConfig } from "./xds-fetch";

function meshConfigOptions(caseDir: string): BuildMeshOptions {
  const file = path.join(caseDir, "mesh-config.yaml");
  if (!fs.existsSync(file)) return {};
  const parsed = parseMeshConfig(fs.readFileSync(file, "utf8"), "mesh-config.yaml");
  if (!parsed.ok) throw new Error(`${file}: ${parsed.errors.join("; ")}`);
  return meshOptionsFromConfig(parsed.config);
}

function wire(url: XdsTypeUrl, resources: object[], key: string): Map<string, Json> {
  const out = new Map<string, Json>();
  for (const r of resources) {
    const j = resourceToJson(encodeResource(url, r)) as Json;
    out.set(String(j[key] ?? ""), j);
  }
  return out;
}

export function miniPilotConfig(caseDir: string, spec: ProxySpec, metadata: Record<string, unknown>): XdsConfig {
  const parsed = parseProxy(spec.id, metadata);
  if (!parsed.ok) throw new Error(`${caseDir}/proxy.yaml: ${parsed.error}`);
  const loaded = objectsFromManifests(caseManifests(caseDir));
  const { mesh } = buildMesh(loaded.objects, { ...meshConfigOptions(caseDir), ...(spec.mesh ?? {}) });
  const g = generate(mesh, parsed.proxy);
  return {
    listeners: wire(LISTENER, g.listeners, "name"),
    routes: wire(ROUTE, g.routes, "name"),
    clusters: wire(CLUSTER, g.clusters, "name"),
    endpoints: wire(ENDPOINT, g.endpoints, "cluster_name"),
  };
}
