/**
 * MeshConfig pathNormalization on every HTTP connection manager a proxy gets,
 * in one pass after generation (as tracing and access logs, telemetry.ts), so
 * that every listener builder gets it without passing the mesh around.
 * istiod's buildHTTPConnectionManager: NONE turns normalisation off,
 * MERGE_SLASHES also merges slashes, DECODE_AND_MERGE_SLASHES also decodes
 * escaped slashes. BASE (istiod's DEFAULT) is what istio-defaults.ts writes.
 */
import type { Mesh, PathNormalization } from "../model/mesh";
import type { HttpConnectionManager } from "./envoy";
import type { GeneratedResources } from "./generated";
import { withHcmFields } from "./telemetry";

export function pathNormalizationFields(n: PathNormalization): HttpConnectionManager {
  switch (n) {
    case "NONE":
      return { normalize_path: false };
    case "BASE":
      return { normalize_path: true };
    case "MERGE_SLASHES":
      return { normalize_path: true, merge_slashes: true };
    case "DECODE_AND_MERGE_SLASHES":
      return { normalize_path: true, merge_slashes: true, path_with_escaped_slashes_action: "UNESCAPE_AND_FORWARD" };
  }
}

export function withPathNormalization<G extends GeneratedResources>(out: G, mesh: Mesh): G {
  const n = mesh.options.pathNormalization;
  if (!n || n === "BASE") return out;
  const extra = pathNormalizationFields(n);
  return { ...out, listeners: out.listeners.map((l) => withHcmFields(l, extra)) };
}
