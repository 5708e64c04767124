/**
 * Keeping the MutatingWebhookConfiguration's caBundle equal to the CA that
 * signed the webhook's certificate, as istiod's webhook patcher does: the API
 * server only calls a webhook whose certificate it can verify with that
 * bundle, so a rotated CA (or a `kubectl apply` that reset the field) must be
 * written back. The HTTP call is injected so the logic is tested without a
 * cluster; the CLI passes one with the pod's or the kubeconfig's credentials.
 */
import type { Json } from "./sidecar";

export interface JsonPatchTestOp {
  op: "test" | "replace" | "add";
  path: string;
  value: unknown;
}

export type KubeCall = (method: "GET" | "PATCH", path: string, body?: string, contentType?: string) => Promise<{ status: number; body: string }>;

export const WEBHOOK_CONFIGS = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations";

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/**
 * The JSON patch that sets every webhook's clientConfig.caBundle to `caPem`
 * (guarded by the resourceVersion it was computed from), or [] when all are
 * already right. Throws with the field when the object is not a webhook configuration.
 */
export function caBundlePatch(config: unknown, caPem: string): JsonPatchTestOp[] {
  if (!isObject(config) || !Array.isArray(config.webhooks)) throw new Error("webhooks: missing; not a MutatingWebhookConfiguration");
  const want = Buffer.from(caPem).toString("base64");
  const ops: JsonPatchTestOp[] = [];
  config.webhooks.forEach((w: unknown, i) => {
    if (!isObject(w) || !isObject(w.clientConfig)) throw new Error(`webhooks[${i}].clientConfig: missing`);
    if (w.clientConfig.caBundle === want) return;
    ops.push({ op: w.clientConfig.caBundle === undefined ? "add" : "replace", path: `/webhooks/${i}/clientConfig/caBundle`, value: want });
  });
  if (ops.length === 0) return [];
  const rv = isObject(config.metadata) ? config.metadata.resourceVersion : undefined;
  return [...(typeof rv === "string" ? [{ op: "test" as const, path: "/metadata/resourceVersion", value: rv }] : []), ...ops];
}

/** One line naming what is wrong, for the log (RBAC: the verb and resource to grant). */
function explain(status: number, verb: string, name: string, body: string): string {
  if (status === 401) return `the API server refused our credentials (401) when trying to ${verb} MutatingWebhookConfiguration ${name}`;
  if (status === 403) return `forbidden: grant "${verb}" on mutatingwebhookconfigurations.admissionregistration.k8s.io (name ${name}) to this service account`;
  if (status === 404) return `MutatingWebhookConfiguration ${name} not found: install it first (its caBundle is filled in here)`;
  let message = body.slice(0, 200);
  try {
    message = String((JSON.parse(body) as { message?: unknown }).message ?? message);
  } catch {
    // not a Status
  }
  return `${verb} MutatingWebhookConfiguration ${name}: HTTP ${status}: ${message}`;
}

export type SyncResult = { ok: true; changed: number } | { ok: false; error: string };

/** GET the configuration, PATCH the bundles that differ; one retry when someone else wrote it in between. */
export async function syncCaBundle(call: KubeCall, name: string, caPem: string): Promise<SyncResult> {
  const path = `${WEBHOOK_CONFIGS}/${encodeURIComponent(name)}`;
  for (let attempt = 0; attempt < 2; attempt++) {
    const got = await call("GET", path);
    if (got.status !== 200) return { ok: false, error: explain(got.status, "get", name, got.body) };
    let ops: JsonPatchTestOp[];
    try {
      ops = caBundlePatch(JSON.parse(got.body), caPem);
    } catch (e) {
      return { ok: false, error: `MutatingWebhookConfiguration ${name}: ${(e as Error).message}` };
    }
    if (ops.length === 0) return { ok: true, changed: 0 };
    const patched = await call("PATCH", path, JSON.stringify(ops), "application/json-patch+json");
    if (patched.status === 200) return { ok: true, changed: ops.filter((o) => o.op !== "test").length };
    // 422 from the resourceVersion test, 409 from a conflicting write: read again.
    if ((patched.status === 422 || patched.status === 409) && attempt === 0) continue;
    return { ok: false, error: explain(patched.status, "patch", name, patched.body) };
  }
  return { ok: false, error: `MutatingWebhookConfiguration ${name}: changed by someone else twice while patching; will retry` };
}
