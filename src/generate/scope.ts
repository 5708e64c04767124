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
  const drCache = new Map<string, ResolvedDestinationRule | undefined>();
  return {
    mesh,
    proxy,
    client,
    services,
    virtualServices: sidecarVirtualServices(mesh, proxy.namespace, services),
    destinationRule(svc) {
      const key = `${svc.namespace}/${svc.host}`;
      if (!drCache.has(key)) drCache.set(key, destinationRuleFor(mesh, client, svc));
      return drCache.get(key);
    },
  };
}
