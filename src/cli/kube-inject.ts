/**
 * `mini-pilot kube-inject`: what the injection webhook would do, offline, to
 * the workloads in a manifest (istioctl kube-inject). The namespace's labels
 * are not known offline, so every pod is injected unless it opts out, as
 * istioctl does; --namespace-labels applies the webhook's namespace rules.
 */
import * as fs from "node:fs";
import { CliError, CommandSpec, FlagSpec, ParsedFlags, parseFlags, parseLabels } from "./args";
import { injectDocuments } from "../inject/documents";
import { DEFAULT_SETTINGS, InjectSettings, PLAINTEXT_DISCOVERY_ADDRESS, xdsTarget } from "../inject/settings";

export const summary = "add the sidecar (istio-init + istio-proxy) to the workloads in a manifest, offline (istioctl kube-inject)";

/** How the injected sidecar reaches the control plane, for both commands' --help. */
export const INJECT_XDS_HELP = [
  "",
  "Secure by default: with --ca-address (default " + DEFAULT_SETTINGS.caAddress + ") the sidecar's agent gets its workload",
  "certificate from that TLS port and its Envoy fetches xDS from the same port over TLS (agent --xds-tls), presenting",
  "that certificate. Plaintext xDS (" + PLAINTEXT_DISCOVERY_ADDRESS + ') only when asked: --ca-address "" (no certificates),',
  "or --plaintext-xds (certificates, but config over the plaintext port).",
];

/** Mesh-wide injection settings; shared with the webhook command. */
export const INJECT_SETTINGS_FLAGS: Record<string, FlagSpec> = {
  image: {
    type: "string",
    arg: "IMAGE",
    default: DEFAULT_SETTINGS.image,
    help: "image of the init and proxy containers (mini-pilot as entrypoint, with Envoy)",
  },
  "image-pull-policy": { type: "string", arg: "POLICY", default: DEFAULT_SETTINGS.imagePullPolicy, help: "Always, IfNotPresent or Never" },
  "ca-address": {
    type: "string",
    arg: "HOST:PORT",
    default: DEFAULT_SETTINGS.caAddress,
    help: 'the control plane\'s TLS port: workload certificates (CA_ADDR) and, by default, xDS over TLS; "" for neither (plaintext xDS)',
  },
  "discovery-address": {
    type: "string",
    arg: "HOST:PORT",
    help: `the agent's xDS address (default: the --ca-address, over TLS; with --ca-address "" or --plaintext-xds: ${PLAINTEXT_DISCOVERY_ADDRESS}, plaintext)`,
  },
  "plaintext-xds": {
    type: "boolean",
    help: "fetch xDS over the plaintext port even with workload certificates on (local development; anyone on the network can read config there)",
  },
  "cluster-id": { type: "string", arg: "ID", default: DEFAULT_SETTINGS.clusterId, help: "ISTIO_META_CLUSTER_ID" },
  "mesh-id": { type: "string", arg: "ID", default: DEFAULT_SETTINGS.meshId, help: "ISTIO_META_MESH_ID" },
  "trust-domain": { type: "string", arg: "DOMAIN", default: DEFAULT_SETTINGS.trustDomain, help: "TRUST_DOMAIN" },
  revision: { type: "string", arg: "NAME", default: DEFAULT_SETTINGS.revision, help: "revision recorded in sidecar.istio.io/status" },
  "agent-arg": { type: "string", arg: "ARG", multiple: true, help: "extra argument for `mini-pilot agent` in the sidecar, e.g. --xds-api=delta" },
};

const spec: CommandSpec = {
  name: "kube-inject",
  usage: "-f FILE|- [-o yaml|json] [flags]",
  description: [
    "Reads Kubernetes manifests (multi-document YAML or JSON; `-f -` reads stdin) and prints them with the sidecar added",
    "to every Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job and CronJob that does not",
    "opt out (sidecar.istio.io/inject). Other documents are copied unchanged. One note per workload goes to stderr.",
    "A bad document fails the run (exit 1) with its number, kind/name, field and reason, and nothing is printed.",
    ...INJECT_XDS_HELP,
  ].join("\n"),
  flags: {
    filename: { type: "string", short: "f", arg: "FILE|-", help: "manifest to read; - for stdin" },
    output: { type: "string", short: "o", arg: "FORMAT", default: "yaml", help: "yaml (untouched documents byte for byte) or json" },
    namespace: { type: "string", short: "n", arg: "NS", default: "default", help: "namespace of documents that name none" },
    "namespace-labels": {
      type: "string",
      arg: "K=V,...",
      help: "decide as the webhook would for a namespace with these labels (e.g. istio-injection=enabled)",
    },
    quiet: { type: "boolean", short: "q", help: "no per-workload notes on stderr" },
    ...INJECT_SETTINGS_FLAGS,
  },
};

const HOST_PORT = /^[^:\s]+:\d{1,5}$/;
const HOST_PORT6 = /^\[[0-9a-fA-F:]+\]:\d{1,5}$/;

/**
 * Istio's well-known ports say which side is which: 15010 speaks plaintext, 15012 TLS. A sidecar
 * told to use TLS on 15010 (or plaintext on 15012) would never get config, so refuse it here.
 */
function checkXdsPort(s: Pick<InjectSettings, "discoveryAddress" | "caAddress" | "plaintextXds">): void {
  const { address, tls } = xdsTarget(s);
  const port = address.slice(address.lastIndexOf(":") + 1);
  if (tls && port === "15010")
    throw new CliError(
      `--discovery-address ${address} is the plaintext xDS port, but the sidecar fetches xDS over TLS when --ca-address is set: use the TLS port (15012), or add --plaintext-xds`,
    );
  if (!tls && port === "15012")
    throw new CliError(`--discovery-address ${address} is the TLS xDS port, but the sidecar would fetch xDS in plaintext: use 15010, or drop --plaintext-xds`);
}

/** Settings from the flags above, each checked. */
export function settingsFromFlags(flags: ParsedFlags): InjectSettings {
  const str = (name: string): string => String(flags[name] ?? INJECT_SETTINGS_FLAGS[name]!.default);
  const policy = str("image-pull-policy");
  if (policy !== "Always" && policy !== "IfNotPresent" && policy !== "Never")
    throw new CliError(`--image-pull-policy wants Always, IfNotPresent or Never, got "${policy}"`);
  const address = typeof flags["discovery-address"] === "string" ? flags["discovery-address"] : "";
  if (flags["discovery-address"] !== undefined && !HOST_PORT.test(address) && !HOST_PORT6.test(address))
    throw new CliError(`--discovery-address wants HOST:PORT, got "${address}"`);
  const caAddress = str("ca-address");
  if (caAddress !== "" && !HOST_PORT.test(caAddress) && !HOST_PORT6.test(caAddress))
    throw new CliError(`--ca-address wants HOST:PORT (or "" for no workload certificates), got "${caAddress}"`);
  const plaintextXds = flags["plaintext-xds"] === true;
  checkXdsPort({ discoveryAddress: address, caAddress, plaintextXds });
  if (str("image").trim() === "") throw new CliError("--image must not be empty");
  return {
    ...DEFAULT_SETTINGS,
    image: str("image"),
    imagePullPolicy: policy,
    discoveryAddress: address,
    plaintextXds,
    caAddress,
    clusterId: str("cluster-id"),
    meshId: str("mesh-id"),
    trustDomain: str("trust-domain"),
    revision: str("revision"),
    agentArgs: (flags["agent-arg"] as string[] | undefined) ?? [],
  };
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags(spec, argv);
  if (!parsed) return 0;
  const { flags, positionals } = parsed;
  if (positionals.length) throw new CliError(`unexpected argument "${positionals[0]}" (the manifest goes after -f)`);
  const file = flags.filename;
  if (typeof file !== "string" || file === "") throw new CliError("-f FILE is required (- reads stdin)");
  const format = String(flags.output);
  if (format !== "yaml" && format !== "json") throw new CliError(`-o wants yaml or json, got "${format}"`);
  const settings = settingsFromFlags(flags);
  let text: string;
  try {
    text = fs.readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (e) {
    throw new CliError(`cannot read ${file === "-" ? "stdin" : file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const nsLabels = typeof flags["namespace-labels"] === "string" ? parseLabels(flags["namespace-labels"], "namespace-labels") : undefined;
  const name = file === "-" ? "<stdin>" : file;
  const r = injectDocuments(text, name, { defaultNamespace: String(flags.namespace), ...(nsLabels ? { namespaceLabels: nsLabels } : {}), settings }, format);
  if (!flags.quiet) for (const n of r.notes) process.stderr.write(`mini-pilot kube-inject: ${n}\n`);
  if (r.errors.length) {
    for (const e of r.errors) process.stderr.write(`mini-pilot kube-inject: ${e}\n`);
    process.stderr.write(`mini-pilot kube-inject: ${r.errors.length} bad document(s); nothing printed\n`);
    return 1;
  }
  process.stdout.write(r.output);
  return 0;
}
