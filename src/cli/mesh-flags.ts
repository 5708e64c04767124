/**
 * The mesh-wide settings istiod takes from its MeshConfig, as flags: one
 * definition and one set of checks for every command that builds the mesh
 * (serve, translate, static), so they cannot drift apart.
 */
import type { BuildMeshOptions } from "../model/mesh";
import { CliError, FlagSpec, ParsedFlags } from "../util/flags";

export const MESH_FLAGS: Record<string, FlagSpec> = {
  "outbound-traffic-policy": { type: "string", arg: "MODE", default: "ALLOW_ANY", help: "ALLOW_ANY or REGISTRY_ONLY (catch-all route)" },
  "root-namespace": { type: "string", arg: "NS", default: "istio-system", help: "namespace whose DestinationRules apply mesh-wide" },
};

const POLICIES = ["ALLOW_ANY", "REGISTRY_ONLY"] as const;
/** A Kubernetes namespace name (RFC 1123 label). */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Checked mesh options from the parsed flags. */
export function meshOptions(f: ParsedFlags): BuildMeshOptions {
  const policy = String(f["outbound-traffic-policy"] ?? MESH_FLAGS["outbound-traffic-policy"]!.default);
  if (!(POLICIES as readonly string[]).includes(policy)) throw new CliError(`--outbound-traffic-policy wants ALLOW_ANY or REGISTRY_ONLY, got "${policy}"`);
  const rootNamespace = String(f["root-namespace"] ?? MESH_FLAGS["root-namespace"]!.default);
  if (!NAMESPACE.test(rootNamespace)) throw new CliError(`--root-namespace wants a namespace name (lower-case letters, digits, '-'), got "${rootNamespace}"`);
  return { outboundTrafficPolicy: policy as BuildMeshOptions["outboundTrafficPolicy"], rootNamespace };
}
