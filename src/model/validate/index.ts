/**
 * validateObject: one raw Kubernetes-style object (as parsed from YAML/JSON
 * or read from a cluster) -> a typed MeshObject, or the reasons it was
 * refused. Errors refuse the object; warnings ride along with an accepted
 * one. An object refused with only warnings (a kind mini-pilot does not read,
 * an EndpointSlice without a service) is skipped, not a mistake.
 */
import type { Diagnostic, Kind, MeshObject, ObjectMeta, Origin } from "../types";
import { Ctx } from "./ctx";
import { labelMap } from "./common";
import { readEndpointSliceSpec, readEndpointsSpec, readPodSpec, serviceSpec } from "./core";
import { authorizationPolicySpec } from "./authorizationpolicy";
import { destinationRuleSpec } from "./destinationrule";
import { gatewaySpec } from "./gateway";
import { isDNS1123Label, isDNS1123Subdomain } from "./names";
import { peerAuthenticationSpec } from "./peerauthentication";
import { isPlainObject, object, record, str } from "./read";
import { serviceEntrySpec } from "./serviceentry";
import { sidecarSpec } from "./sidecar";
import { secretSpec } from "./secret";
import { virtualServiceSpec } from "./virtualservice";

export { parseIstioDuration } from "./duration";
export { OPERATION_FIELDS as AUTHORIZATION_OPERATION_FIELDS, SOURCE_FIELDS as AUTHORIZATION_SOURCE_FIELDS } from "./authorizationpolicy";
export type { DurationResult } from "./duration";

export type ValidateResult = { ok: true; object: MeshObject; warnings: Diagnostic[] } | { ok: false; diagnostics: Diagnostic[] };

const ISTIO_NETWORKING = ["networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"];
const ISTIO_SECURITY = ["security.istio.io/v1", "security.istio.io/v1beta1"];

type SpecReader = (raw: Record<string, unknown>, meta: ObjectMeta, ctx: Ctx) => unknown;

function istioSpec(read: (v: unknown, path: string, ctx: Ctx) => unknown): SpecReader {
  return (raw, _meta, ctx) => {
    if (raw.spec === undefined || raw.spec === null) {
      ctx.error("spec", "spec is required");
      return undefined;
    }
    return read(raw.spec, "spec", ctx);
  };
}

// The fields Istio's webhook allows at the top of an Istio object; anything else is refused.
const ISTIO_TOP_LEVEL = new Set(["apiVersion", "kind", "metadata", "spec", "status"]);

/** Annotations Istio's webhook refuses on user objects (validateMetadata). */
function checkIstioObject(raw: Record<string, unknown>, kind: Kind, meta: ObjectMeta, ctx: Ctx): void {
  for (const key of Object.keys(raw)) {
    if (!ISTIO_TOP_LEVEL.has(key)) ctx.error(key, `unknown field "${key}" on ${kind} resource ${meta.namespace}/${meta.name}`);
  }
  const annotations = meta.annotations ?? {};
  const at = (a: string): string => `metadata.annotations[${JSON.stringify(a)}]`;
  if ("istio.io/dry-run" in annotations && kind !== "AuthorizationPolicy") {
    ctx.error(at("istio.io/dry-run"), `${meta.namespace}/${meta.name} has unsupported annotation istio.io/dry-run, please remove the annotation`);
  }
  if ("internal.istio.io/webhook-always-reject" in annotations) {
    ctx.error(at("internal.istio.io/webhook-always-reject"), '"internal.istio.io/webhook-always-reject" annotation found, rejecting');
  }
  for (const a of ["internal.istio.io/parent-namespace", "internal.istio.io/parents"]) {
    if (a in annotations) ctx.error(at(a), `"${a}" annotation found, this may not be set by users`);
  }
}

const KINDS: Record<Kind, { apiVersions: string[]; clusterScoped?: boolean; read: SpecReader }> = {
  Service: { apiVersions: ["v1"], read: (raw, _m, ctx) => serviceSpec(raw.spec ?? {}, "spec", ctx) },
  Endpoints: { apiVersions: ["v1"], read: (raw, _m, ctx) => readEndpointsSpec(raw, ctx) },
  EndpointSlice: { apiVersions: ["discovery.k8s.io/v1"], read: (raw, meta, ctx) => readEndpointSliceSpec(raw, meta.labels, ctx) },
  Pod: { apiVersions: ["v1"], read: (raw, _m, ctx) => readPodSpec(raw, ctx) },
  Node: { apiVersions: ["v1"], clusterScoped: true, read: () => ({}) },
  Namespace: { apiVersions: ["v1"], clusterScoped: true, read: () => ({}) },
  VirtualService: { apiVersions: ISTIO_NETWORKING, read: istioSpec(virtualServiceSpec) },
  DestinationRule: { apiVersions: ISTIO_NETWORKING, read: istioSpec(destinationRuleSpec) },
  Gateway: { apiVersions: ISTIO_NETWORKING, read: istioSpec(gatewaySpec) },
  ServiceEntry: { apiVersions: ISTIO_NETWORKING, read: istioSpec(serviceEntrySpec) },
  Secret: { apiVersions: ["v1"], read: (raw, _m, ctx) => secretSpec(raw, ctx) },
  // An empty PeerAuthentication (no spec) is valid in Istio: every field UNSET.
  PeerAuthentication: { apiVersions: ISTIO_SECURITY, read: (raw, _m, ctx) => peerAuthenticationSpec(raw.spec ?? {}, "spec", ctx) },
  // An AuthorizationPolicy without spec is valid: ALLOW with no rules, "allow nothing".
  AuthorizationPolicy: { apiVersions: ISTIO_SECURITY, read: (raw, _m, ctx) => authorizationPolicySpec(raw.spec ?? {}, "spec", ctx) },
  // A Sidecar without spec is "empty configuration" to Istio: sidecarSpec reports it.
  Sidecar: { apiVersions: ISTIO_NETWORKING, read: (raw, _m, ctx) => sidecarSpec(raw.spec ?? {}, "spec", ctx) },
};

function isKind(k: string): k is Kind {
  return Object.prototype.hasOwnProperty.call(KINDS, k);
}

type Meta = Omit<ObjectMeta, "namespace"> & { namespace?: string };

const metadata = object<Meta>(
  {
    name: str,
    namespace: str,
    labels: labelMap,
    annotations: record(str),
    creationTimestamp: str,
    resourceVersion: str,
    uid: str,
  },
  { open: true },
);

function readMeta(raw: Record<string, unknown>, clusterScoped: boolean, ctx: Ctx): ObjectMeta {
  const m = metadata(raw.metadata ?? {}, "metadata", ctx) ?? { name: "" };
  const namespace = clusterScoped ? "" : (m.namespace ?? "default");
  ctx.subject = { ...ctx.subject, namespace, name: m.name, ...(m.labels ? { labels: m.labels } : {}) };
  if (!m.name) ctx.error("metadata.name", "name is required");
  else if (!isDNS1123Subdomain(m.name)) ctx.error("metadata.name", `invalid name "${m.name}": must be a lowercase RFC 1123 subdomain`);
  if (!clusterScoped && !isDNS1123Label(namespace)) ctx.error("metadata.namespace", `invalid namespace "${namespace}": must be a lowercase RFC 1123 label`);
  return { ...m, namespace };
}

function checkKind(raw: Record<string, unknown>, ctx: Ctx): Kind | undefined {
  const kind = str(raw.kind, "kind", ctx);
  const apiVersion = str(raw.apiVersion, "apiVersion", ctx);
  if (raw.kind === undefined) ctx.error("kind", "kind is required");
  if (raw.apiVersion === undefined) ctx.error("apiVersion", "apiVersion is required");
  if (kind === undefined || apiVersion === undefined) return undefined;
  if (!isKind(kind)) {
    ctx.warn("kind", `${apiVersion} ${kind} is not read by mini-pilot; ignored`);
    return undefined;
  }
  const want = KINDS[kind].apiVersions;
  if (!want.includes(apiVersion)) {
    ctx.error("apiVersion", `unsupported apiVersion "${apiVersion}" for ${kind}; expected ${want.join(" or ")}`);
    return undefined;
  }
  return kind;
}

/** Narrow and validate one raw object. */
export function validateObject(raw: Record<string, unknown>, origin: Origin): ValidateResult {
  const name = isPlainObject(raw.metadata) && typeof raw.metadata.name === "string" ? raw.metadata.name : undefined;
  const ctx = new Ctx({ ...(typeof raw.kind === "string" ? { kind: raw.kind } : {}), ...(name ? { name } : {}), origin });
  const kind = checkKind(raw, ctx);
  if (!kind) return { ok: false, diagnostics: ctx.diagnostics };
  const info = KINDS[kind];
  const meta = readMeta(raw, info.clusterScoped ?? false, ctx);
  if (info.apiVersions.some((v) => v.includes(".istio.io/"))) checkIstioObject(raw, kind, meta, ctx);
  const spec = info.read(raw, meta, ctx);
  if (ctx.errorCount > 0 || spec === undefined) return { ok: false, diagnostics: ctx.diagnostics };
  const object = { kind, apiVersion: raw.apiVersion as string, metadata: meta, spec, origin } as MeshObject;
  return { ok: true, object, warnings: ctx.diagnostics };
}
