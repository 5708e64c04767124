/**
 * `mini-pilot canary start|weight|status|abort|promote APP`: seed 001's canary
 * release flow on a cluster or a folder of YAML (docs/CANARY.md).
 *
 * Exit codes: 0 done; 1 refused (the state does not allow the step) or failed
 * (then rolled back, and the message says what was undone); 2 bad input.
 */
import { ApplyError, applyPlan } from "../canary/apply";
import { FolderCanaryBackend } from "../canary/folder-backend";
import { KubeCanaryBackend } from "../canary/kube-backend";
import { AppState, appDeployments, appVirtualServices, findRecord, nameOf, readyByVersion, runningVersions, VERSION_LABEL } from "../canary/objects";
import { Change, Refusal, planAbort, planPromote, planStart, planWeight } from "../canary/plan";
import { KubeConfigError } from "../sources/kube";
import { CliError, CommandSpec, parseFlags } from "./args";

export const summary = "canary releases: start a new version at weight 0, shift traffic, abort or promote (cluster or --config-dir)";

const FLAGS: CommandSpec["flags"] = {
  version: { type: "string", arg: "V", help: "start: the new version (its pods get the label version=V, its subset is named V)" },
  image: { type: "string", arg: "IMAGE", help: "start, on a cluster: the new version's image (CONTAINER=IMAGE when the pod has several containers)" },
  namespace: { type: "string", short: "n", arg: "NS", default: "default", help: "the app's namespace" },
  "config-dir": { type: "string", arg: "DIR", help: "work on this folder of YAML instead of a cluster (manages the DestinationRule and VirtualService files)" },
  kubeconfig: { type: "string", arg: "PATH", help: "the cluster (default: KUBECONFIG, the in-cluster service account, ~/.kube/config)" },
  force: { type: "boolean", help: "promote even when the new version has no ready endpoints (all traffic would fail)" },
};

const SPEC: CommandSpec = {
  name: "canary",
  usage: "STEP APP [ARGS] [--namespace NS] [--config-dir DIR | --kubeconfig PATH]",
  description:
    "Roll out a new version of the app behind Service APP with Istio rules. STEP is one of:\n" +
    "  start APP --version V [--image IMAGE]\n" +
    "           copy APP's Deployment as version V (cluster only), add subset V to its DestinationRule\n" +
    "           and a weight-0 destination for V to its VirtualService route (creating either if missing)\n" +
    "  weight APP PERCENT\n" +
    "           send PERCENT of the route's traffic to V, the rest to the old version\n" +
    "  status APP   weights, and ready endpoints per version\n" +
    "  abort APP    remove everything start created\n" +
    "  promote APP  all traffic to V; remove the old version's subset, route destination and Deployment\n" +
    "A step that fails half-way undoes what it did and says so.",
  flags: FLAGS,
};

// `--version` is also the global "print mini-pilot's version" flag, which the
// shared parser answers before anything else; parse it under another name.
const PARSE_SPEC: CommandSpec = { ...SPEC, flags: Object.fromEntries(Object.entries(FLAGS).map(([k, v]) => [k === "version" ? "canary-version" : k, v])) };

const STEPS = ["start", "weight", "status", "abort", "promote"] as const;
type Step = (typeof STEPS)[number];

const APP_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

type Backend = (KubeCanaryBackend | FolderCanaryBackend) & { load(app: string): Promise<AppState> };

export async function run(argv: string[]): Promise<number> {
  const renamed = argv.map((a) => (a === "--version" ? "--canary-version" : a.startsWith("--version=") ? `--canary-version=${a.slice(10)}` : a));
  // Alone, --version is the global one (mini-pilot's version), as for every command.
  if (argv.length === 1 && argv[0] === "--version") return parseFlags(SPEC, argv) === undefined ? 0 : 2;
  if (argv.includes("--help") || argv.includes("-h") || argv.length === 0) {
    parseFlags(SPEC, ["--help"]);
    return argv.length === 0 ? 2 : 0;
  }
  let parsed: ReturnType<typeof parseFlags>;
  try {
    parsed = parseFlags(PARSE_SPEC, renamed);
  } catch (e) {
    throw new CliError((e as Error).message.replace(/canary-version/g, "version"));
  }
  if (!parsed) return 0;
  const f = parsed.flags;
  const [step, app, ...rest] = parsed.positionals;
  if (!STEPS.includes(step as Step)) throw new CliError(`want a step (${STEPS.join(", ")}), got "${step}"`);
  if (!app) throw new CliError(`${step}: name the app (its Service name): mini-pilot canary ${step} APP`);
  if (!APP_NAME.test(app)) throw new CliError(`${step}: "${app}" is not a Service name (lower-case letters, digits and '-')`);
  const namespace = String(f.namespace);
  if (!APP_NAME.test(namespace)) throw new CliError(`--namespace: "${namespace}" is not a namespace name`);
  const version = f["canary-version"] as string | undefined;
  let percent = 0;
  if (step === "weight") {
    if (rest.length !== 1 || !/^\d{1,3}$/.test(rest[0]!) || Number(rest[0]) > 100)
      throw new CliError(`weight: want a percentage 0-100 for the new version, got "${rest.join(" ")}"`);
    percent = Number(rest[0]);
  } else if (rest.length > 0) throw new CliError(`${step}: unexpected argument "${rest[0]}"`);
  if (step === "start") {
    if (!version) throw new CliError("start: give the new version: --version V");
    if (!LABEL_VALUE.test(version) || version.length > 63) throw new CliError(`--version: "${version}" is not a label value (letters, digits, '-', '_', '.')`);
  } else if (version !== undefined) throw new CliError(`--version is for start only`);
  if (f.image !== undefined && (step !== "start" || f["config-dir"])) throw new CliError(`--image is for start on a cluster only`);
  if (f.force !== undefined && step !== "promote") throw new CliError(`--force is for promote only`);
  if (f["config-dir"] && f.kubeconfig) throw new CliError("give --config-dir or --kubeconfig, not both");

  let backend: Backend;
  try {
    backend = f["config-dir"]
      ? new FolderCanaryBackend(String(f["config-dir"]), namespace)
      : KubeCanaryBackend.connect(f.kubeconfig as string | undefined, namespace);
  } catch (e) {
    if (e instanceof KubeConfigError) throw new CliError(e.message);
    throw e;
  }
  const out = (s: string) => process.stdout.write(s + "\n");
  let unlock = () => {};
  try {
    if (backend instanceof FolderCanaryBackend && step !== "status") unlock = backend.lock();
    const state = await backend.load(app);
    if (step === "status") {
      status(state).forEach((l) => out(l));
      return 0;
    }
    const folder = backend instanceof FolderCanaryBackend;
    let changes: Change[] =
      step === "start"
        ? planStart(state, { version: version!, ...(f.image ? { image: String(f.image) } : {}), copyDeployment: !folder })
        : step === "weight"
          ? planWeight(state, percent)
          : step === "abort"
            ? planAbort(state)
            : promoteChecked(state, f.force === true);
    const kept: Change[] = folder ? changes.filter((c) => c.kind === "Deployment") : [];
    changes = changes.filter((c) => !kept.includes(c));
    if (backend instanceof FolderCanaryBackend) backend.check(changes);
    const done = await applyPlan(changes, backend);
    out(`canary ${step} ${app} (namespace ${namespace}, ${backend.where}):`);
    done.forEach((l) => out(`  ${l}`));
    for (const c of kept) out(`  note: Deployment ${c.name} is in the folder; folder mode leaves Deployments to you (remove it when you are ready)`);
    const after = await backend.load(app);
    status(after).forEach((l) => out(l));
    if (step === "start" && folder) out(`  deploy pods of ${app} labelled ${VERSION_LABEL}=${version} yourself; the subset selects them`);
    return 0;
  } catch (e) {
    if (e instanceof Refusal) {
      process.stderr.write(`mini-pilot canary ${step}: refused: ${e.message}\n`);
      return 1;
    }
    if (e instanceof ApplyError) {
      process.stderr.write(`mini-pilot canary ${step}: ${e.message}\n`);
      return 1;
    }
    process.stderr.write(`mini-pilot canary ${step}: ${((e as Error).message ?? String(e)).split("\n")[0]}\n`);
    return 1;
  } finally {
    unlock();
  }
}

/** Promote only to a version that can take the traffic: one with ready endpoints (or when told to). */
function promoteChecked(state: AppState, force: boolean): Change[] {
  const changes = planPromote(state);
  const version = findRecord(state)[0]!.record.version;
  if (!force && (readyByVersion(state).get(version) ?? 0) === 0)
    throw new Refusal(`${version} of ${state.app} has no ready endpoints; all its traffic would fail (wait for its pods, or --force)`);
  return changes;
}

/** Weights of the app's routes, and ready endpoints (and Deployments) per version. */
export function status(state: AppState): string[] {
  const { app, namespace } = state;
  if (!state.service) return [`${app} (namespace ${namespace}): no Service ${app}`];
  const lines: string[] = [];
  const record = findRecord(state)[0]?.record;
  const running = runningVersions(state).versions;
  lines.push(
    record
      ? `${app} (namespace ${namespace}): canary ${record.version} in progress, stable ${record.stable}`
      : `${app} (namespace ${namespace}): no canary in progress; running ${running.join(", ") || "no labelled version"}`,
  );
  for (const vs of appVirtualServices(state)) {
    (vs.spec?.http ?? []).forEach((r: { name?: string; route?: { destination?: { subset?: string }; weight?: number }[] }, i: number) => {
      const ds = r.route ?? [];
      if (ds.length === 0) return;
      const parts = ds.map((d) => `${d.destination?.subset ?? "(all)"} ${ds.length === 1 ? (d.weight ?? 100) : (d.weight ?? 0)}%`);
      lines.push(`  VirtualService ${nameOf(vs)} http[${i}]${r.name ? ` ${r.name}` : ""}: ${parts.join(", ")}`);
    });
  }
  const ready = readyByVersion(state);
  const versions = [...new Set([...running, ...(record ? [record.stable, record.version] : []), ...ready.keys()])].sort();
  lines.push(`  ready endpoints: ${versions.map((v) => `${v} ${ready.get(v) ?? 0}`).join(", ") || "none"}`);
  const deployments = appDeployments(state);
  if (deployments.length > 0)
    lines.push(
      `  Deployments: ${deployments
        .map(
          (d) =>
            `${nameOf(d)} (${d.spec?.template?.metadata?.labels?.[VERSION_LABEL] ?? "no version"}) ${d.status?.readyReplicas ?? 0}/${d.spec?.replicas ?? 1} ready`,
        )
        .join(", ")}`,
    );
  return lines;
}
