/**
 * The canary steps as plans: from the app's state, the list of objects to
 * create, replace or delete, in the order that keeps traffic valid (a subset
 * exists before a route names it; a route stops naming a subset before the
 * subset goes; a Deployment goes last). Pure: the backends apply a plan and
 * undo it on failure.
 *
 * A step that cannot be done throws Refusal with one line saying why.
 */
import {
  AppState,
  CANARY_LABEL,
  CanaryRecord,
  RECORD_ANNOTATION,
  Raw,
  VERSION_LABEL,
  appDeployments,
  appDestinationRules,
  appVirtualServices,
  clone,
  findRecord,
  namesApp,
  nameOf,
  runningVersions,
} from "./objects";

export type CanaryKind = "Deployment" | "DestinationRule" | "VirtualService";

export interface Change {
  op: "create" | "replace" | "delete";
  kind: CanaryKind;
  name: string;
  /** The object to create or replace with; for delete, the object deleted. */
  object: Raw;
  /** For replace: the object as it was (to undo). */
  before?: Raw;
}

/** The step cannot be done in this state (not bad input: the cluster or folder says no). */
export class Refusal extends Error {}

export interface StartOptions {
  version: string;
  image?: string;
  /** On a cluster the Deployment is copied; a folder has the user deploy it. */
  copyDeployment: boolean;
}

const ISTIO_API = "networking.istio.io/v1";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Dest = { destination: { host: string; subset?: string; port?: unknown }; weight?: number; [k: string]: any };

/** A route that sends all its traffic to the stable version of the app (or to the app with no subset). */
function wholeToStable(route: Raw, state: AppState, stable: string): boolean {
  const ds: Dest[] = route.route ?? [];
  if (ds.length === 0 || route.redirect || route.directResponse || route.delegate) return false;
  const toApp = ds.filter((d) => namesApp(d.destination?.host, state.app, state.namespace));
  if (toApp.length !== ds.length) return false;
  const weighted = ds.filter((d) => ds.length === 1 || (d.weight ?? 0) > 0);
  return weighted.every((d) => d.destination.subset === undefined || d.destination.subset === stable);
}

function deploymentCopy(stableDeployment: Raw, stable: string, opts: StartOptions, app: string): Raw {
  const d = clone(stableDeployment);
  const base = nameOf(d);
  const name = base.endsWith(`-${stable}`) ? `${base.slice(0, -stable.length)}${opts.version}` : `${base}-${opts.version}`;
  const keep = { name, namespace: d.metadata.namespace, labels: { ...(d.metadata.labels ?? {}), [VERSION_LABEL]: opts.version, [CANARY_LABEL]: app } };
  d.metadata = keep;
  delete d.status;
  d.spec.selector = { ...(d.spec.selector ?? {}), matchLabels: { ...(d.spec.selector?.matchLabels ?? {}), [VERSION_LABEL]: opts.version } };
  d.spec.template.metadata = { ...(d.spec.template.metadata ?? {}), labels: { ...(d.spec.template.metadata?.labels ?? {}), [VERSION_LABEL]: opts.version } };
  if (opts.image) {
    const containers: Raw[] = d.spec.template.spec?.containers ?? [];
    const eq = opts.image.indexOf("=");
    const named = eq > 0 && !opts.image.slice(0, eq).includes("/") && !opts.image.slice(0, eq).includes(":");
    if (named) {
      const c = containers.find((x) => x.name === opts.image!.slice(0, eq));
      if (!c)
        throw new Refusal(
          `--image ${opts.image}: Deployment ${base} has no container "${opts.image.slice(0, eq)}" (it has ${containers.map((x) => x.name).join(", ")})`,
        );
      c.image = opts.image.slice(eq + 1);
    } else {
      if (containers.length !== 1)
        throw new Refusal(
          `--image: Deployment ${base} has ${containers.length} containers (${containers.map((x) => x.name).join(", ")}); say which: --image CONTAINER=IMAGE`,
        );
      containers[0]!.image = opts.image;
    }
  }
  return d;
}

/** The subsets of the app that its sidecar routes send traffic to (weight above 0). */
function routedVersions(state: AppState): string[] {
  const out = new Set<string>();
  for (const vs of appVirtualServices(state)) {
    for (const route of vs.spec?.http ?? []) {
      const ds: Dest[] = route.route ?? [];
      for (const d of ds)
        if (namesApp(d.destination?.host, state.app, state.namespace) && (ds.length === 1 || (d.weight ?? 0) > 0) && d.destination.subset)
          out.add(d.destination.subset);
    }
  }
  return [...out].sort();
}

export function planStart(state: AppState, opts: StartOptions): Change[] {
  const { app, namespace } = state;
  if (!state.service) throw new Refusal(`no Service ${app} in namespace ${namespace}: a canary splits the traffic of a Service`);
  const existing = findRecord(state);
  if (existing.length > 0) {
    const r = existing[0]!.record;
    throw new Refusal(`a canary of ${app} to ${r.version} is in progress (VirtualService ${nameOf(existing[0]!.vs)}); promote or abort it first`);
  }
  const running = runningVersions(state);
  if (running.versions.length === 0) {
    const why =
      running.unlabelled.length > 0
        ? `${running.unlabelled.join(", ")} carry no "${VERSION_LABEL}" label`
        : `no Deployment or Pod is selected by Service ${app}`;
    throw new Refusal(`no DestinationRule subset can be made for the running version of ${app}: ${why}`);
  }
  // Several versions run (old pods not yet retired after a promote): the stable one is the one that gets all the traffic.
  const routed = routedVersions(state);
  const stable = running.versions.length === 1 ? running.versions[0]! : routed.length === 1 && running.versions.includes(routed[0]!) ? routed[0]! : undefined;
  if (stable === undefined)
    throw new Refusal(
      `${app} already runs versions ${running.versions.join(", ")} (${running.from}) and its routes send traffic to ${routed.join(", ") || "none of them by subset"}; ` +
        `a canary starts from one version: finish the other rollout first`,
    );
  if (stable === opts.version) throw new Refusal(`${app} already runs version ${stable}; give the new version with --version`);

  const changes: Change[] = [];
  const record: CanaryRecord = {
    app,
    version: opts.version,
    stable,
    routes: [],
    createdVirtualService: false,
    createdDestinationRule: false,
    addedStableSubset: false,
  };

  if (opts.copyDeployment) {
    const ds = appDeployments(state).filter((d) => d.spec?.template?.metadata?.labels?.[VERSION_LABEL] === stable);
    if (ds.length !== 1) throw new Refusal(`expected one Deployment of ${app} at version ${stable} to copy, found ${ds.length}`);
    const copy = deploymentCopy(ds[0]!, stable, opts, app);
    if (state.deployments.some((d) => nameOf(d) === nameOf(copy))) throw new Refusal(`Deployment ${nameOf(copy)} already exists`);
    record.deployment = nameOf(copy);
    changes.push({ op: "create", kind: "Deployment", name: nameOf(copy), object: copy });
  }

  // The subset first: a route may only name a subset that exists.
  const rules = appDestinationRules(state);
  if (rules.length > 1) throw new Refusal(`DestinationRules ${rules.map(nameOf).join(", ")} all name ${app}; a canary needs one`);
  const subset = (v: string) => ({ name: v, labels: { [VERSION_LABEL]: v } });
  if (rules.length === 0) {
    record.createdDestinationRule = true;
    const dr = {
      apiVersion: ISTIO_API,
      kind: "DestinationRule",
      metadata: { name: app, namespace },
      spec: { host: app, subsets: [subset(stable), subset(opts.version)] },
    };
    if (state.destinationRules.some((d) => nameOf(d) === app))
      throw new Refusal(`a DestinationRule named ${app} exists for another host; cannot make one for ${app}`);
    changes.push({ op: "create", kind: "DestinationRule", name: app, object: dr });
  } else {
    const dr = clone(rules[0]!);
    const subsets: Raw[] = (dr.spec.subsets ??= []);
    if (subsets.some((s) => s.name === opts.version)) throw new Refusal(`DestinationRule ${nameOf(dr)} already has a subset ${opts.version}`);
    const stableSubset = subsets.find((s) => s.name === stable);
    if (stableSubset && stableSubset.labels?.[VERSION_LABEL] !== stable)
      throw new Refusal(`DestinationRule ${nameOf(dr)} subset ${stable} does not select ${VERSION_LABEL}=${stable}; fix it first`);
    if (!stableSubset) {
      record.addedStableSubset = true;
      subsets.push(subset(stable));
    }
    subsets.push(subset(opts.version));
    changes.push({ op: "replace", kind: "DestinationRule", name: nameOf(dr), object: dr, before: rules[0]! });
  }

  const split = (d: Dest): Dest[] => [
    { ...d, destination: { ...d.destination, subset: stable }, weight: 100 },
    { destination: { ...d.destination, subset: opts.version }, weight: 0 },
  ];
  const vss = appVirtualServices(state);
  if (vss.length === 0) {
    record.createdVirtualService = true;
    record.routes = [0];
    if (state.virtualServices.some((v) => nameOf(v) === app))
      throw new Refusal(`a VirtualService named ${app} exists for other hosts; cannot make one for ${app}`);
    const vs = {
      apiVersion: ISTIO_API,
      kind: "VirtualService",
      metadata: { name: app, namespace, annotations: { [RECORD_ANNOTATION]: JSON.stringify(record) } },
      spec: { hosts: [app], http: [{ route: split({ destination: { host: app } }) }] },
    };
    changes.push({ op: "create", kind: "VirtualService", name: app, object: vs });
    return changes;
  }
  let split_any = false;
  for (const original of vss) {
    const vs = clone(original);
    const routes: number[] = [];
    (vs.spec.http ?? []).forEach((route: Raw, i: number) => {
      if (!wholeToStable(route, state, stable)) return;
      const main = (route.route as Dest[]).find((d) => d.destination.subset === stable || d.destination.subset === undefined)!;
      route.route = split(main);
      routes.push(i);
    });
    if (routes.length === 0) continue;
    split_any = true;
    vs.metadata.annotations = { ...(vs.metadata.annotations ?? {}), [RECORD_ANNOTATION]: JSON.stringify({ ...record, routes }) };
    changes.push({ op: "replace", kind: "VirtualService", name: nameOf(vs), object: vs, before: original });
  }
  if (!split_any)
    throw new Refusal(
      `VirtualService ${vss.map(nameOf).join(", ")} has no HTTP route that sends all of ${app} to ${stable}; a canary splits such a route (see docs/CANARY.md)`,
    );
  return changes;
}

function needRecord(state: AppState): { vs: Raw; record: CanaryRecord }[] {
  if (!state.service) throw new Refusal(`no Service ${state.app} in namespace ${state.namespace}`);
  const found = findRecord(state);
  if (found.length === 0)
    throw new Refusal(
      `no canary of ${state.app} in progress in namespace ${state.namespace} (start one with: mini-pilot canary start ${state.app} --version V)`,
    );
  return found;
}

/** The canary's destinations in one recorded route, checked against what start left there. */
function recordedRoute(vs: Raw, index: number, record: CanaryRecord): { route: Raw; stable: Dest; canary: Dest } {
  const route = vs.spec?.http?.[index];
  const ds: Dest[] = route?.route ?? [];
  const stable = ds.find((d) => d.destination?.subset === record.stable);
  const canary = ds.find((d) => d.destination?.subset === record.version);
  if (!route || !stable || !canary || ds.length !== 2)
    throw new Refusal(
      `VirtualService ${nameOf(vs)} http[${index}] no longer splits ${record.stable}/${record.version} as canary start left it; fix it by hand`,
    );
  return { route, stable, canary };
}

export function planWeight(state: AppState, percent: number): Change[] {
  return needRecord(state).map(({ vs, record }) => {
    const next = clone(vs);
    for (const i of record.routes) {
      const { stable, canary } = recordedRoute(next, i, record);
      canary.weight = percent;
      stable.weight = 100 - percent;
    }
    return { op: "replace", kind: "VirtualService", name: nameOf(vs), object: next, before: vs };
  });
}

function withoutRecord(vs: Raw): Raw {
  const annotations = { ...(vs.metadata.annotations ?? {}) };
  delete annotations[RECORD_ANNOTATION];
  vs.metadata.annotations = annotations;
  if (Object.keys(annotations).length === 0) delete vs.metadata.annotations;
  return vs;
}

/** abort (keep = stable) or promote (keep = the new version): routes, then subsets, then the Deployment that goes. */
function planFinish(state: AppState, keep: "stable" | "version"): Change[] {
  const found = needRecord(state);
  const record = found[0]!.record;
  const dropped = keep === "stable" ? record.version : record.stable;
  const changes: Change[] = [];
  for (const { vs, record: r } of found) {
    if (keep === "stable" && r.createdVirtualService) {
      changes.push({ op: "delete", kind: "VirtualService", name: nameOf(vs), object: vs });
      continue;
    }
    const next = withoutRecord(clone(vs));
    for (const i of r.routes) {
      const { route, stable, canary } = recordedRoute(next, i, r);
      const winner = keep === "stable" ? stable : canary;
      const single: Dest = { ...winner };
      delete single.weight;
      route.route = [single];
    }
    changes.push({ op: "replace", kind: "VirtualService", name: nameOf(vs), object: next, before: vs });
  }
  const rules = appDestinationRules(state);
  for (const dr of rules) {
    const subsets: Raw[] = dr.spec?.subsets ?? [];
    if (!subsets.some((s) => s.name === dropped)) continue;
    if (keep === "stable" && record.createdDestinationRule) {
      changes.push({ op: "delete", kind: "DestinationRule", name: nameOf(dr), object: dr });
      continue;
    }
    const next = clone(dr);
    next.spec.subsets = subsets.filter((s) => s.name !== dropped && !(keep === "stable" && record.addedStableSubset && s.name === record.stable));
    if (next.spec.subsets.length === 0) delete next.spec.subsets;
    changes.push({ op: "replace", kind: "DestinationRule", name: nameOf(dr), object: next, before: dr });
  }
  const goes =
    keep === "stable"
      ? state.deployments.filter((d) => record.deployment !== undefined && nameOf(d) === record.deployment)
      : appDeployments(state).filter((d) => d.spec?.template?.metadata?.labels?.[VERSION_LABEL] === dropped);
  for (const d of goes) changes.push({ op: "delete", kind: "Deployment", name: nameOf(d), object: d });
  return changes;
}

export const planAbort = (state: AppState): Change[] => planFinish(state, "stable");
export const planPromote = (state: AppState): Change[] => planFinish(state, "version");

/** One line per change, as the command reports them. */
export function describeChange(c: Change): string {
  return `${c.op === "create" ? "created" : c.op === "replace" ? "updated" : "deleted"} ${c.kind} ${c.name}`;
}
