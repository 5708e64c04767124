/**
 * The resource types the Kubernetes source watches, and how to find which
 * version of each the cluster serves (API discovery, which every
 * authenticated user may read).
 */
import type { Kind } from "../../model/types";
import { ApiError } from "./errors";
import type { ApiClient } from "./http";

export interface ResourceType {
  /** Informer name, also the store source id suffix: "services" -> "kube/services". */
  id: string;
  kind: Kind;
  /** "" for the core group. */
  group: string;
  /** Versions to try, most preferred first. */
  versions: readonly string[];
  plural: string;
  namespaced: boolean;
  /** A CustomResourceDefinition: may be missing, and may appear later. */
  crd?: boolean;
  /** Not needed to serve: without it (not served, or RBAC forbids it) the source warns and serves the rest. */
  optional?: boolean;
}

export interface ResolvedResource extends ResourceType {
  version: string;
  /** "v1", "discovery.k8s.io/v1", "networking.istio.io/v1". */
  apiVersion: string;
}

const ISTIO = ["v1", "v1beta1", "v1alpha3"] as const;

export const SERVICES: ResourceType = { id: "services", kind: "Service", group: "", versions: ["v1"], plural: "services", namespaced: true };
export const ENDPOINT_SLICES: ResourceType = {
  id: "endpointslices",
  kind: "EndpointSlice",
  group: "discovery.k8s.io",
  versions: ["v1"],
  plural: "endpointslices",
  namespaced: true,
};
export const ENDPOINTS: ResourceType = { id: "endpoints", kind: "Endpoints", group: "", versions: ["v1"], plural: "endpoints", namespaced: true };
export const PODS: ResourceType = { id: "pods", kind: "Pod", group: "", versions: ["v1"], plural: "pods", namespaced: true };
export const NODES: ResourceType = { id: "nodes", kind: "Node", group: "", versions: ["v1"], plural: "nodes", namespaced: false };
/**
 * Secrets, for gateway credentials (credentialName). Optional like the CRDs:
 * without RBAC for them the rest is served and a warning says what is missing.
 * Watched through SECRET_FIELD_SELECTOR, so the big Secrets that can never be
 * a credential (Helm releases, tokens, registry logins) are not sent at all.
 */
export const SECRETS: ResourceType = { id: "secrets", kind: "Secret", group: "", versions: ["v1"], plural: "secrets", namespaced: true, optional: true };

/**
 * Istio watches every Secret type but Helm releases and service-account
 * tokens, since generic (Opaque) Secrets of any type may hold `cert`/`key`;
 * registry logins and bootstrap tokens cannot be certificates either.
 */
export const SECRET_FIELD_SELECTOR = [
  "helm.sh/release.v1",
  "kubernetes.io/service-account-token",
  "kubernetes.io/dockerconfigjson",
  "kubernetes.io/dockercfg",
  "bootstrap.kubernetes.io/token",
]
  .map((t) => `type!=${t}`)
  .join(",");

export const NAMESPACES: ResourceType = { id: "namespaces", kind: "Namespace", group: "", versions: ["v1"], plural: "namespaces", namespaced: false };

export const ISTIO_TYPES: readonly ResourceType[] = [
  { id: "virtualservices", kind: "VirtualService", group: "networking.istio.io", versions: ISTIO, plural: "virtualservices", namespaced: true, crd: true },
  { id: "destinationrules", kind: "DestinationRule", group: "networking.istio.io", versions: ISTIO, plural: "destinationrules", namespaced: true, crd: true },
  { id: "gateways", kind: "Gateway", group: "networking.istio.io", versions: ISTIO, plural: "gateways", namespaced: true, crd: true },
  { id: "serviceentries", kind: "ServiceEntry", group: "networking.istio.io", versions: ISTIO, plural: "serviceentries", namespaced: true, crd: true },
  { id: "sidecars", kind: "Sidecar", group: "networking.istio.io", versions: ISTIO, plural: "sidecars", namespaced: true, crd: true },
  {
    id: "peerauthentications",
    kind: "PeerAuthentication",
    group: "security.istio.io",
    versions: ["v1", "v1beta1"],
    plural: "peerauthentications",
    namespaced: true,
    crd: true,
  },
  {
    id: "authorizationpolicies",
    kind: "AuthorizationPolicy",
    group: "security.istio.io",
    versions: ["v1", "v1beta1"],
    plural: "authorizationpolicies",
    namespaced: true,
    crd: true,
  },
];

export function groupVersion(group: string, version: string): string {
  return group ? `${group}/${version}` : version;
}

/** `/api/v1` or `/apis/<group>/<version>`. */
export function groupVersionPath(group: string, version: string): string {
  return group ? `/apis/${group}/${version}` : `/api/${version}`;
}

/** The collection URL, limited to `namespace` for namespaced types when given. */
export function listPath(r: ResolvedResource, namespace?: string): string {
  const ns = r.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  return `${groupVersionPath(r.group, r.version)}${ns}/${r.plural}`;
}

/** "services (v1, all namespaces)", for messages. */
export function describeResource(r: ResolvedResource | ResourceType, namespace?: string): string {
  const gv = "apiVersion" in r ? r.apiVersion : groupVersion(r.group, r.versions[0] ?? "");
  const scope = !r.namespaced ? "cluster-scoped" : namespace ? `namespace ${namespace}` : "all namespaces";
  return `${r.plural} (${gv}, ${scope})`;
}

interface APIResourceList {
  resources?: { name: string; namespaced?: boolean; kind?: string }[];
}

/** A served version of a type; `settled` is false when the group lists a more preferred version that does not serve it (yet). */
export interface Resolution {
  resource: ResolvedResource;
  settled: boolean;
}

/**
 * Per-round discovery cache: one GET per group and group-version, even when
 * several types share them. A group-version that is not served is remembered
 * as such.
 *
 * While a CRD is being established the API server publishes its versions one
 * at a time, so for a moment only v1alpha3 may serve a type that v1 will
 * serve a few milliseconds later. A type found at a less preferred version
 * while the group document already lists a more preferred one is therefore
 * reported as not settled; the caller confirms it on a second look.
 */
export class Discovery {
  private readonly seen = new Map<string, Promise<Set<string> | undefined>>();

  constructor(
    private readonly client: ApiClient,
    private readonly opts: { signal?: AbortSignal; timeoutMs?: number } = {},
  ) {}

  /** Names under `path` (resources of a group-version, or versions of a group); undefined on 404. */
  private names(path: string, pick: (doc: Record<string, unknown>) => string[]): Promise<Set<string> | undefined> {
    let p = this.seen.get(path);
    if (!p) {
      p = this.client
        .getJSON<Record<string, unknown>>(path, {}, { ...(this.opts.signal ? { signal: this.opts.signal } : {}), idleTimeoutMs: this.opts.timeoutMs ?? 10_000 })
        .then((doc) => new Set(pick(doc)))
        .catch((e: unknown) => {
          // 404: not served (CRD missing, old cluster).
          if (e instanceof ApiError && e.reason === "notfound") return undefined;
          throw e;
        });
      this.seen.set(path, p);
    }
    return p;
  }

  private resources(group: string, version: string): Promise<Set<string> | undefined> {
    return this.names(groupVersionPath(group, version), (doc) => ((doc as APIResourceList).resources ?? []).map((r) => r.name));
  }

  private versions(group: string): Promise<Set<string> | undefined> {
    return this.names(`/apis/${group}`, (doc) => ((doc.versions ?? []) as { version?: string }[]).map((v) => v.version ?? ""));
  }

  /** The most preferred served version of `t`, or undefined when none is served. */
  async resolve(t: ResourceType): Promise<Resolution | undefined> {
    for (const [i, version] of t.versions.entries()) {
      const names = await this.resources(t.group, version);
      if (!names?.has(t.plural)) continue;
      const resource = { ...t, version, apiVersion: groupVersion(t.group, version) };
      if (i === 0 || !t.group) return { resource, settled: true };
      const listed = (await this.versions(t.group)) ?? new Set<string>();
      return { resource, settled: !t.versions.slice(0, i).some((v) => listed.has(v)) };
    }
    return undefined;
  }
}
