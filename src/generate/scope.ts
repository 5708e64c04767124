/**
 * What one proxy sees of the mesh, computed once per generation: the services
 * exported to its namespace, the VirtualService bound to each, and (lazily)
 * the DestinationRule for each. The narrow view generators work from.
 */
import type { Client, Mesh, MeshService, MeshVirtualService, ResolvedDestinationRule } from "../model/mesh";
import { destinationRuleFor, sidecarVirtualServices, visibleServices } from "../model/mesh";
import type { ProxyView } from "../model/proxy";

export interface ProxyScope {
  mesh: Mesh;
  proxy: ProxyView;
  client: Client;
  /** Visible services, sorted by host. */
  services: MeshService[];
  /** host -> the VirtualService that routes it for this proxy. */
  virtualServices: ReadonlyMap<string, MeshVirtualService>;
  destinationRule(svc: MeshService): ResolvedDestinationRule | undefined;
}

export function sidecarScope(mesh: Mesh, proxy: ProxyView): ProxyScope {
  const client: Client = { namespace: proxy.namespace, labels: proxy.labels };
  const services = visibleServices(mesh, proxy.namespace);
  // Keyed by the service object: one per (host, namespace) in a mesh, and no key string to build per lookup.
  const drCache = new Map<MeshService, ResolvedDestinationRule | undefined>();
  return {
    mesh,
    proxy,
    client,
    services,
    virtualServices: sidecarVirtualServices(mesh, proxy.namespace, services),
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
