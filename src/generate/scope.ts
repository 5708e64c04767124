/**
 * What one proxy sees of the mesh, computed once per generation: the services
 * exported to its namespace, the VirtualService bound to each, and (lazily)
 * the DestinationRule for each. The narrow view generators work from.
 *
 * A sidecar (not a gateway) under a Sidecar resource sees only what that
 * Sidecar imports (model/mesh-sidecar.ts): fewer services, so fewer clusters,
 * routes and endpoints, and only the VirtualServices its egress hosts select.
 * Which Sidecar applies is decided from the proxy's namespace and selector
 * answers, so proxies with the same effective Sidecar share a view
 * (view-key.ts records exactly those questions).
 */
import type { Client, Mesh, MeshService, MeshVirtualService, ResolvedDestinationRule } from "../model/mesh";
import { bindVirtualServices, bindsTo, destinationRuleFor, visibleServices } from "../model/mesh";
import { visibleTo } from "../model/mesh-hosts";
import { type BoundEgressListener, sidecarFor, sidecarImports } from "../model/mesh-sidecar";
import type { ProxyView } from "../model/proxy";
import type { Sidecar } from "../model/types";
import { outboundClusterName } from "./names";
import { objectId } from "./shared";

/** istiod's GetDestinationCluster for the egressProxy: `outbound|<port>|<subset>|<host>`, the host as written. */
function egressProxy(sidecar: Sidecar): string | undefined {
  const p = sidecar.spec.outboundTrafficPolicy;
  if (!p?.egressProxy || p.mode !== "ALLOW_ANY") return undefined;
  return outboundClusterName(p.egressProxy.port?.number ?? 0, p.egressProxy.subset, p.egressProxy.host);
}

export interface ProxyScope {
  mesh: Mesh;
  proxy: ProxyView;
  client: Client;
  /** Visible services, sorted by host: one cluster each (per port). */
  services: MeshService[];
  /**
   * The services that get outbound listeners and virtual hosts, sorted by
   * host: all of `services`, except under a Sidecar, where a service reached
   * only through a selected VirtualService gets clusters but no listener or
   * virtual host of its own (as in istiod).
   */
  listenerServices: MeshService[];
  /** Sidecar egress listeners with a listener of their own (bind / captureMode NONE); see sidecar-egress-listeners.ts. */
  boundEgress: BoundEgressListener[];
  /** host -> the VirtualService that routes it for this proxy. */
  virtualServices: ReadonlyMap<string, MeshVirtualService>;
  /**
   * ExternalName Services the proxy sees (istiod's Resolution Alias): left out of `services` and
   * `listenerServices` (no cluster, listener or default virtual host), still a VirtualService host can name.
   */
  aliasServices: MeshService[];
  /** host -> the ExternalName Services (in the whole mesh) whose externalName is that host, by namespace then host. */
  aliasesOf(host: string): readonly MeshService[];
  /** The mesh-bound VirtualServices this proxy may use (its Sidecar's selection), oldest first: istiod's egress listener VirtualServices(). */
  meshVirtualServices: readonly MeshVirtualService[];
  destinationRule(svc: MeshService): ResolvedDestinationRule | undefined;
  /** What unmatched outbound traffic does: the Sidecar's outboundTrafficPolicy, else the mesh's. */
  outboundTrafficPolicy: "ALLOW_ANY" | "REGISTRY_ONLY";
  /** The Sidecar resource that applies (sidecars only). */
  sidecar?: Sidecar;
  /** Under ALLOW_ANY, the Sidecar's outboundTrafficPolicy.egressProxy cluster: unknown traffic goes there instead of PassthroughCluster. */
  egressProxyCluster?: string;
  /**
   * What the scope was built from besides the mesh: proxy kind, namespace and the Sidecar resource. Every field
   * above except proxy, client and destinationRule follows from it, so units shared across views key on it (shared.ts).
   */
  shareKey: string;
}

/**
 * The same scope seen by another (recording) view of its proxy: a unit shared across views is built from this,
 * so what it reads of the proxy (labels through the client, DestinationRules with a workloadSelector) is recorded.
 */
export function scopeForView(scope: ProxyScope, view: ProxyView): ProxyScope {
  const client: Client = { namespace: view.namespace, labels: view.labels };
  return { ...scope, proxy: view, client, destinationRule: ruleLookup(scope.mesh, client) };
}

/** DestinationRule lookups of one client, cached by service object (one per (host, namespace) in a mesh; no key string per lookup). */
function ruleLookup(mesh: Mesh, client: Client): (svc: MeshService) => ResolvedDestinationRule | undefined {
  const drCache = new Map<MeshService, ResolvedDestinationRule | undefined>();
  return (svc) => {
    let dr = drCache.get(svc);
    if (dr === undefined && !drCache.has(svc)) {
      dr = destinationRuleFor(mesh, client, svc);
      drCache.set(svc, dr);
    }
    return dr;
  };
}

type ScopeParts = Pick<
  ProxyScope,
  "services" | "listenerServices" | "boundEgress" | "virtualServices" | "aliasServices" | "meshVirtualServices" | "outboundTrafficPolicy" | "egressProxyCluster"
>;

/** What a scope holds besides the proxy follows from (mesh, namespace, Sidecar): made once per mesh for all the views that share them. */
const partsByMesh = new WeakMap<Mesh, Map<string, ScopeParts>>();

function scopeParts(mesh: Mesh, namespace: string, sidecar: Sidecar | undefined): ScopeParts {
  let byKey = partsByMesh.get(mesh);
  if (!byKey) partsByMesh.set(mesh, (byKey = new Map()));
  const key = `${namespace}\n${sidecar ? objectId(sidecar) : ""}`;
  let parts = byKey.get(key);
  if (parts) return parts;
  let services: MeshService[];
  let listenerServices: MeshService[];
  let meshVirtualServices: MeshVirtualService[];
  if (sidecar) {
    const imports = sidecarImports(mesh, sidecar, namespace);
    const egressProxyCluster = egressProxy(sidecar);
    services = imports.services;
    listenerServices = imports.listenerServices;
    meshVirtualServices = imports.virtualServices;
    parts = {
      services,
      listenerServices,
      boundEgress: imports.boundEgress,
      virtualServices: bindVirtualServices(meshVirtualServices, services),
      aliasServices: [],
      meshVirtualServices,
      outboundTrafficPolicy: imports.outboundTrafficPolicy,
      ...(egressProxyCluster ? { egressProxyCluster } : {}),
    };
  } else {
    services = visibleServices(mesh, namespace);
    listenerServices = services;
    meshVirtualServices = mesh.virtualServices.filter((v) => bindsTo(v, "mesh") && visibleTo(v.exportTo, namespace));
    parts = {
      services,
      listenerServices,
      boundEgress: [],
      virtualServices: bindVirtualServices(meshVirtualServices, services),
      aliasServices: [],
      meshVirtualServices,
      outboundTrafficPolicy: mesh.options.outboundTrafficPolicy,
    };
  }
  // ExternalName Services (istiod's Resolution Alias): no cluster, listener or default virtual host of their own.
  const aliasServices = listenerServices.filter((s) => s.externalName !== undefined);
  if (aliasServices.length > 0) {
    parts.aliasServices = aliasServices;
    parts.services = services.filter((s) => s.externalName === undefined);
    parts.listenerServices = listenerServices.filter((s) => s.externalName === undefined);
  }
  byKey.set(key, parts);
  return parts;
}

/** istiod's resolveServiceAliases index, made once per mesh. */
const aliasesByMesh = new WeakMap<Mesh, Map<string, MeshService[]>>();

export function sidecarScope(mesh: Mesh, proxy: ProxyView): ProxyScope {
  const client: Client = { namespace: proxy.namespace, labels: proxy.labels };
  // Gateways always get the default scope (istiod's DefaultSidecarScopeForGateway); asking nothing more keeps their view keys as they were.
  const sidecar = proxy.kind === "router" || mesh.sidecars.byNamespace.size === 0 ? undefined : sidecarFor(mesh, proxy.namespace, proxy.labels);
  const parts = scopeParts(mesh, proxy.namespace, sidecar);
  const sidecarName = sidecar ? `${sidecar.metadata.namespace}/${sidecar.metadata.name}` : "";
  return {
    mesh,
    proxy,
    client,
    ...parts,
    aliasesOf(host) {
      let index = aliasesByMesh.get(mesh);
      if (!index) aliasesByMesh.set(mesh, (index = aliasesByTarget(mesh)));
      return index.get(host) ?? [];
    },
    ...(sidecar ? { sidecar } : {}),
    destinationRule: ruleLookup(mesh, client),
    shareKey: `${proxy.kind === "router" ? "router" : "sidecar"}|${proxy.namespace}|${sidecarName}`,
  };
}

/** istiod's resolveServiceAliases (one hop): external name -> the ExternalName Services naming it, sorted by namespace, then host. */
function aliasesByTarget(mesh: Mesh): Map<string, MeshService[]> {
  const out = new Map<string, MeshService[]>();
  for (const s of mesh.services) {
    if (s.externalName === undefined) continue;
    const list = out.get(s.externalName) ?? [];
    list.push(s);
    out.set(s.externalName, list);
  }
  for (const list of out.values())
    list.sort((a, b) => (a.namespace !== b.namespace ? (a.namespace < b.namespace ? -1 : 1) : a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
  return out;
}
