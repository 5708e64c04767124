/**
 * Mutual TLS decisions, the way istiod makes them:
 *
 * - `workloadMtls`: the PeerAuthentication mode a workload accepts (server
 *   side), composed mesh (root namespace, no selector) → namespace (no
 *   selector) → workload (selector matching its labels; never from the root
 *   namespace) → port (the workload policy's portLevelMtls). At each scope the
 *   oldest policy wins; UNSET inherits from the scope above; nothing at all is
 *   PERMISSIVE. (Istio's ComposePeerAuthentication.)
 * - `serviceMtlsMode`: the client's best guess for a whole service (auto-mTLS):
 *   mesh and namespace policies only, as Istio's BestEffortInferServiceMTLSMode.
 * - `endpointWantsMtls`: whether one endpoint gets the `tlsMode: istio`
 *   transport-socket-match metadata (Istio's EDS mtlsChecker).
 * - `serviceIdentities`: the SPIFFE ids a client accepts from a service's
 *   endpoints (Istio's service accounts of a service).
 */
import type { PeerAuthentication, PeerAuthenticationMode } from "./types";
import type { Mesh, MeshEndpoint, MeshService } from "./mesh-types";
import { labelsMatch } from "./mesh-hosts";
import { spiffeId } from "./mesh-identity";
import type { ProxyView } from "./proxy";
import { Steps, YIELD_EVERY, runSteps } from "./steps";

/** The resolved modes: UNSET never survives composition. */
export type MtlsMode = "STRICT" | "PERMISSIVE" | "DISABLE";

/** The pod label the injector adds to pods with a sidecar; auto-mTLS keys on it. */
export const TLS_MODE_LABEL = "security.istio.io/tlsMode";
export const ISTIO_TLS_MODE = "istio";

export interface WorkloadMtls {
  mode: MtlsMode;
  /** portLevelMtls of the workload policy, resolved (UNSET → the workload's mode). */
  perPort: ReadonlyMap<number, MtlsMode>;
  /** The policies that decided, outermost first, for diagnostics and docs. */
  from: PeerAuthentication[];
}

function isUnset(mode: PeerAuthenticationMode | undefined): mode is undefined | "UNSET" {
  return mode === undefined || mode === "UNSET";
}

function hasSelector(pa: PeerAuthentication): boolean {
  return Object.keys(pa.spec.selector?.matchLabels ?? {}).length > 0;
}

/** The oldest matching policy in each scope (the list is oldest first). */
function scopes(mesh: Mesh, namespace: string, labels: Record<string, string> | undefined) {
  const root = mesh.options.rootNamespace;
  let meshPolicy: PeerAuthentication | undefined;
  let namespacePolicy: PeerAuthentication | undefined;
  let workloadPolicy: PeerAuthentication | undefined;
  for (const pa of mesh.peerAuthentications) {
    const ns = pa.metadata.namespace;
    if (!hasSelector(pa)) {
      if (ns === root) meshPolicy ??= pa;
      else if (ns === namespace) namespacePolicy ??= pa;
    } else if (labels && ns === namespace && ns !== root && labelsMatch(pa.spec.selector!.matchLabels, labels)) {
      workloadPolicy ??= pa;
    }
  }
  return { meshPolicy, namespacePolicy, workloadPolicy };
}

/** The mode a workload (namespace + pod labels) accepts, with its port-level overrides. */
export function workloadMtls(mesh: Mesh, namespace: string, labels: Record<string, string>): WorkloadMtls {
  const { meshPolicy, namespacePolicy, workloadPolicy } = scopes(mesh, namespace, labels);
  let mode: MtlsMode = "PERMISSIVE";
  const from: PeerAuthentication[] = [];
  for (const pa of [meshPolicy, namespacePolicy, workloadPolicy]) {
    if (!pa) continue;
    from.push(pa);
    const m = pa.spec.mtls?.mode;
    if (!isUnset(m)) mode = m;
  }
  const perPort = new Map<number, MtlsMode>();
  for (const [port, setting] of Object.entries(workloadPolicy?.spec.portLevelMtls ?? {})) {
    const m = setting.mode;
    perPort.set(Number(port), isUnset(m) ? mode : m);
  }
  return { mode, perPort, from };
}

/** The mode for one workload port. */
export function portMtlsMode(w: WorkloadMtls, port: number): MtlsMode {
  return w.perPort.get(port) ?? w.mode;
}

/** Namespace-level policy, else mesh-level, else undefined (Istio's GetNamespaceMutualTLSMode). */
export function namespaceMtlsMode(mesh: Mesh, namespace: string): MtlsMode | undefined {
  const { meshPolicy, namespacePolicy } = scopes(mesh, namespace, undefined);
  for (const pa of [namespacePolicy, meshPolicy]) {
    const m = pa?.spec.mtls?.mode;
    if (!isUnset(m)) return m;
  }
  return undefined;
}

/**
 * What a client should assume of a whole service: undefined for services
 * outside the mesh (no auto-mTLS), DISABLE for passthrough services unless
 * every endpoint has a sidecar, else the namespace/mesh policy, else PERMISSIVE.
 */
export function serviceMtlsMode(mesh: Mesh, svc: MeshService, port: number, passthrough: boolean): MtlsMode | undefined {
  if (svc.external) return undefined;
  if (passthrough) {
    const eps = mesh.endpoints.get(svc.host)?.get(port) ?? [];
    if (eps.length === 0 || eps.some((e) => !hasSidecar(e))) return "DISABLE";
  }
  return namespaceMtlsMode(mesh, svc.namespace) ?? "PERMISSIVE";
}

/**
 * Does a proxy hold a workload certificate (SDS `default`/`ROOTCA` from its
 * agent, node metadata `SDS`)? Only such a proxy sends auto-mTLS and offers
 * mTLS under PERMISSIVE: one without has no `sds-grpc` cluster, and a TLS
 * context pointing at a missing SDS cluster makes Envoy refuse the resource.
 * Explicit ISTIO_MUTUAL and STRICT are generated whatever it says.
 */
export function clientHasWorkloadCert(proxy: ProxyView): boolean {
  return proxy.sds === true;
}

export function hasSidecar(e: MeshEndpoint): boolean {
  return e.labels[TLS_MODE_LABEL] === ISTIO_TLS_MODE;
}

/**
 * Does this endpoint get `tlsMode: istio` metadata (so an auto-mTLS cluster
 * sends it mTLS)? A DestinationRule TLS mode for the cluster decides first
 * (DISABLE: no; ISTIO_MUTUAL: yes if it has a sidecar); otherwise it must have
 * a sidecar and its own PeerAuthentication must not DISABLE mTLS on the port.
 */
export function endpointWantsMtls(mesh: Mesh, svc: MeshService, e: MeshEndpoint, ruleTlsMode: string | undefined): boolean {
  if (ruleTlsMode === "DISABLE") return false;
  if (!hasSidecar(e)) return false;
  if (ruleTlsMode === "ISTIO_MUTUAL") return true;
  return portMtlsMode(workloadMtls(mesh, svc.namespace, e.labels), e.port) !== "DISABLE";
}

/**
 * SPIFFE ids a client accepts from the service's endpoints: the service
 * accounts of every endpoint (all ports), plus a ServiceEntry's
 * subjectAltNames, sorted and unique. Cached per mesh and service object.
 */
// Per mesh, then per service: a service object can be reused by the next mesh (mesh-reuse.ts) whose endpoints differ.
const identities = new WeakMap<Mesh, WeakMap<MeshService, string[]>>();

export function serviceIdentities(mesh: Mesh, svc: MeshService): string[] {
  let ofMesh = identities.get(mesh);
  if (!ofMesh) identities.set(mesh, (ofMesh = new WeakMap()));
  let ids = ofMesh.get(svc);
  if (!ids) {
    const set = new Set<string>(svc.subjectAltNames ?? []);
    for (const eps of mesh.endpoints.get(svc.host)?.values() ?? []) for (const e of eps) if (e.identity) set.add(e.identity);
    ids = [...set].sort();
    ofMesh.set(svc, ids);
  }
  return ids;
}

export { spiffeId };

/**
 * What of the endpoint data reaches clusters (CDS), not only EDS, once mTLS
 * is in play: each service's identities (the SANs clients check) and, for
 * passthrough services, whether every endpoint has a sidecar. A push that
 * only changed endpoints must be a full push when this changes (Istio
 * escalates an EDS update to a full push when service accounts change).
 * Also the endpoint addresses of passthrough services without an address
 * (headless): their TCP and auto ports get one listener per endpoint IP (LDS;
 * generate/outbound-ports.ts), as istiod does, which pushes fully then too.
 */
export function clusterAffectingEndpointFacts(mesh: Mesh): string {
  return runSteps(clusterAffectingEndpointFactsSteps(mesh));
}

/** The same, yielding every YIELD_EVERY services (a sliced push over 100,000 Services). */
export function* clusterAffectingEndpointFactsSteps(mesh: Mesh): Steps<string> {
  const parts: string[] = [];
  let i = 0;
  for (const svc of mesh.services) {
    const ids = serviceIdentities(mesh, svc);
    const passthrough =
      svc.resolution === "ORIGINAL_DST"
        ? [...(mesh.endpoints.get(svc.host)?.values() ?? [])].map((eps) => (eps.length > 0 && eps.every(hasSidecar) ? 1 : 0)).join("")
        : "";
    const listenerIps =
      svc.resolution === "ORIGINAL_DST" && svc.addresses.length === 0
        ? [...(mesh.endpoints.get(svc.host) ?? [])].map(([port, eps]) => `${port}:${eps.map((e) => e.address).join(",")}`).join(" ")
        : "";
    if (ids.length > 0 || passthrough || listenerIps) parts.push(`${svc.host}/${svc.namespace}=${ids.join(",")};${passthrough};${listenerIps}`);
    if (++i % YIELD_EVERY === 0) yield;
  }
  return parts.join("\n");
}
