/**
 * The mutating admission webhook's answer to one AdmissionReview (v1): for a
 * Pod CREATE, inject (namespace selection is the MutatingWebhookConfiguration's
 * job, as in Istio) and return a JSONPatch; for anything else, allow
 * unchanged. A pod that cannot be injected (a malformed object, a bad traffic
 * annotation) is refused with a message naming the field, as Istio's injector
 * refuses it. A body that is not an AdmissionReview gets HTTP 400 with the
 * reason, never a 500.
 */
import { InjectError, PodTemplate } from "./inject-pod";
import type { InjectSettings } from "./settings";
import type { Json } from "./sidecar";
import { injectObject } from "./workloads";

export interface JsonPatchOp {
  op: "add" | "replace";
  path: string;
  value: unknown;
}

export interface ReviewResult {
  /** HTTP status for the reply. */
  status: number;
  body: Json;
  /** For the log: what was decided and why. */
  summary: string;
}

const API_VERSION = "admission.k8s.io/v1";

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function review(uid: string, response: Json): Json {
  return { apiVersion: API_VERSION, kind: "AdmissionReview", response: { uid, ...response } };
}

/** The fields injection changes, replaced whole: a short patch that is right whatever the pod held. */
export function podPatch(before: PodTemplate, after: PodTemplate): JsonPatchOp[] {
  const ops: JsonPatchOp[] = [];
  const b = before as { metadata?: Json; spec?: Json };
  const a = after as { metadata: Json; spec: Json };
  if (b.metadata === undefined) ops.push({ op: "add", path: "/metadata", value: {} });
  for (const key of ["labels", "annotations"]) {
    ops.push({ op: b.metadata?.[key] === undefined ? "add" : "replace", path: `/metadata/${key}`, value: a.metadata[key] });
  }
  for (const key of ["initContainers", "containers", "volumes"]) {
    ops.push({ op: b.spec?.[key] === undefined ? "add" : "replace", path: `/spec/${key}`, value: a.spec[key] });
  }
  // Set only when the pod named none (the projected istio-ca token needs one).
  if (b.spec?.serviceAccountName === undefined && a.spec.serviceAccountName !== undefined) {
    ops.push({ op: "add", path: "/spec/serviceAccountName", value: a.spec.serviceAccountName });
  }
  return ops;
}

function badRequest(reason: string): ReviewResult {
  return { status: 400, body: review("", { allowed: false, status: { code: 400, message: reason } }), summary: `bad request: ${reason}` };
}

/** `body` is the raw request body. */
export function admit(body: string, settings: InjectSettings): ReviewResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (e) {
    return badRequest(`the body is not JSON: ${(e as Error).message}`);
  }
  if (!isObject(parsed)) return badRequest("the body is not an AdmissionReview object");
  if (parsed.kind !== "AdmissionReview" || parsed.apiVersion !== API_VERSION) {
    return badRequest(
      `want kind AdmissionReview, apiVersion ${API_VERSION}; got kind ${JSON.stringify(parsed.kind)}, apiVersion ${JSON.stringify(parsed.apiVersion)}`,
    );
  }
  const req = parsed.request;
  if (!isObject(req)) return badRequest("request: missing");
  if (typeof req.uid !== "string" || req.uid === "") return badRequest("request.uid: missing");
  const uid = req.uid;
  const allow = (summary: string): ReviewResult => ({ status: 200, body: review(uid, { allowed: true }), summary });
  const deny = (message: string): ReviewResult => ({
    status: 200,
    body: review(uid, { allowed: false, status: { code: 400, message } }),
    summary: `refused: ${message}`,
  });

  const kind = isObject(req.kind) ? req.kind : {};
  if (kind.kind !== "Pod" || (kind.group ?? "") !== "") return allow(`not a Pod (${String(kind.group ?? "")}/${String(kind.kind)}): allowed unchanged`);
  if (req.operation !== "CREATE") return allow(`operation ${String(req.operation)}: allowed unchanged`);
  if (!isObject(req.object)) return deny("request.object: missing; the Pod cannot be injected");
  const namespace = typeof req.namespace === "string" && req.namespace !== "" ? req.namespace : "default";
  const pod = req.object;
  const name = isObject(pod.metadata) ? String(pod.metadata.name ?? `${String(pod.metadata.generateName ?? "")}*`) : "?";
  try {
    const r = injectObject({ ...pod, kind: "Pod" }, { defaultNamespace: namespace, settings });
    if (r.kind !== "pod" || !r.injected) return allow(`pod ${namespace}/${name} not injected: ${r.kind === "pod" ? r.decision.reason : r.reason}`);
    const patch = podPatch(pod as PodTemplate, r.template);
    return {
      status: 200,
      body: review(uid, { allowed: true, patchType: "JSONPatch", patch: Buffer.from(JSON.stringify(patch)).toString("base64") }),
      summary: `pod ${namespace}/${name} injected: ${r.decision.reason}`,
    };
  } catch (e) {
    if (e instanceof InjectError) return deny(`sidecar injection of pod ${namespace}/${name}: ${e.message}`);
    throw e;
  }
}
