/**
 * Injection of a whole Kubernetes object: a Pod, or a workload whose pod
 * template sits at a known path (Deployment, StatefulSet, DaemonSet,
 * ReplicaSet, ReplicationController, Job: spec.template; CronJob:
 * spec.jobTemplate.spec.template). Other kinds pass through untouched.
 */
import { injectPod, InjectError, PodInjection, PodTemplate } from "./inject-pod";
import type { InjectSettings } from "./settings";
import type { Json, Workload } from "./sidecar";

const TEMPLATE_PATHS: Record<string, string[]> = {
  Pod: [],
  Deployment: ["spec", "template"],
  StatefulSet: ["spec", "template"],
  DaemonSet: ["spec", "template"],
  ReplicaSet: ["spec", "template"],
  ReplicationController: ["spec", "template"],
  Job: ["spec", "template"],
  CronJob: ["spec", "jobTemplate", "spec", "template"],
};

/** The API group/version path and plural Istio uses in ISTIO_META_OWNER. */
const OWNER_PATHS: Record<string, [string, string]> = {
  Pod: ["apis/v1", "pods"],
  Deployment: ["apis/apps/v1", "deployments"],
  StatefulSet: ["apis/apps/v1", "statefulsets"],
  DaemonSet: ["apis/apps/v1", "daemonsets"],
  ReplicaSet: ["apis/apps/v1", "replicasets"],
  ReplicationController: ["apis/v1", "replicationcontrollers"],
  Job: ["apis/batch/v1", "jobs"],
  CronJob: ["apis/batch/v1", "cronjobs"],
};

export const INJECTABLE_KINDS = Object.keys(TEMPLATE_PATHS);

export interface ObjectContext {
  /** Used when the object names none. */
  defaultNamespace: string;
  /** undefined: not known (offline injection). */
  namespaceLabels?: Record<string, string>;
  settings: InjectSettings;
}

export type ObjectInjection = { kind: "skipped"; reason: string } | ({ kind: "pod" } & PodInjection & { object: Json });

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function owner(kind: string, namespace: string, name: string): string | undefined {
  const p = OWNER_PATHS[kind];
  return p ? `kubernetes://${p[0]}/namespaces/${namespace}/${p[1]}/${name}` : undefined;
}

/**
 * The workload a Pod belongs to, from its controller reference: a ReplicaSet
 * named <deployment>-<pod-template-hash> stands for its Deployment, as Istio
 * reports it; without an owner, the pod itself (its name, or its generateName
 * without the trailing dash).
 */
export function podWorkload(meta: Json, namespace: string): Workload {
  const refs = Array.isArray(meta.ownerReferences) ? (meta.ownerReferences as Json[]) : [];
  const ref = refs.find((r) => isObject(r) && r.controller === true) ?? refs.find(isObject);
  const labels = isObject(meta.labels) ? (meta.labels as Record<string, unknown>) : {};
  if (ref && typeof ref.kind === "string" && typeof ref.name === "string") {
    const hash = labels["pod-template-hash"];
    if (ref.kind === "ReplicaSet" && typeof hash === "string" && ref.name.endsWith(`-${hash}`)) {
      const name = ref.name.slice(0, -hash.length - 1);
      return { name, owner: owner("Deployment", namespace, name) };
    }
    return { name: ref.name, ...(owner(ref.kind, namespace, ref.name) ? { owner: owner(ref.kind, namespace, ref.name) } : {}) };
  }
  const name = typeof meta.name === "string" && meta.name !== "" ? meta.name : typeof meta.generateName === "string" ? meta.generateName.replace(/-$/, "") : "";
  return { name, ...(name ? { owner: owner("Pod", namespace, name) } : {}) };
}

/** Inject one object; throws InjectError naming the field for a malformed one. */
export function injectObject(obj: unknown, ctx: ObjectContext): ObjectInjection {
  if (!isObject(obj)) throw new InjectError("(document)", "must be a Kubernetes object (a map with apiVersion and kind)");
  if (typeof obj.kind !== "string" || obj.kind === "") throw new InjectError("kind", "is required");
  const path = TEMPLATE_PATHS[obj.kind];
  if (!path) return { kind: "skipped", reason: `kind ${obj.kind} has no pod template` };
  if (obj.metadata !== undefined && !isObject(obj.metadata)) throw new InjectError("metadata", "must be an object");
  const meta = (obj.metadata as Json | undefined) ?? {};
  const namespace = typeof meta.namespace === "string" && meta.namespace !== "" ? meta.namespace : ctx.defaultNamespace;
  const name = typeof meta.name === "string" ? meta.name : "";

  let holder: Json = obj;
  for (const key of path.slice(0, -1)) {
    const next = holder[key];
    if (!isObject(next)) throw new InjectError(path.slice(0, path.indexOf(key) + 1).join("."), "is required and must be an object");
    holder = next;
  }
  const last = path[path.length - 1];
  const template: unknown = last === undefined ? obj : holder[last];
  if (!isObject(template)) throw new InjectError(path.join("."), "is required and must be an object");
  const where = path.length ? `${path.join(".")}.` : "";
  const workload = obj.kind === "Pod" ? podWorkload(meta, namespace) : { name, ...(name ? { owner: owner(obj.kind, namespace, name) } : {}) };
  const result = injectPod(
    template as PodTemplate,
    { namespace, ...(ctx.namespaceLabels ? { namespaceLabels: ctx.namespaceLabels } : {}), workload, settings: ctx.settings },
    where,
  );
  if (!result.injected) return { kind: "pod", ...result, object: obj };

  // Rebuild the path with copies so the input object is left as it was.
  const out = structuredClone(obj);
  if (last === undefined) return { kind: "pod", ...result, object: { ...out, metadata: result.template.metadata, spec: result.template.spec } };
  let h: Json = out;
  for (const key of path.slice(0, -1)) h = h[key] as Json;
  h[last] = result.template;
  return { kind: "pod", ...result, object: out };
}
