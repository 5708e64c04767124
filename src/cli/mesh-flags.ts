/**
 * The mesh-wide settings istiod takes from its MeshConfig: `--mesh-config FILE`
 * (Istio's MeshConfig YAML) plus flags for the two most used fields. One
 * definition and one set of checks for every command that builds the mesh
 * (serve, translate, static), so they cannot drift apart. Flags win over the
 * file (and, in serve, over the `istio` ConfigMap).
 */
import * as fs from "node:fs";
import type { BuildMeshOptions } from "../model/mesh";
import { parseMeshConfig } from "../model/mesh-config";
import { MeshConfigError, MeshConfigSource, type MeshConfigLog } from "../sources/mesh-config";
import { watchMeshConfigMap } from "../sources/kube/mesh-configmap";
import { findSystemCaBundle } from "../sources/system-ca";
import type { Logger } from "../log";
import { CliError, FlagSpec, ParsedFlags } from "../util/flags";

// No `default` on the two field flags: a flag that was not given must not override the mesh config.
export const MESH_FLAGS: Record<string, FlagSpec> = {
  "mesh-config": {
    type: "string",
    arg: "FILE",
    help: "Istio MeshConfig YAML (outboundTrafficPolicy, defaultConfig.tracing, extensionProviders, ...; see docs/MESH-CONFIG.md)",
  },
  "outbound-traffic-policy": {
    type: "string",
    arg: "MODE",
    help: "ALLOW_ANY or REGISTRY_ONLY (catch-all route; default ALLOW_ANY); overrides the mesh config",
  },
  "root-namespace": {
    type: "string",
    arg: "NS",
    help: "namespace whose DestinationRules, PeerAuthentications and AuthorizationPolicies apply mesh-wide (default istio-system); overrides the mesh config",
  },
  "trust-domain": {
    type: "string",
    arg: "DOMAIN",
    help: "SPIFFE trust domain of workload identities (mTLS SAN checks; default cluster.local); overrides the mesh config",
  },
  "enable-auto-mtls": {
    type: "string",
    arg: "true|false",
    help: "meshConfig enableAutoMtls: mTLS to endpoints with a sidecar without a DestinationRule (default true); overrides the mesh config",
  },
};

const POLICIES = ["ALLOW_ANY", "REGISTRY_ONLY"] as const;
/** A Kubernetes namespace name (RFC 1123 label). */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** The mesh options the flags set (only those given). */
export function meshFlagOverrides(f: ParsedFlags): BuildMeshOptions {
  // Not a flag: the operating system's CA bundle of this host (null: none), for TLS origination without caCertificates.
  const out: BuildMeshOptions = { systemCaBundle: findSystemCaBundle() };
  if (f["outbound-traffic-policy"] !== undefined) {
    const policy = String(f["outbound-traffic-policy"]);
    if (!(POLICIES as readonly string[]).includes(policy)) throw new CliError(`--outbound-traffic-policy wants ALLOW_ANY or REGISTRY_ONLY, got "${policy}"`);
    out.outboundTrafficPolicy = policy as BuildMeshOptions["outboundTrafficPolicy"];
  }
  if (f["root-namespace"] !== undefined) {
    const rootNamespace = String(f["root-namespace"]);
    if (!NAMESPACE.test(rootNamespace)) throw new CliError(`--root-namespace wants a namespace name (lower-case letters, digits, '-'), got "${rootNamespace}"`);
    out.rootNamespace = rootNamespace;
  }
  if (f["trust-domain"] !== undefined) {
    const trustDomain = String(f["trust-domain"]);
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(trustDomain))
      throw new CliError(`--trust-domain wants a DNS-like name (e.g. cluster.local), got "${trustDomain}"`);
    out.trustDomain = trustDomain;
  }
  if (f["enable-auto-mtls"] !== undefined) {
    const autoMtls = String(f["enable-auto-mtls"]);
    if (autoMtls !== "true" && autoMtls !== "false") throw new CliError(`--enable-auto-mtls wants true or false, got "${autoMtls}"`);
    out.enableAutoMtls = autoMtls === "true";
  }
  return out;
}

/** The mesh config source of a command: the file (checked now; a refused file ends the command) and the flags. */
export function meshConfigSource(f: ParsedFlags, log: MeshConfigLog): MeshConfigSource {
  const overrides = meshFlagOverrides(f);
  const file = f["mesh-config"] as string | undefined;
  try {
    return new MeshConfigSource({ ...(file !== undefined ? { file } : {}), overrides, log });
  } catch (e) {
    if (e instanceof MeshConfigError) throw new CliError(`--mesh-config refused:\n  ${e.message.split("\n").join("\n  ")}`);
    throw e;
  }
}

/** Checked mesh options for one-shot commands (translate, static): file + flags; warnings to stderr. */
export function meshOptions(f: ParsedFlags): BuildMeshOptions {
  const say = (_o: object, msg: string) => void process.stderr.write(`warning: ${msg}\n`);
  return meshConfigSource(f, { info: () => undefined, warn: say, error: say }).options();
}

/**
 * serve: keep `target` on the mesh config in force. The file is watched; on a
 * cluster the `istio` ConfigMap in the root namespace is watched too (its
 * first list is awaited, so the first push already has it). Returns stop().
 */
export async function followMeshConfig(
  source: MeshConfigSource,
  target: { setMeshOptions(o: BuildMeshOptions): void },
  o: { log: Logger; kube?: { kubeconfig?: string } },
): Promise<() => Promise<void>> {
  source.onChange = (options) => target.setMeshOptions(options);
  source.watch();
  if (!o.kube) return async () => source.stop();
  const cm = watchMeshConfigMap({
    ...(o.kube.kubeconfig ? { kubeconfig: o.kube.kubeconfig } : {}),
    namespace: source.rootNamespace(),
    log: o.log,
    onText: (text, where) => source.setConfigMapText(text, where),
  });
  await cm.synced.catch((e: Error) => o.log.warn({}, `kube: the mesh config ConfigMap is not watched: ${e.message}`));
  return async () => {
    source.stop();
    await cm.stop();
  };
}

/**
 * bootstrap/agent: what pilot-agent takes from the mesh config's defaultConfig
 * (ProxyConfig), as flag and environment values that real flags and the
 * environment override: discoveryAddress → --xds-address,
 * tracing.zipkin.address → --zipkin (the bootstrap's `zipkin` collector
 * cluster), proxyMetadata → environment (ISTIO_META_* and the like, as Istio
 * sets them on the agent).
 */
export function proxyConfigInputs(file: string | undefined): { flags: Record<string, string>; env: Record<string, string> } {
  if (file === undefined) return { flags: {}, env: {} };
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new CliError(`--mesh-config: cannot read "${file}": ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message}`);
  }
  const parsed = parseMeshConfig(text, file);
  for (const w of parsed.warnings) process.stderr.write(`warning: ${w}\n`);
  if (!parsed.ok) throw new CliError(`--mesh-config refused:\n  ${parsed.errors.join("\n  ")}`);
  const dc = parsed.config.defaultConfig ?? {};
  const flags: Record<string, string> = {};
  if (dc.discoveryAddress) flags["xds-address"] = dc.discoveryAddress;
  if (dc.tracing?.zipkin?.address) flags.zipkin = dc.tracing.zipkin.address;
  return { flags, env: { ...(dc.proxyMetadata ?? {}) } };
}
