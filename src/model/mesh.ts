/**
 * buildMesh: validated objects -> the indexed mesh model generators read.
 * Pure: same objects (in any order) give the same mesh and diagnostics.
 *
 * See mesh-types.ts for the shape, mesh-services.ts / mesh-endpoints.ts for the
 * registry, mesh-rules.ts for per-client rule lookup, mesh-diagnostics.ts for
 * the cross-object checks.
 */
import type {
  AuthorizationPolicy,
  Diagnostic,
  DestinationRule,
  EndpointSlice,
  Endpoints,
  Gateway,
  LocalityLbSetting,
  MeshObject,
  Node,
  PeerAuthentication,
  Pod,
  Secret,
  Service,
  ServiceEntry,
  Sidecar,
  VirtualService,
} from "./types";
import type { Mesh, MeshDestinationRule, MeshOptions, MeshService, MeshTracing, MeshVirtualService } from "./mesh-types";
import { DEFAULT_MESH_TRACING } from "./mesh-types";
import { serviceFromKube, servicesFromEntry } from "./mesh-services";
import { buildEndpointsSteps, resolveTargetPorts } from "./mesh-endpoints";
import { cmp, normaliseExportTo, olderFirst, resolveHost } from "./mesh-hosts";
import { crossObjectDiagnosticsSteps } from "./mesh-diagnostics";
import { indexSidecars } from "./mesh-sidecar";
import { sidecarDiagnostics } from "./sidecar-diagnostics";
import { Steps, YIELD_EVERY, mapSteps, runSteps, sortSteps } from "./steps";
import { DEFAULT_SYSTEM_CA_BUNDLE } from "./tls-roots";

export * from "./mesh-types";
export { destinationRuleFor, sidecarVirtualServices, visibleServices, lookupService, bindVirtualServices, bindsTo } from "./mesh-rules";
export type { Client } from "./mesh-rules";

export interface BuildMeshOptions {
  rootNamespace?: string;
  outboundTrafficPolicy?: "ALLOW_ANY" | "REGISTRY_ONLY";
  domainSuffix?: string;
  includeNotReadyEndpoints?: boolean;
  /** HTTP tracing; undefined: Istio's default (enableTracing true, 1%, Istio tags); false: off. */
  tracing?: MeshTracing | false;
  accessLog?: MeshOptions["accessLog"];
  connectTimeoutMs?: number;
  defaultExportTo?: MeshOptions["defaultExportTo"];
  trustDomain?: string;
  enableAutoMtls?: boolean;
  /** MeshConfig localityLbSetting (default Istio's `{enabled: true}`). */
  localityLbSetting?: LocalityLbSetting;
  protocolDetectionTimeoutMs?: number;
  gatewayTopology?: MeshOptions["gatewayTopology"];
  pathNormalization?: MeshOptions["pathNormalization"];
  defaultHttpRetryPolicy?: MeshOptions["defaultHttpRetryPolicy"];
  /** MeshConfig tlsDefaults. */
  tlsDefaults?: MeshOptions["tlsDefaults"];
  /** The system CA bundle on this host (sources/system-ca.ts); null: none; undefined: Debian's path. */
  systemCaBundle?: string | null;
}

interface ByKind {
  services: Service[];
  entries: ServiceEntry[];
  slices: EndpointSlice[];
  endpoints: Endpoints[];
  pods: Pod[];
  nodes: Node[];
  drs: DestinationRule[];
  vss: VirtualService[];
  gateways: Gateway[];
  secrets: Secret[];
  peerAuthentications: PeerAuthentication[];
  authz: AuthorizationPolicy[];
  sidecars: Sidecar[];
}

export function buildMesh(objects: MeshObject[], options: BuildMeshOptions = {}): { mesh: Mesh; diagnostics: Diagnostic[] } {
  return runSteps(buildMeshSteps(objects, options));
}

/**
 * buildMesh as cooperative steps (see ./steps): the same result, with a yield
 * every few hundred objects, so a caller with a big mesh can serve in between.
 * `objects` must not change while the steps run (the store hands out a copy).
 */
export function* buildMeshSteps(objects: MeshObject[], options: BuildMeshOptions = {}): Steps<{ mesh: Mesh; diagnostics: Diagnostic[] }> {
  const opts: MeshOptions = {
    rootNamespace: options.rootNamespace ?? "istio-system",
    outboundTrafficPolicy: options.outboundTrafficPolicy ?? "ALLOW_ANY",
    domainSuffix: options.domainSuffix ?? "cluster.local",
    includeNotReadyEndpoints: options.includeNotReadyEndpoints ?? true,
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    defaultExportTo: options.defaultExportTo ?? {},
    trustDomain: options.trustDomain ?? "cluster.local",
    enableAutoMtls: options.enableAutoMtls ?? true,
    protocolDetectionTimeoutMs: options.protocolDetectionTimeoutMs ?? 0,
    systemCaBundle: options.systemCaBundle === undefined ? DEFAULT_SYSTEM_CA_BUNDLE : options.systemCaBundle,
  };
  const locality = options.localityLbSetting ?? { enabled: true };
  if (locality.enabled !== false) opts.localityLbSetting = locality;
  // Istio's built-in MeshConfig has enableTracing: true (pkg/config/mesh/mesh.go DefaultMeshConfig).
  const tracing = options.tracing === undefined ? DEFAULT_MESH_TRACING : options.tracing;
  if (tracing) opts.tracing = tracing;
  if (options.accessLog) opts.accessLog = options.accessLog;
  if (options.gatewayTopology) opts.gatewayTopology = options.gatewayTopology;
  if (options.pathNormalization) opts.pathNormalization = options.pathNormalization;
  if (options.defaultHttpRetryPolicy) opts.defaultHttpRetryPolicy = options.defaultHttpRetryPolicy;
  if (options.tlsDefaults) opts.tlsDefaults = options.tlsDefaults;
  const diagnostics: Diagnostic[] = [];
  const k = yield* splitByKind(objects);

  const services = [
    ...(yield* mapSteps(k.services, (s) => serviceFromKube(s, opts.domainSuffix, diagnostics))),
    ...k.entries.flatMap((e) => servicesFromEntry(e, diagnostics)),
  ];
  yield* sortSteps(services, (a, b) => cmp(a.host, b.host) || sourceRank(a) - sourceRank(b) || cmp(a.namespace, b.namespace));
  const servicesByHost = new Map<string, MeshService[]>();
  for (const s of services) {
    const same = servicesByHost.get(s.host);
    if (same) same.push(s);
    else servicesByHost.set(s.host, [s]);
  }
  yield;

  const endpoints = yield* buildEndpointsSteps(services, k, opts);
  resolveTargetPorts(services, endpoints, k.pods, namedTargetPorts(k.services, opts.domainSuffix));
  yield;

  const destinationRules = yield* mapSteps(k.drs, (d) => meshDestinationRule(d, opts));
  const destinationRulesByNamespace = new Map<string, MeshDestinationRule[]>();
  for (const d of destinationRules) destinationRulesByNamespace.set(d.namespace, [...(destinationRulesByNamespace.get(d.namespace) ?? []), d]);
  const mesh: Mesh = {
    options: opts,
    services,
    servicesByHost,
    endpoints,
    destinationRules,
    destinationRulesByNamespace,
    virtualServices: yield* mapSteps(k.vss, (v) => meshVirtualService(v, opts)),
    gateways: k.gateways,
    pods: k.pods,
    nodes: new Map(k.nodes.map((n) => [n.metadata.name, n])),
    secrets: new Map(k.secrets.map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s])),
    peerAuthentications: k.peerAuthentications,
    authorizationPolicies: byNamespace(k.authz),
    sidecars: indexSidecars(k.sidecars, opts.rootNamespace),
  };
  yield;
  for (const d of yield* crossObjectDiagnosticsSteps(mesh)) diagnostics.push(d);
  for (const d of sidecarDiagnostics(mesh, k.sidecars)) diagnostics.push(d);
  return { mesh, diagnostics };
}

/** Kubernetes services before ServiceEntries for the same host (Istio prefers the registry). */
function sourceRank(s: MeshService): number {
  return s.source === "kubernetes" ? 0 : 1;
}

function* splitByKind(objects: MeshObject[]): Steps<ByKind> {
  const k: ByKind = {
    services: [],
    entries: [],
    slices: [],
    endpoints: [],
    pods: [],
    nodes: [],
    drs: [],
    vss: [],
    gateways: [],
    secrets: [],
    peerAuthentications: [],
    authz: [],
    sidecars: [],
  };
  for (let i = 0; i < objects.length; i++) {
    const o = objects[i]!;
    if (i % YIELD_EVERY === 0) yield;
    switch (o.kind) {
      case "Service":
        k.services.push(o);
        break;
      case "ServiceEntry":
        k.entries.push(o);
        break;
      case "EndpointSlice":
        k.slices.push(o);
        break;
      case "Endpoints":
        k.endpoints.push(o);
        break;
      case "Pod":
        k.pods.push(o);
        break;
      case "Node":
        k.nodes.push(o);
        break;
      case "DestinationRule":
        k.drs.push(o);
        break;
      case "VirtualService":
        k.vss.push(o);
        break;
      case "Gateway":
        k.gateways.push(o);
        break;
      case "Secret":
        k.secrets.push(o);
        break;
      case "PeerAuthentication":
        k.peerAuthentications.push(o);
        break;
      case "AuthorizationPolicy":
        k.authz.push(o);
        break;
      case "Sidecar":
        k.sidecars.push(o);
        break;
      case "Namespace":
        break;
    }
  }
  const byMeta = (a: { metadata: { name: string; namespace: string } }, b: { metadata: { name: string; namespace: string } }) =>
    cmp(a.metadata.namespace, b.metadata.namespace) || cmp(a.metadata.name, b.metadata.name);
  for (const list of [k.services, k.entries, k.slices, k.endpoints, k.pods, k.nodes, k.gateways])
    yield* sortSteps<{ metadata: { name: string; namespace: string } }>(list, byMeta);
  yield* sortSteps(k.drs, (a, b) => olderFirst(a.metadata, b.metadata));
  yield* sortSteps(k.vss, (a, b) => olderFirst(a.metadata, b.metadata));
  yield* sortSteps(k.peerAuthentications, (a, b) => olderFirst(a.metadata, b.metadata));
  yield* sortSteps(k.authz, (a, b) => olderFirst(a.metadata, b.metadata));
  return k;
}

/** Objects by namespace, keeping their order. */
function byNamespace<T extends { metadata: { namespace: string } }>(objects: T[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const o of objects) out.set(o.metadata.namespace, [...(out.get(o.metadata.namespace) ?? []), o]);
  return out;
}

/** host -> service port -> targetPort name, for the ports whose targetPort is a name. */
function namedTargetPorts(services: Service[], domainSuffix: string): Map<string, Map<number, string>> {
  const out = new Map<string, Map<number, string>>();
  for (const s of services) {
    const named = s.spec.ports.filter((p) => typeof p.targetPort === "string" && p.targetPort !== "");
    if (named.length === 0) continue;
    out.set(`${s.metadata.name}.${s.metadata.namespace}.svc.${domainSuffix}`, new Map(named.map((p) => [p.port, p.targetPort as string])));
  }
  return out;
}

function meshDestinationRule(rule: DestinationRule, opts: MeshOptions): MeshDestinationRule {
  const ns = rule.metadata.namespace;
  return {
    rule,
    namespace: ns,
    host: resolveHost(rule.spec.host, ns, opts.domainSuffix),
    exportTo: normaliseExportTo(rule.spec.exportTo ?? opts.defaultExportTo.destinationRule, ns),
  };
}

function meshVirtualService(vs: VirtualService, opts: MeshOptions): MeshVirtualService {
  const ns = vs.metadata.namespace;
  const gateways = vs.spec.gateways && vs.spec.gateways.length > 0 ? vs.spec.gateways.map((g) => resolveGateway(g, ns)) : ["mesh"];
  return {
    vs,
    namespace: ns,
    hosts: (vs.spec.hosts ?? []).map((h) => resolveHost(h, ns, opts.domainSuffix)),
    gateways: [...new Set(gateways)].sort(),
    exportTo: normaliseExportTo(vs.spec.exportTo ?? opts.defaultExportTo.virtualService, ns),
  };
}

/** Gateway references are "name" (own namespace) or "namespace/name"; "mesh" stays as is. */
export function resolveGateway(ref: string, namespace: string): string {
  if (ref === "mesh" || ref.includes("/")) return ref;
  // "name.namespace.svc.cluster.local" style references name the gateway's namespace too.
  const dot = ref.indexOf(".");
  if (dot > 0) return `${ref.slice(dot + 1).split(".")[0]}/${ref.slice(0, dot)}`;
  return `${namespace}/${ref}`;
}
