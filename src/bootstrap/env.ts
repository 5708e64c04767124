/**
 * Where a bootstrap's inputs come from: the pod's environment (what the Istio
 * sidecar injector sets: POD_NAME, POD_NAMESPACE, INSTANCE_IP, SERVICE_ACCOUNT,
 * ISTIO_META_*), the downward-API labels file, and flags. Flags win over the
 * environment, the environment over defaults.
 *
 * Reading is injected (`env`, `readFile`) so the resolution rules are tested
 * without touching the process; only the CLI passes the real ones.
 */
import * as net from "node:net";
import { CliError, FlagSpec, ParsedFlags, parseHostPort, parseLabels } from "../util/flags";
import { parseDownwardApi } from "./downward";
import type { BootstrapOptions, JsonValue, Locality, ProxyType, XdsApi } from "./render";

/** The Istio release whose node metadata and Pilot behaviour mini-pilot follows. */
export const DEFAULT_ISTIO_VERSION = "1.26.0";
/** `mini-pilot serve` listens for plaintext gRPC on 15010, as istiod does. */
export const DEFAULT_XDS_ADDRESS = "127.0.0.1:15010";
export const DEFAULT_OUTPUT = "./envoy-rev0.json";

const META_PREFIX = "ISTIO_META_";
/** Kubernetes adds it to every ReplicaSet pod; Istio leaves it out of LABELS so pods of one Deployment look alike. */
const POD_TEMPLATE_HASH = "pod-template-hash";

/** Flags shared by `bootstrap` and `agent`. */
export const BOOTSTRAP_FLAGS: Record<string, FlagSpec> = {
  type: { type: "string", arg: "sidecar|router", default: "sidecar", help: "proxy type, the first part of the node id" },
  "pod-name": { type: "string", arg: "NAME", help: "pod name (env POD_NAME)" },
  namespace: { type: "string", arg: "NS", help: "pod namespace (env POD_NAMESPACE)" },
  ip: { type: "string", arg: "IP", help: "pod IP (env INSTANCE_IP)" },
  "service-account": { type: "string", arg: "NAME", help: "service account (env SERVICE_ACCOUNT)" },
  labels: { type: "string", arg: "k=v,...", help: "pod labels; win over --labels-file and ISTIO_META_LABELS" },
  "labels-file": { type: "string", arg: "PATH", help: 'downward-API labels file (key="value" per line), e.g. /etc/istio/pod/labels' },
  locality: { type: "string", arg: "REGION/ZONE/SUBZONE", help: "locality (else pod label istio-locality, else ISTIO_META_LOCALITY)" },
  // No flag default: an unset --xds-address gives way to the mesh config's defaultConfig.discoveryAddress.
  "xds-address": {
    type: "string",
    arg: "HOST:PORT",
    help: `control plane gRPC address (an IP: STATIC cluster; a name: STRICT_DNS; default ${DEFAULT_XDS_ADDRESS})`,
  },
  "xds-api": { type: "string", arg: "sotw|delta", default: "sotw", help: "ADS flavour: state of the world (GRPC) or incremental (DELTA_GRPC)" },
  "xds-tls": { type: "boolean", help: "TLS to the control plane (needs --xds-ca, or --sds-socket for the agent's default/ROOTCA)" },
  "xds-ca": { type: "string", arg: "PATH", help: "CA bundle that signed the control plane's certificate" },
  "xds-cert": { type: "string", arg: "PATH", help: "client certificate chain for mutual TLS (with --xds-key)" },
  "xds-key": { type: "string", arg: "PATH", help: "client private key for mutual TLS (with --xds-cert)" },
  "xds-sni": { type: "string", arg: "NAME", help: "SNI to send (default: the --xds-address host when it is a name)" },
  "xds-san": { type: "string", arg: "NAME", multiple: true, help: "DNS SAN the server certificate must have (default: the SNI)" },
  "sds-socket": { type: "string", arg: "PATH", help: "the agent's SDS socket: adds the sds-grpc cluster (default/ROOTCA secrets)" },
  "initial-fetch-timeout": {
    type: "string",
    arg: "DURATION",
    default: "0s",
    help: 'wait this long for the first LDS/CDS before starting without them; "0s" waits forever',
  },
  "admin-port": { type: "string", arg: "PORT", default: "15000", help: "Envoy admin port, on 127.0.0.1" },
  "stats-port": { type: "string", arg: "PORT", default: "15090", help: "listener serving /stats/prometheus" },
  "readiness-port": { type: "string", arg: "PORT", default: "15021", help: "listener serving /healthz/ready (0: none)" },
  "bind-address": { type: "string", arg: "IP", default: "0.0.0.0", help: "address the stats and readiness listeners bind" },
  zipkin: { type: "string", arg: "HOST:PORT", help: "send traces to this Zipkin collector" },
  "mesh-config": {
    type: "string",
    arg: "FILE",
    help: "Istio MeshConfig YAML: defaultConfig.discoveryAddress, .proxyMetadata and .tracing.zipkin.address (flags and environment win)",
  },
  "cluster-id": { type: "string", arg: "ID", help: "CLUSTER_ID metadata (env ISTIO_META_CLUSTER_ID, default Kubernetes)" },
  "mesh-id": { type: "string", arg: "ID", help: "MESH_ID metadata (env ISTIO_META_MESH_ID, default cluster.local)" },
  domain: { type: "string", arg: "DOMAIN", help: "DNS domain in the node id (default <namespace>.svc.cluster.local)" },
  "workload-name": { type: "string", arg: "NAME", help: "WORKLOAD_NAME metadata (env ISTIO_META_WORKLOAD_NAME, default the app label, else the pod name)" },
  out: { type: "string", arg: "FILE", default: DEFAULT_OUTPUT, help: "where to write the bootstrap; - for stdout" },
};

export interface Inputs {
  env: Record<string, string | undefined>;
  flags: ParsedFlags;
  readFile(path: string): string;
  /**
   * What is wrong with a file the bootstrap names for Envoy to read (the xDS
   * CA, certificate and key), or undefined when Envoy can read it. The CLI
   * passes a real check, so a typo fails here and not inside Envoy; the
   * example generator, which renders paths of a pod that is not this
   * machine, leaves it out.
   */
  fileProblem?(path: string): string | undefined;
}

function str(flags: ParsedFlags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === "string" && v !== "" ? v : undefined;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v !== undefined && v.trim() !== "" ? v.trim() : undefined;
}

/** Resolve every input into render options; all missing required inputs are reported at once. */
export function bootstrapOptions(inputs: Inputs): BootstrapOptions {
  const { env, flags } = inputs;
  const missing: string[] = [];
  const required = (flag: string, envName: string): string => {
    const v = str(flags, flag) ?? nonEmpty(env[envName]);
    if (v === undefined) missing.push(`${envName} (or --${flag})`);
    return v ?? "";
  };
  const podName = required("pod-name", "POD_NAME");
  const namespace = required("namespace", "POD_NAMESPACE");
  const instanceIp = required("ip", "INSTANCE_IP");
  if (missing.length) throw new CliError(`missing required input: ${missing.join(", ")}; set the environment variable or pass the flag`);
  if (net.isIP(instanceIp) === 0) throw new CliError(`INSTANCE_IP / --ip must be an IP address, got "${instanceIp}"`);

  const meta = istioMeta(env);
  const labels = resolveLabels(inputs, meta.LABELS);
  const workloadName = str(flags, "workload-name") ?? metaString(meta, "WORKLOAD_NAME") ?? nonEmpty(labels.app) ?? podName;
  const serviceAccount = str(flags, "service-account") ?? nonEmpty(env.SERVICE_ACCOUNT);
  const locality = resolveLocality(str(flags, "locality") ?? labels["istio-locality"]?.replace(/\./g, "/") ?? metaString(meta, "LOCALITY"));
  const readinessPort = port(flags, "readiness-port", true);
  const zipkin = str(flags, "zipkin");

  return {
    proxyType: proxyType(str(flags, "type") ?? "sidecar"),
    podName,
    namespace,
    instanceIp,
    ...(serviceAccount ? { serviceAccount } : {}),
    dnsDomain: str(flags, "domain") ?? `${namespace}.svc.cluster.local`,
    labels,
    extraMetadata: meta,
    clusterId: str(flags, "cluster-id") ?? metaString(meta, "CLUSTER_ID") ?? "Kubernetes",
    meshId: str(flags, "mesh-id") ?? metaString(meta, "MESH_ID") ?? "cluster.local",
    istioVersion: metaString(meta, "ISTIO_VERSION") ?? DEFAULT_ISTIO_VERSION,
    workloadName,
    interceptionMode: metaString(meta, "INTERCEPTION_MODE") ?? "REDIRECT",
    ...(locality ? { locality } : {}),
    xds: xdsOptions(flags, inputs.fileProblem, str(flags, "sds-socket")),
    adminPort: port(flags, "admin-port", false)!,
    statsPort: port(flags, "stats-port", false)!,
    ...(readinessPort ? { readinessPort } : {}),
    bindAddress: bindAddress(str(flags, "bind-address") ?? "0.0.0.0"),
    ...(str(flags, "sds-socket") ? { sdsSocket: str(flags, "sds-socket")! } : {}),
    ...(zipkin ? { zipkin: parseHostPort(zipkin, "zipkin") } : {}),
  };
}

/**
 * `ISTIO_META_FOO=bar` → `{FOO: "bar"}`. Values that look like JSON objects or
 * lists (`ISTIO_META_LABELS='{"app":"x"}'`) are parsed; scalars stay strings,
 * as Istio sends them (its StringBool fields expect "true", not true).
 */
export function istioMeta(env: Record<string, string | undefined>): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const name of Object.keys(env).sort()) {
    const value = env[name];
    if (!name.startsWith(META_PREFIX) || name === META_PREFIX || value === undefined) continue;
    out[name.slice(META_PREFIX.length)] = parseMetaValue(value);
  }
  return out;
}

function parseMetaValue(value: string): JsonValue {
  const t = value.trim();
  if (t.startsWith("{") || t.startsWith("[")) {
    try {
      return JSON.parse(t) as JsonValue;
    } catch {
      return value;
    }
  }
  return value;
}

function metaString(meta: Record<string, JsonValue>, key: string): string | undefined {
  const v = meta[key];
  return typeof v === "string" ? nonEmpty(v) : undefined;
}

/** ISTIO_META_LABELS < --labels-file < --labels. */
function resolveLabels(inputs: Inputs, metaLabels: JsonValue | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (metaLabels !== null && typeof metaLabels === "object" && !Array.isArray(metaLabels)) {
    for (const [k, v] of Object.entries(metaLabels)) if (typeof v === "string") out[k] = v;
  }
  const file = str(inputs.flags, "labels-file");
  if (file) {
    let text: string;
    try {
      text = inputs.readFile(file);
    } catch (e) {
      throw new CliError(`--labels-file ${file}: ${(e as Error).message}`);
    }
    let fromFile: Record<string, string>;
    try {
      fromFile = parseDownwardApi(text);
    } catch (e) {
      throw new CliError(`--labels-file ${file}: ${(e as Error).message}`);
    }
    for (const [k, v] of Object.entries(fromFile)) if (k !== POD_TEMPLATE_HASH) out[k] = v;
  }
  Object.assign(out, parseLabels(str(inputs.flags, "labels"), "labels"));
  return out;
}

/** "region/zone/subzone", any tail optional; empty parts are left out. */
export function resolveLocality(text: string | undefined): Locality | undefined {
  if (text === undefined || text.trim() === "") return undefined;
  const [region, zone, subZone, ...rest] = text.trim().split("/");
  if (rest.length) throw new CliError(`--locality wants REGION/ZONE/SUBZONE, got "${text}"`);
  const out: Locality = {};
  if (region) out.region = region;
  if (zone) out.zone = zone;
  if (subZone) out.subZone = subZone;
  return out;
}

function proxyType(v: string): ProxyType {
  if (v === "sidecar" || v === "router") return v;
  throw new CliError(`--type wants sidecar or router, got "${v}"`);
}

function xdsApi(v: string): XdsApi {
  if (v === "sotw" || v === "delta") return v;
  throw new CliError(`--xds-api wants sotw or delta, got "${v}"`);
}

function port(flags: ParsedFlags, name: string, zeroMeansOff: boolean): number | undefined {
  const raw = str(flags, name) ?? String(BOOTSTRAP_FLAGS[name]!.default);
  const n = Number(raw);
  const min = zeroMeansOff ? 0 : 1;
  if (!/^\d+$/.test(raw) || n < min || n > 65535) throw new CliError(`--${name} wants a port ${min}-65535, got "${raw}"`);
  return n === 0 ? undefined : n;
}

function bindAddress(v: string): string {
  if (net.isIP(v) === 0) throw new CliError(`--bind-address must be an IP address, got "${v}"`);
  return v;
}

/** The name Envoy checks on the control plane's certificate when the address is an IP and nothing else is said: istiod's. */
export const DEFAULT_XDS_SERVER_NAME = "istiod.istio-system.svc";

function xdsOptions(flags: ParsedFlags, fileProblem: Inputs["fileProblem"], sdsSocket: string | undefined): BootstrapOptions["xds"] {
  const address = parseHostPort(str(flags, "xds-address") ?? DEFAULT_XDS_ADDRESS, "xds-address");
  if (address.host === "" || address.port === 0) throw new CliError(`--xds-address wants HOST:PORT with a host and a non-zero port`);
  const timeout = str(flags, "initial-fetch-timeout") ?? "0s";
  if (!/^\d+(\.\d{1,9})?s$/.test(timeout)) throw new CliError(`--initial-fetch-timeout wants a duration like "0s" or "15s", got "${timeout}"`);
  const tlsFlags = ["xds-ca", "xds-cert", "xds-key", "xds-sni", "xds-san"].filter((f) => flags[f] !== undefined);
  const out: BootstrapOptions["xds"] = { address, api: xdsApi(str(flags, "xds-api") ?? "sotw"), initialFetchTimeout: timeout };
  if (flags["xds-tls"] !== true) {
    if (tlsFlags.length) throw new CliError(`--${tlsFlags[0]} only applies with --xds-tls`);
    return out;
  }
  const caFile = str(flags, "xds-ca");
  if (!caFile && !sdsSocket) {
    throw new CliError("--xds-tls needs --xds-ca (the CA that signed the control plane's certificate), or --sds-socket to trust ROOTCA from the agent");
  }
  const certFile = str(flags, "xds-cert");
  const keyFile = str(flags, "xds-key");
  if ((certFile === undefined) !== (keyFile === undefined)) throw new CliError("--xds-cert and --xds-key go together");
  const viaSds = sdsSocket !== undefined && certFile === undefined;
  if (fileProblem) {
    for (const [flag, file] of [
      ["xds-ca", caFile],
      ["xds-cert", certFile],
      ["xds-key", keyFile],
    ] as const) {
      const problem = file === undefined ? undefined : fileProblem(file);
      if (problem) throw new CliError(`--${flag} ${file}: ${problem}; Envoy could not read it`);
    }
  }
  // With the mesh's own roots (SDS), an IP address still gets a name to check: istiod's, as Istio's agent does.
  const sni = str(flags, "xds-sni") ?? (net.isIP(address.host) ? (viaSds ? DEFAULT_XDS_SERVER_NAME : undefined) : address.host);
  const sans = (flags["xds-san"] as string[] | undefined) ?? (sni ? [sni] : []);
  out.tls = {
    ...(caFile ? { caFile } : {}),
    ...(viaSds ? { viaSds } : {}),
    ...(certFile ? { certFile } : {}),
    ...(keyFile ? { keyFile } : {}),
    ...(sni ? { sni } : {}),
    subjectAltNames: sans,
  };
  return out;
}
