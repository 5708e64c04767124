/**
 * Sidecar RDS: one RouteConfiguration per outbound HTTP port, named by the
 * port. One virtual host per service on that port (`host:port`, Istio's
 * domains), its VirtualService's routes or the default route, then the
 * catch-all (`allow_any` or `block_all`). Auto-detected ports of services
 * with an address get their own, `<host>:<port>` (see sniffedRouteConfig).
 */
import type { MeshService, MeshVirtualService } from "../model/mesh";
import { isHttpProtocol, isSniffedProtocol } from "../model/mesh-protocol";
import type { Route, RouteConfiguration, VirtualHost } from "./envoy";
import { ALLOW_ANY_VHOST, BLOCK_ALL_VHOST, PASSTHROUGH_CLUSTER, outboundClusterName, sidecarRouteName, sniffedRouteName, virtualHostName } from "./names";
import { addressBindings, httpPorts } from "./outbound-ports";
import { RouteContext, defaultRoute, virtualServiceRoutes } from "./routes";
import { hashPolicy, timeoutFields } from "./route-action";
import { type ProxyScope, scopeForView } from "./scope";
import { objectId, sharedResources, sharedUnit } from "./shared";
import { WARM_EVERY } from "./outbound";
import type { Steps } from "../model/steps";

export function sidecarRouteConfigs(scope: ProxyScope): RouteConfiguration[] {
  return sharedUnit(scope.mesh, scope.proxy, `routes|${scope.shareKey}`, (view) => routeConfigs(scopeForView(scope, view)));
}

/**
 * The list is a unit, and so is each route config in it (`route-port|<port>|…`, `route-sniffed|<host>|<port>|…`):
 * a VirtualService edit drops the list and the route configs of its hosts' ports (push/incremental.ts).
 */
function routeConfigs(scope: ProxyScope): RouteConfiguration[] {
  const unit = <T>(key: string, build: (s: ProxyScope) => T): T =>
    sharedUnit(scope.mesh, scope.proxy, `${key}|${scope.shareKey}`, (v) => build(scopeForView(scope, v)));
  const sniffed = addressBindings(scope)
    .filter((b) => isSniffedProtocol(b.port.protocol))
    .map((b) => unit(`route-sniffed|${b.service.host}|${b.port.port}`, (s) => sniffedRouteConfig(s, b.service, b.port.port)));
  // Several addresses of one service share its route config.
  const unique = new Map(sniffed.map((rc) => [String(rc.name), rc]));
  return [...httpPorts(scope).map((port) => unit(`route-port|${port}`, (s) => sidecarRouteConfig(s, port))), ...unique.values()];
}

/** Every virtual host's routes and domains of the scope's route configs, a few services at a time (see warmOutboundSteps). */
export function* warmRouteSteps(scope: ProxyScope): Steps<void> {
  let n = 0;
  for (const port of httpPorts(scope)) {
    const ctx = meshRouteContext(scope, port);
    for (const svc of scope.listenerServices) {
      if (!svc.ports.some((p) => p.port === port && (isHttpProtocol(p.protocol) || isSniffedProtocol(p.protocol)))) continue;
      serviceRoutes(scope, svc, port, ctx);
      sharedDomains(svc, scope.proxy.dnsDomain);
      if (++n % WARM_EVERY === 0) yield;
    }
  }
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
  };
}

export function sidecarRouteConfig(scope: ProxyScope, port: number): RouteConfiguration {
  const ctx = meshRouteContext(scope, port);
  const used = new Set<string>();
  const vhosts: VirtualHost[] = [];
  const proxyDomain = scope.proxy.dnsDomain;
  for (const svc of scope.listenerServices) {
    if (!svc.ports.some((p) => p.port === port && (isHttpProtocol(p.protocol) || isSniffedProtocol(p.protocol)))) continue;
    const routes = serviceRoutes(scope, svc, port, ctx);
    if (routes.length === 0) continue;
    const all = sharedDomains(svc, proxyDomain);
    // Domains an earlier virtual host took are left out (rare: then a virtual host of its own).
    const domains = all.some((d) => used.has(d)) ? all.filter((d) => !used.has(d)) : all;
    if (domains.length === 0) continue;
    domains.forEach((d) => used.add(d));
    vhosts.push(sharedVirtualHost(svc.host, port, domains, routes));
  }
  vhosts.sort((a, b) => (String(a.name) < String(b.name) ? -1 : 1));
  vhosts.push(sharedCatchAll(scope.outboundTrafficPolicy, scope.egressProxyCluster));
  // Made of the same virtual host objects as an earlier one (another namespace, the previous push): the same object.
  const memo = sharedResources(scope.mesh).routeConfigs;
  const key = `${port}|${vhosts.map(objectId).join(",")}`;
  let rc = memo.get(key) as RouteConfiguration | undefined;
  if (!rc) {
    rc = {
      name: sidecarRouteName(port),
      virtual_hosts: vhosts,
      validate_clusters: false,
      max_direct_response_body_size_bytes: 1048576,
      ignore_port_in_host_matching: true,
    };
    memo.set(key, rc);
  }
  return rc;
}

/**
 * One virtual host object per (routes object, domains object): route objects are shared (serviceRoutes), domain
 * lists too (sharedDomains), so are these. A routes object belongs to one service and port, so the name follows.
 */
const virtualHosts = new WeakMap<Route[], WeakMap<string[], VirtualHost>>();

function sharedVirtualHost(host: string, port: number, domains: string[], routes: Route[]): VirtualHost {
  let byDomains = virtualHosts.get(routes);
  if (!byDomains) virtualHosts.set(routes, (byDomains = new WeakMap()));
  let vh = byDomains.get(domains);
  if (!vh) byDomains.set(domains, (vh = { name: virtualHostName(host, port), domains, routes, include_request_attempt_count: true }));
  return vh;
}

const domainLists = new WeakMap<MeshService, Map<string, string[]>>();

/** vhostDomains, one list object per service and proxy domain. */
function sharedDomains(svc: MeshService, proxyDomain: string): string[] {
  let byDomain = domainLists.get(svc);
  if (!byDomain) domainLists.set(svc, (byDomain = new Map()));
  let out = byDomain.get(proxyDomain);
  if (!out) byDomain.set(proxyDomain, (out = vhostDomains(svc, proxyDomain)));
  return out;
}

const catchAlls = new Map<string, VirtualHost>();

function sharedCatchAll(policy: "ALLOW_ANY" | "REGISTRY_ONLY", passthrough: string | undefined): VirtualHost {
  const key = `${policy}|${passthrough ?? ""}`;
  let vh = catchAlls.get(key);
  if (!vh) catchAlls.set(key, (vh = catchAllVirtualHost(policy, passthrough)));
  return vh;
}

/**
 * The route config of one auto-detected service port with an address (`<host>:<port>`, Istio's name for a
 * sniffed listener's RDS): the service's own virtual host, matching any Host, and no catch-all (traffic on
 * that address:port is for that service).
 */
export function sniffedRouteConfig(scope: ProxyScope, svc: MeshService, port: number): RouteConfiguration {
  const ctx = meshRouteContext(scope, port);
  const routes = serviceRoutes(scope, svc, port, ctx);
  const vhosts: VirtualHost[] =
    routes.length > 0 ? [{ name: virtualHostName(svc.host, port), domains: ["*"], routes, include_request_attempt_count: true }] : [];
  return {
    name: sniffedRouteName(svc.host, port),
    virtual_hosts: vhosts,
    validate_clusters: false,
    max_direct_response_body_size_bytes: 1048576,
    ignore_port_in_host_matching: true,
  };
}

/**
 * The routes of one service's virtual host: a unit of its own (shared.ts), keyed by the service, the port and the
 * VirtualService object that routes it, so a VirtualService edit rebuilds only the routes of the hosts it routes.
 * What they read of the proxy (namespace, for DestinationRules and matches; labels for sourceLabels) is recorded.
 */
function serviceRoutes(scope: ProxyScope, svc: MeshService, port: number, _ctx: RouteContext): Route[] {
  const vs = scope.virtualServices.get(svc.host);
  return sharedUnit(scope.mesh, scope.proxy, `vhost-routes|${objectId(svc)}|${port}|${vs ? objectId(vs.vs) : ""}`, (view) => {
    const s = scopeForView(scope, view);
    return unsharedServiceRoutes(s, svc, port, meshRouteContext(s, port), vs);
  });
}

function unsharedServiceRoutes(scope: ProxyScope, svc: MeshService, port: number, ctx: RouteContext, vs: MeshVirtualService | undefined): Route[] {
  if (vs) return virtualServiceRoutes(vs, ctx);
  const cluster = outboundClusterName(port, undefined, svc.host);
  const hash = hashPolicy([{ cluster, service: svc, port }], ctx);
  return [defaultRoute(cluster, svc.host, port, hash, scope.mesh.options.defaultHttpRetryPolicy)];
}

/**
 * Istio's domains for a service seen from a proxy: the FQDN, the FQDN with a
 * trailing dot, the short names its DNS search path allows (same namespace:
 * `svc`, `svc.ns.svc`, `svc.ns`; other namespaces: `svc.ns`, `svc.ns.svc`),
 * then every address.
 */
export function vhostDomains(svc: MeshService, proxyDomain: string): string[] {
  const host = svc.host;
  const out = [host];
  if (!host.startsWith("*")) out.push(`${host}.`);
  out.push(...kubeAltHosts(host, proxyDomain));
  out.push(...svc.addresses.map((a) => (a.includes(":") ? `[${a}]` : a)));
  return [...new Set(out)];
}

function kubeAltHosts(host: string, proxyDomain: string): string[] {
  const ps = proxyDomain.indexOf(".svc.");
  const hs = host.indexOf(".svc.");
  if (ps < 0 || hs <= 0 || host.slice(hs) !== proxyDomain.slice(ps)) return [];
  const dot = host.indexOf(".");
  if (dot + 1 > hs) return [];
  const name = host.slice(0, dot);
  const nameNs = host.slice(0, hs);
  const sameNamespace = host.slice(dot + 1, hs) === proxyDomain.slice(0, ps);
  return sameNamespace ? [name, `${nameNs}.svc`, nameNs] : [nameNs, `${nameNs}.svc`];
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
