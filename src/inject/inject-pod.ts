/**
 * Injection of one pod template (a Pod's metadata and spec, or a workload's
 * spec.template): decide (policy.ts), then add istio-init, istio-proxy, their
 * volumes, Istio's labels and the status annotation. The input is never
 * changed; a pod that is not injected comes back as the very same object.
 */
import { AnnotationError, captureArgs, STATUS } from "./annotations";
import { decide, Decision, INIT_CONTAINER, PROXY_CONTAINER } from "./policy";
import type { InjectSettings } from "./settings";
import { initContainer, Json, proxyContainer, volumes, Workload } from "./sidecar";

/** Bad input: `field` is the path inside the object, e.g. spec.template.spec.containers[1].name. */
export class InjectError extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}

export interface PodTemplate {
  metadata?: Json;
  spec?: Json;
}

export interface InjectContext {
  namespace: string;
  /** undefined: not known (offline injection). */
  namespaceLabels?: Record<string, string>;
  workload: Workload;
  settings: InjectSettings;
}

export type PodInjection = { injected: false; decision: Decision; template: PodTemplate } | { injected: true; decision: Decision; template: PodTemplate };

const TLS_MODE = "security.istio.io/tlsMode";
const CANONICAL_NAME = "service.istio.io/canonical-name";
const CANONICAL_REVISION = "service.istio.io/canonical-revision";
const DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container";
const DEFAULT_LOGS_CONTAINER = "kubectl.kubernetes.io/default-logs-container";

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function stringMap(v: unknown, field: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw new InjectError(field, "must be a map of strings");
  for (const [k, val] of Object.entries(v)) if (typeof val !== "string") throw new InjectError(`${field}.${k}`, `must be a string, got ${JSON.stringify(val)}`);
  return v as Record<string, string>;
}

function containers(v: unknown, field: string, required: boolean): Json[] {
  if (v === undefined || v === null) {
    if (required) throw new InjectError(field, "is required: a pod needs at least one container");
    return [];
  }
  if (!Array.isArray(v)) throw new InjectError(field, "must be a list of containers");
  if (required && v.length === 0) throw new InjectError(field, "is empty: a pod needs at least one container");
  v.forEach((c, i) => {
    if (!isObject(c)) throw new InjectError(`${field}[${i}]`, "must be a container object");
    if (typeof c.name !== "string" || c.name === "") throw new InjectError(`${field}[${i}].name`, "is required");
  });
  return v as Json[];
}

/** `where` is the template's path in its object ("" for a Pod, "spec.template." for a Deployment). */
export function injectPod(template: PodTemplate, ctx: InjectContext, where = ""): PodInjection {
  if (template.metadata !== undefined && !isObject(template.metadata)) throw new InjectError(`${where}metadata`, "must be an object");
  if (!isObject(template.spec)) throw new InjectError(`${where}spec`, "is required and must be an object");
  const meta = template.metadata ?? {};
  const labels = stringMap(meta.labels, `${where}metadata.labels`);
  const annotations = stringMap(meta.annotations, `${where}metadata.annotations`);
  const spec = template.spec;
  const apps = containers(spec.containers, `${where}spec.containers`, true);
  const inits = containers(spec.initContainers, `${where}spec.initContainers`, false);
  if (spec.volumes !== undefined && !Array.isArray(spec.volumes)) throw new InjectError(`${where}spec.volumes`, "must be a list");

  const decision = decide(
    {
      namespace: ctx.namespace,
      labels,
      annotations,
      hostNetwork: spec.hostNetwork === true,
      containerNames: apps.map((c) => String(c.name)),
      initContainerNames: inits.map((c) => String(c.name)),
    },
    ctx.namespaceLabels,
  );
  if (!decision.inject) return { injected: false, decision, template };

  let args: string[];
  try {
    args = captureArgs(annotations, ctx.settings);
  } catch (e) {
    if (e instanceof AnnotationError) throw new InjectError(`${where}metadata.annotations`, e.message);
    throw e;
  }
  const taken = new Set(((spec.volumes as Json[] | undefined) ?? []).map((v) => (isObject(v) ? v.name : undefined)));
  for (const name of volumes(ctx.settings).map((v) => String(v.name)))
    if (taken.has(name)) throw new InjectError(`${where}spec.volumes`, `already has a volume named ${name}, which the sidecar needs`);

  const out = structuredClone(template) as { metadata: Json; spec: Json };
  out.metadata ??= {};
  const newLabels: Record<string, string> = { ...labels };
  newLabels[TLS_MODE] ??= "istio";
  newLabels[CANONICAL_NAME] ??= labels["app.kubernetes.io/name"] ?? labels.app ?? ctx.workload.name;
  newLabels[CANONICAL_REVISION] ??= labels["app.kubernetes.io/version"] ?? labels.version ?? "latest";
  out.metadata.labels = newLabels;
  const first = String(apps[0]!.name);
  out.metadata.annotations = {
    ...annotations,
    [DEFAULT_CONTAINER]: annotations[DEFAULT_CONTAINER] ?? first,
    [DEFAULT_LOGS_CONTAINER]: annotations[DEFAULT_LOGS_CONTAINER] ?? first,
    [STATUS]: statusAnnotation(ctx.settings.revision, ctx.settings),
  };
  // istio-init runs after the pod's own init containers (they may need the network uncaptured); the proxy goes last.
  out.spec.initContainers = [...inits.map((c) => structuredClone(c)), initContainer(args, ctx.settings)];
  out.spec.containers = [...apps.map((c) => structuredClone(c)), proxyContainer(apps, ctx.workload, ctx.settings)];
  out.spec.volumes = [...((spec.volumes as Json[] | undefined) ?? []).map((v) => structuredClone(v)), ...volumes(ctx.settings)];
  // The projected istio-ca token needs a service account named; the API server's ServiceAccount
  // admission would fill in "default" anyway, but not every API server runs it.
  if (ctx.settings.caAddress && !out.spec.serviceAccountName) out.spec.serviceAccountName = "default";
  return { injected: true, decision, template: out };
}

/** What injection added, in Istio's format, so a later pass (or a person) can see it. */
export function statusAnnotation(revision: string, settings: Pick<InjectSettings, "caAddress"> = { caAddress: "" }): string {
  return JSON.stringify({
    initContainers: [INIT_CONTAINER],
    containers: [PROXY_CONTAINER],
    volumes: volumes(settings).map((v) => String(v.name)),
    imagePullSecrets: null,
    revision,
  });
}
