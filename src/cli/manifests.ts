/**
 * `mini-pilot manifests`: print what installs mini-pilot in a cluster
 * (Namespace, CRDs, RBAC, Deployment, Service, PodDisruptionBudget), for
 * `kubectl apply -f -`, or write the manifests/ folder (`--out-dir`).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { DEFAULTS, checkOptions, installObjects, manifestFiles, renderObjects, type InstallOptions, type OutputFormat } from "../install";
import { CliError, parseFlags, type CommandSpec } from "./args";

export const summary = "print the Kubernetes manifests that install mini-pilot (pipe into kubectl apply -f -)";

export const spec: CommandSpec = {
  name: "manifests",
  usage: "[--namespace NS] [--image IMAGE] [--replicas N] [-o yaml|json] [--out-dir DIR]",
  description: [
    "Prints the objects that run mini-pilot in a cluster: Namespace, the Istio networking CRDs it serves",
    "(VirtualService, DestinationRule, Gateway, ServiceEntry), a ServiceAccount with a least-privilege",
    "ClusterRole (list and watch on what it reads), the Deployment, its Service (15010 xDS, 15014 metrics)",
    "and a PodDisruptionBudget. See docs/INSTALL.md.",
    "",
    "  mini-pilot manifests | kubectl apply --server-side -f -",
  ].join("\n"),
  flags: {
    namespace: { type: "string", arg: "NS", default: DEFAULTS.namespace, help: "namespace mini-pilot runs in" },
    image: { type: "string", arg: "IMAGE", default: DEFAULTS.image, help: "container image (build it with docker build -t IMAGE .)" },
    replicas: { type: "string", arg: "N", default: String(DEFAULTS.replicas), help: "Deployment replicas (1 leaves out the PodDisruptionBudget)" },
    output: { type: "string", short: "o", arg: "FORMAT", default: "yaml", help: "yaml (documents separated by ---) or json (a v1 List)" },
    "out-dir": { type: "string", arg: "DIR", help: "write one YAML file per concern plus kustomization.yaml into DIR instead of printing" },
  },
};

function options(f: Record<string, unknown>): InstallOptions {
  const replicasText = String(f.replicas);
  const o: InstallOptions = {
    namespace: String(f.namespace),
    image: String(f.image),
    replicas: /^\d+$/.test(replicasText) ? Number(replicasText) : NaN,
  };
  const problems = checkOptions(o).map((p) => (p.startsWith("replicas") ? `--replicas: "${replicasText}" is not a whole number from 1 to 100` : `--${p}`));
  if (problems.length > 0) throw new CliError(problems.join("\n"));
  return o;
}

/** Writes the files that differ; files in DIR that are not generated are named, never deleted. */
function writeDir(dir: string, files: Map<string, string>): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, text] of files) {
    const p = path.join(dir, name);
    if (fs.existsSync(p) && fs.readFileSync(p, "utf8") === text) continue;
    fs.writeFileSync(p, text);
    process.stderr.write(`wrote ${p}\n`);
  }
  for (const name of fs.readdirSync(dir).sort()) {
    if (!files.has(name)) process.stderr.write(`not generated (left as is): ${path.join(dir, name)}\n`);
  }
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags(spec, argv);
  if (!parsed) return 0;
  if (parsed.positionals.length > 0) throw new CliError(`unexpected argument "${parsed.positionals[0]}"`);
  const f = parsed.flags;
  const format = String(f.output);
  if (format !== "yaml" && format !== "json") throw new CliError(`-o/--output wants yaml or json, got "${format}"`);
  const o = options(f);
  const outDir = f["out-dir"] as string | undefined;
  if (outDir) {
    if (format !== "yaml") throw new CliError("--out-dir writes YAML files; leave out -o json");
    writeDir(outDir, manifestFiles(o));
    return 0;
  }
  process.stdout.write(renderObjects(installObjects(o), format as OutputFormat));
  return 0;
}
