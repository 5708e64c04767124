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
}

export function sidecarScope(mesh: Mesh, proxy: ProxyView): ProxyScope {
  const client: Client = { namespace: proxy.namespace, labels: proxy.labels };
  // Gateways always get the default scope (istiod's DefaultSidecarScopeForGateway); asking nothing more keeps their view keys as they were.
  const sidecar = proxy.kind === "router" || mesh.sidecars.byNamespace.size === 0 ? undefined : sidecarFor(mesh, proxy.namespace, proxy.labels);
  let services: MeshService[];
  let listenerServices: MeshService[];
  let boundEgress: BoundEgressListener[] = [];
  let virtualServices: ReadonlyMap<string, MeshVirtualService>;
  let meshVirtualServices: MeshVirtualService[];
  let outboundTrafficPolicy = mesh.options.outboundTrafficPolicy;
  let egressProxyCluster: string | undefined;
  if (sidecar) {
    const imports = sidecarImports(mesh, sidecar, proxy.namespace);
    services = imports.services;
    listenerServices = imports.listenerServices;
    boundEgress = imports.boundEgress;
    virtualServices = bindVirtualServices(imports.virtualServices, services);
    meshVirtualServices = imports.virtualServices;
    outboundTrafficPolicy = imports.outboundTrafficPolicy;
    egressProxyCluster = egressProxy(sidecar);
  } else {
    services = visibleServices(mesh, proxy.namespace);
    listenerServices = services;
    meshVirtualServices = mesh.virtualServices.filter((v) => bindsTo(v, "mesh") && visibleTo(v.exportTo, proxy.namespace));
    virtualServices = bindVirtualServices(meshVirtualServices, services);
  }
  const aliasServices = listenerServices.filter((s) => s.externalName !== undefined);
  if (aliasServices.length > 0) {
    services = services.filter((s) => s.externalName === undefined);
    listenerServices = listenerServices.filter((s) => s.externalName === undefined);
  }
  let aliasIndex: Map<string, MeshService[]> | undefined;
  // Keyed by the service object: one per (host, namespace) in a mesh, and no key string to build per lookup.
  const drCache = new Map<MeshService, ResolvedDestinationRule | undefined>();
  return {
    mesh,
    proxy,
    client,
    services,
    listenerServices,
    boundEgress,
    virtualServices,
    aliasServices,
    aliasesOf(host) {
      aliasIndex ??= aliasesByTarget(mesh);
      return aliasIndex.get(host) ?? [];
    },
    meshVirtualServices,
    outboundTrafficPolicy,
    ...(sidecar ? { sidecar } : {}),
    ...(egressProxyCluster ? { egressProxyCluster } : {}),
    destinationRule(svc) {
      let dr = drCache.get(svc);
      if (dr === undefined && !drCache.has(svc)) {
        dr = destinationRuleFor(mesh, client, svc);
        drCache.set(svc, dr);
      }
      return dr;
    },
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
