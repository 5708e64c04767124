/**
 * The objects a canary touches, as raw Kubernetes JSON (what the API server
 * and the YAML files hold), and the small questions asked of them: does this
 * host name the app's Service, which version runs behind a selector, where is
 * the canary record. No I/O here.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Raw = Record<string, any>;

/** Everything about one app in one namespace that a canary step reads. */
export interface AppState {
  namespace: string;
  app: string;
  service?: Raw;
  /** Deployments in the namespace (a folder may have none). */
  deployments: Raw[];
  pods: Raw[];
  endpointSlices: Raw[];
  destinationRules: Raw[];
  virtualServices: Raw[];
}

/** The label that tells versions apart, as Istio's samples and seed 001 use it. */
export const VERSION_LABEL = "version";
/** On each VirtualService a canary changed: what start did, so weight, abort and promote undo exactly that. */
export const RECORD_ANNOTATION = "canary.mini-pilot.io/state";
/** On a Deployment start copied. */
export const CANARY_LABEL = "canary.mini-pilot.io/of";

export interface CanaryRecord {
  app: string;
  /** The version being rolled out. */
  version: string;
  /** The version it replaces. */
  stable: string;
  /** Indexes into spec.http of the routes start split. */
  routes: number[];
  /** start created this VirtualService (abort deletes it). */
  createdVirtualService: boolean;
  /** start created the DestinationRule (abort deletes it), or added the stable subset to an existing one. */
  createdDestinationRule: boolean;
  addedStableSubset: boolean;
  /** The Deployment start created (cluster only). */
  deployment?: string;
}

export const nameOf = (o: Raw): string => String(o.metadata?.name ?? "");

/** Does `host` (as written in a rule in `namespace`) name Service `app` of `namespace`? */
export function namesApp(host: unknown, app: string, namespace: string, domainSuffix = "cluster.local"): boolean {
  if (typeof host !== "string") return false;
  return [app, `${app}.${namespace}`, `${app}.${namespace}.svc`, `${app}.${namespace}.svc.${domainSuffix}`].includes(host);
}

export function labelsMatch(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** The app's canary record, from whichever of its VirtualServices carries one. */
export function findRecord(state: AppState): { vs: Raw; record: CanaryRecord }[] {
  const out: { vs: Raw; record: CanaryRecord }[] = [];
  for (const vs of state.virtualServices) {
    const text = vs.metadata?.annotations?.[RECORD_ANNOTATION];
    if (typeof text !== "string") continue;
    let record: CanaryRecord;
    try {
      record = JSON.parse(text) as CanaryRecord;
    } catch {
      throw new Error(`VirtualService ${state.namespace}/${nameOf(vs)}: annotation ${RECORD_ANNOTATION} is not JSON; fix or remove it by hand`);
    }
    if (record.app === state.app) out.push({ vs, record });
  }
  return out;
}

/** Deployments whose pods the app's Service selects. */
export function appDeployments(state: AppState): Raw[] {
  const selector = state.service?.spec?.selector as Record<string, string> | undefined;
  return state.deployments.filter((d) => labelsMatch(selector, d.spec?.template?.metadata?.labels));
}

/** The versions running behind the Service: its Deployments' pod templates, else its Pods. */
export function runningVersions(state: AppState): { versions: string[]; from: string; unlabelled: string[] } {
  const selector = state.service?.spec?.selector as Record<string, string> | undefined;
  const deployments = appDeployments(state);
  const workloads: { name: string; labels: Record<string, string> }[] =
    deployments.length > 0
      ? deployments.map((d) => ({ name: `Deployment ${nameOf(d)}`, labels: d.spec?.template?.metadata?.labels ?? {} }))
      : state.pods.filter((p) => labelsMatch(selector, p.metadata?.labels)).map((p) => ({ name: `Pod ${nameOf(p)}`, labels: p.metadata?.labels ?? {} }));
  const versions = [...new Set(workloads.map((w) => w.labels[VERSION_LABEL]).filter((v): v is string => typeof v === "string"))].sort();
  return {
    versions,
    from: deployments.length > 0 ? "Deployments" : "Pods",
    unlabelled: workloads.filter((w) => w.labels[VERSION_LABEL] === undefined).map((w) => w.name),
  };
}

export function appDestinationRules(state: AppState): Raw[] {
  return state.destinationRules.filter((d) => namesApp(d.spec?.host, state.app, state.namespace));
}

/** VirtualServices in the namespace with a host naming the app, bound to sidecars (no gateways, or "mesh"). */
export function appVirtualServices(state: AppState): Raw[] {
  return state.virtualServices.filter((v) => {
    const hosts: unknown[] = v.spec?.hosts ?? [];
    const gateways: unknown[] = v.spec?.gateways ?? [];
    return hosts.some((h) => namesApp(h, state.app, state.namespace)) && (gateways.length === 0 || gateways.includes("mesh"));
  });
}

/** Ready endpoints per version: the Service's EndpointSlices, each endpoint's pod's version label. */
export function readyByVersion(state: AppState): Map<string, number> {
  const podVersion = new Map(state.pods.map((p) => [nameOf(p), p.metadata?.labels?.[VERSION_LABEL] as string | undefined]));
  const out = new Map<string, number>();
  for (const slice of state.endpointSlices) {
    if (slice.metadata?.labels?.["kubernetes.io/service-name"] !== state.app) continue;
    for (const e of slice.endpoints ?? []) {
      if (e.conditions?.ready === false) continue;
      const pod = e.targetRef?.kind === "Pod" ? String(e.targetRef.name) : undefined;
      const v = (pod && podVersion.get(pod)) ?? "(unknown)";
      out.set(v, (out.get(v) ?? 0) + (Array.isArray(e.addresses) ? Math.min(1, e.addresses.length) : 0));
    }
  }
  return out;
}

/** A deep copy, so a plan never changes the state it was made from. */
export function clone<T>(o: T): T {
  return JSON.parse(JSON.stringify(o)) as T;
}
