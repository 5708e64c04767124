/**
 * Sidecar RDS: one RouteConfiguration per outbound HTTP port, named by the
 * port: the port's virtual hosts as istiod builds them (sidecar-virtual-hosts.ts),
 * then the catch-all (`allow_any` or `block_all`). Auto-detected ports of
 * services with an address get their own, `<host>:<port>` (see sniffedRouteConfig).
 */
import type { MeshService } from "../model/mesh";
import { isHttpProtocol, isSniffedProtocol } from "../model/mesh-protocol";
import type { RouteConfiguration, VirtualHost } from "./envoy";
import { ALLOW_ANY_VHOST, BLOCK_ALL_VHOST, PASSTHROUGH_CLUSTER, sidecarRouteName, sniffedRouteName } from "./names";
import { addressBindings, httpPorts } from "./outbound-ports";
import type { RouteContext } from "./routes";
import { timeoutFields } from "./route-action";
import { type ProxyScope, scopeForView } from "./scope";
import { objectId, sharedUnit } from "./shared";
import type { Steps } from "../model/steps";
import { outboundVirtualHosts, portVirtualServices } from "./sidecar-virtual-hosts";
import { boundEgressSniffedRoutes, egressProtocol } from "./sidecar-egress-listeners";

/**
 * The route configs: one list for every sidecar of the scope that answers their questions alike (shared.ts).
 * A VirtualService edit drops the list (push/incremental.ts); the port route configs in it are units of their own.
 */
export function sidecarRouteConfigs(scope: ProxyScope): RouteConfiguration[] {
  return sharedUnit(scope.mesh, scope.proxy, `routes|${scope.shareKey}`, (view) => routeConfigs(scopeForView(scope, view)));
}

/** Build the scope's shared route configs as one step of a sliced first build (see warmSidecarSteps). */
export function* warmRouteSteps(scope: ProxyScope): Steps<void> {
  sidecarRouteConfigs(scope);
  yield;
}

function routeConfigs(scope: ProxyScope): RouteConfiguration[] {
  // One computation of a port's virtual hosts serves its route config and every sniffed route config on it (istiod's vHostCache).
  const vhostsOf = (port: number): VirtualHost[] => portRoutes(scope, port).vhosts;
  const sniffed = [
    ...addressBindings(scope)
      .filter((b) => isSniffedProtocol(b.port.protocol))
      .map((b) => ({ service: b.service, port: b.port.port })),
    ...boundEgressSniffedRoutes(scope),
  ].map((b) => sniffedRouteConfig(scope, b.service, b.port, vhostsOf(b.port)));
  // Several addresses of one service share its route config.
  const unique = new Map(sniffed.map((rc) => [String(rc.name), rc]));
  // Sidecar egress listeners of their own on an HTTP port use the shared route config `<port>` too.
  const boundHttp = scope.boundEgress.filter((b) => b.services.length > 0 && isHttpProtocol(egressProtocol(b))).map((b) => b.port);
  const ports = [...new Set([...httpPorts(scope), ...boundHttp])].sort((a, b) => a - b);
  return [...ports.map((port) => portRoutes(scope, port).config), ...unique.values()];
}

/**
 * A port's virtual hosts and route config: a unit keyed by the VirtualService objects it is built from, so a
 * VirtualService edit rebuilds the route configs of the ports that select it (every port-80 one; others where its
 * hosts overlap a service on the port) and the others keep their objects (push/incremental.ts keeps them).
 */
function portRoutes(scope: ProxyScope, port: number): { vhosts: VirtualHost[]; config: RouteConfiguration } {
  const rules = portVirtualServices(scope, port, routeServices(scope, port)).map((v) => objectId(v.vs));
  return sharedUnit(scope.mesh, scope.proxy, `route-port|${port}|${rules.join(",")}|${scope.shareKey}`, (view) => {
    const s = scopeForView(scope, view);
    const vhosts = portVirtualHosts(s, port);
    return { vhosts, config: sidecarRouteConfig(s, port, vhosts) };
  });
}

/**
 * The services of route config `<port>`: istiod's GetEgressListenerForRDS takes the first egress listener
 * with that port; when that one has a listener of its own, its services, else the services with listeners.
 */
function routeServices(scope: ProxyScope, port: number): MeshService[] {
  const bound = scope.boundEgress.find((b) => b.port === port && b.firstForPort);
  return bound ? bound.services : scope.listenerServices;
}

/** How routes are built for a sidecar (the `mesh` gateway) on `port`: its client, namespace and DestinationRules. */
export function meshRouteContext(scope: ProxyScope, port: number): RouteContext {
  return {
    mesh: scope.mesh,
    client: scope.client,
    clientNamespace: scope.proxy.namespace,
    gateways: ["mesh"],
    listenerPort: port,
    destinationRule: (svc) => scope.destinationRule(svc),
    servicesOnListenerPortOnly: true,
  };
}

export function sidecarRouteConfig(scope: ProxyScope, port: number, vhosts = portVirtualHosts(scope, port)): RouteConfiguration {
  return {
    name: sidecarRouteName(port),
    virtual_hosts: [...vhosts, catchAllVirtualHost(scope.outboundTrafficPolicy, scope.egressProxyCluster)],
    validate_clusters: false,
    max_direct_response_body_size_bytes: 1048576,
    ignore_port_in_host_matching: true,
  };
}

function portVirtualHosts(scope: ProxyScope, port: number): VirtualHost[] {
  return outboundVirtualHosts(scope, port, (s) => meshRouteContext(s, port), scope.proxy.dnsDomain, routeServices(scope, port));
}

/**
 * The route config of one auto-detected service port with an address (`<host>:<port>`, Istio's name for a
 * sniffed listener's RDS): istiod's getVirtualHostsForSniffedServicePort picks, from the virtual hosts of the
 * port's route config, the one for this service (a domain equal to the host) and lets it match any Host; no
 * catch-all (traffic on that address:port is for that service).
 */
export function sniffedRouteConfig(scope: ProxyScope, svc: MeshService, port: number, vhosts = portVirtualHosts(scope, port)): RouteConfiguration {
  const name = sniffedRouteName(svc.host, port);
  const mine = vhosts.filter((vh) => (vh.domains ?? []).some((d) => d === name || d === svc.host));
  return {
    name,
    virtual_hosts: mine.length === 1 ? [{ ...mine[0]!, domains: ["*"] }] : mine,
    validate_clusters: false,
    max_direct_response_body_size_bytes: 1048576,
    ignore_port_in_host_matching: true,
  };
}

/** Last virtual host, `*`: pass unknown hosts through (ALLOW_ANY; to `passthrough`, a Sidecar's egressProxy) or answer 502 (REGISTRY_ONLY). */
export function catchAllVirtualHost(policy: "ALLOW_ANY" | "REGISTRY_ONLY", passthrough = PASSTHROUGH_CLUSTER): VirtualHost {
  if (policy === "ALLOW_ANY") {
    return {
      name: ALLOW_ANY_VHOST,
      domains: ["*"],
      routes: [{ name: ALLOW_ANY_VHOST, match: { prefix: "/" }, route: { cluster: passthrough, ...timeoutFields(undefined) } }],
      include_request_attempt_count: true,
    };
  }
  return {
    name: BLOCK_ALL_VHOST,
    domains: ["*"],
    routes: [{ name: BLOCK_ALL_VHOST, match: { prefix: "/" }, direct_response: { status: 502 } }],
    include_request_attempt_count: true,
  };
}
