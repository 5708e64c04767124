/**
 * The mesh-wide settings istiod takes from its MeshConfig, as flags: one
 * definition and one set of checks for every command that builds the mesh
 * (serve, translate, static), so they cannot drift apart.
 */
import type { BuildMeshOptions } from "../model/mesh";
import { CliError, FlagSpec, ParsedFlags } from "../util/flags";

export const MESH_FLAGS: Record<string, FlagSpec> = {
  "outbound-traffic-policy": { type: "string", arg: "MODE", default: "ALLOW_ANY", help: "ALLOW_ANY or REGISTRY_ONLY (catch-all route)" },
  "root-namespace": { type: "string", arg: "NS", default: "istio-system", help: "namespace whose DestinationRules and PeerAuthentications apply mesh-wide" },
  "trust-domain": { type: "string", arg: "DOMAIN", default: "cluster.local", help: "SPIFFE trust domain of workload identities (mTLS SAN checks)" },
  "enable-auto-mtls": {
    type: "string",
    arg: "true|false",
    default: "true",
    help: "meshConfig enableAutoMtls: mTLS to endpoints with a sidecar without a DestinationRule",
  },
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
  const trustDomain = String(f["trust-domain"] ?? MESH_FLAGS["trust-domain"]!.default);
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(trustDomain))
    throw new CliError(`--trust-domain wants a DNS-like name (e.g. cluster.local), got "${trustDomain}"`);
  const autoMtls = String(f["enable-auto-mtls"] ?? MESH_FLAGS["enable-auto-mtls"]!.default);
  if (autoMtls !== "true" && autoMtls !== "false") throw new CliError(`--enable-auto-mtls wants true or false, got "${autoMtls}"`);
  return { outboundTrafficPolicy: policy as BuildMeshOptions["outboundTrafficPolicy"], rootNamespace, trustDomain, enableAutoMtls: autoMtls === "true" };
}
