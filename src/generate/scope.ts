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
import { bindVirtualServices, destinationRuleFor, sidecarVirtualServices, visibleServices } from "../model/mesh";
import { sidecarFor, sidecarImports } from "../model/mesh-sidecar";
import type { ProxyView } from "../model/proxy";
import type { Sidecar } from "../model/types";

export interface ProxyScope {
  mesh: Mesh;
  proxy: ProxyView;
  client: Client;
  /** Visible services, sorted by host. */
  services: MeshService[];
  /** host -> the VirtualService that routes it for this proxy. */
  virtualServices: ReadonlyMap<string, MeshVirtualService>;
  destinationRule(svc: MeshService): ResolvedDestinationRule | undefined;
  /** What unmatched outbound traffic does: the Sidecar's outboundTrafficPolicy, else the mesh's. */
  outboundTrafficPolicy: "ALLOW_ANY" | "REGISTRY_ONLY";
  /** The Sidecar resource that applies (sidecars only). */
  sidecar?: Sidecar;
}

export function sidecarScope(mesh: Mesh, proxy: ProxyView): ProxyScope {
  const client: Client = { namespace: proxy.namespace, labels: proxy.labels };
  // Gateways always get the default scope (istiod's DefaultSidecarScopeForGateway); asking nothing more keeps their view keys as they were.
  const sidecar = proxy.kind === "router" || mesh.sidecars.byNamespace.size === 0 ? undefined : sidecarFor(mesh, proxy.namespace, proxy.labels);
  let services: MeshService[];
  let virtualServices: ReadonlyMap<string, MeshVirtualService>;
  let outboundTrafficPolicy = mesh.options.outboundTrafficPolicy;
  if (sidecar) {
    const imports = sidecarImports(mesh, sidecar, proxy.namespace);
    services = imports.services;
    virtualServices = bindVirtualServices(imports.virtualServices, services);
    outboundTrafficPolicy = imports.outboundTrafficPolicy;
  } else {
    services = visibleServices(mesh, proxy.namespace);
    virtualServices = sidecarVirtualServices(mesh, proxy.namespace, services);
  }
  // Keyed by the service object: one per (host, namespace) in a mesh, and no key string to build per lookup.
  const drCache = new Map<MeshService, ResolvedDestinationRule | undefined>();
  return {
    mesh,
    proxy,
    client,
    services,
    virtualServices,
    outboundTrafficPolicy,
    ...(sidecar ? { sidecar } : {}),
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
