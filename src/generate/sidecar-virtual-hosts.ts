/**
 * The virtual hosts of a sidecar's outbound route config for one listener port, built the way istiod 1.31's
 * BuildSidecarOutboundVirtualHosts does (pilot/pkg/networking/core/httproute.go, route/route.go):
 *
 * - the registry is the services that have the port (any protocol), each reduced to that port;
 * - on a port other than 80, only VirtualServices with a host overlapping such a service count
 *   (selectVirtualServices); on port 80 every mesh-bound VirtualService does (istiod's "hack to keep
 *   consistent with previous behavior");
 * - a VirtualService with routes for this proxy gets a virtual host for each of its hosts that is not a
 *   service on the port (`<host>:<port>`, domain the host alone), and one for each of its services whose port
 *   is HTTP or sniffed, as long as it has such a service or the port is 80;
 * - services no VirtualService took get the default route;
 * - names and domains already taken are skipped (first come first served, VirtualServices oldest first),
 *   then the list is sorted by name.
 *
 * So traffic to `<vs host>:80` is routed by the VirtualService even when the host's Service has no port 80
 * (or there is no Service at all), and a VirtualService naming two hosts routes the second on the first's ports.
 */
import type { MeshService, MeshVirtualService } from "../model/mesh";
import { hostMatches } from "../model/mesh-hosts";
import { isHttpProtocol, isSniffedProtocol } from "../model/mesh-protocol";
import type { Route, VirtualHost } from "./envoy";
import { outboundClusterName, virtualHostName } from "./names";
import { RouteContext, defaultRoute, virtualServiceRoutes } from "./routes";
import { serviceHashPolicy } from "./route-action";
import { type ProxyScope, scopeForView } from "./scope";
import { objectId, sharedUnit } from "./shared";

/** One group of virtual hosts sharing routes: istiod's VirtualHostWrapper. */
interface HostGroup {
  /** VirtualService hosts that are no service on this port: a virtual host matching the host only. */
  plainHosts: string[];
  services: MeshService[];
  routes: Route[];
}

/** istiod's host.Name.Matches: the two hosts overlap (either may be a wildcard). */
export function hostsOverlap(a: string, b: string): boolean {
  return hostMatches(a, b) || hostMatches(b, a);
}

/**
 * Whether a host overlaps any of the services' hosts: a set lookup for an exact host (it overlaps only an equal
 * host or a wildcard service host matching it), a scan only for wildcards. A mesh has thousands of both.
 */
function overlapIndex(services: readonly MeshService[]): (host: string) => boolean {
  const exact = new Set(services.map((s) => s.host));
  const wildcards = services.filter((s) => s.host.startsWith("*"));
  return (h) => (h.startsWith("*") ? services.some((s) => hostsOverlap(h, s.host)) : exact.has(h) || wildcards.some((s) => hostMatches(s.host, h)));
}

function routedPort(svc: MeshService, port: number): boolean {
  return svc.ports.some((p) => p.port === port && (isHttpProtocol(p.protocol) || isSniffedProtocol(p.protocol)));
}

/**
 * The routes of one VirtualService (or one service's default route) on a port: a unit of its own (shared.ts),
 * keyed by the VirtualService or service object, so a VirtualService edit rebuilds only its own routes while the
 * route configs around them are reassembled (push/incremental.ts keeps these units across pushes).
 */
function sharedRoutes(scope: ProxyScope, key: string, build: (s: ProxyScope) => Route[]): Route[] {
  return sharedUnit(scope.mesh, scope.proxy, `${key}|${scope.shareKey}`, (view) => build(scopeForView(scope, view)));
}

/** The services a port's route config is built from: `services` with the port, and the ExternalName aliases. */
function servicesOnPort(scope: ProxyScope, port: number, services: readonly MeshService[]): MeshService[] {
  // ExternalName Services are in the registry istiod matches VirtualService hosts against, but get no default route.
  return [...services, ...scope.aliasServices].filter((s) => s.ports.some((p) => p.port === port));
}

/** istiod's selectVirtualServices: on port 80 every mesh VirtualService, elsewhere those with a host overlapping a service on the port. */
function selectVirtualServices(scope: ProxyScope, port: number, onPort: readonly MeshService[]): readonly MeshVirtualService[] {
  if (port === 80) return scope.meshVirtualServices;
  const overlapsOnPort = overlapIndex(onPort);
  return scope.meshVirtualServices.filter((v) => v.hosts.some(overlapsOnPort));
}

/** The VirtualServices the route config of `port` is built from (what a unit of it is keyed by). */
export function portVirtualServices(scope: ProxyScope, port: number, services: readonly MeshService[] = scope.listenerServices): readonly MeshVirtualService[] {
  return selectVirtualServices(scope, port, servicesOnPort(scope, port, services));
}

/** Virtual hosts of the sidecar route config of `port` (without the catch-all), sorted by name. */
export function outboundVirtualHosts(
  scope: ProxyScope,
  port: number,
  ctxFor: (s: ProxyScope) => RouteContext,
  dnsDomain: string,
  services: readonly MeshService[] = scope.listenerServices,
): VirtualHost[] {
  const onPort = servicesOnPort(scope, port, services);
  const byHost = new Map(onPort.map((s) => [s.host, s]));
  const vss = selectVirtualServices(scope, port, onPort);
  const groups: HostGroup[] = [];
  const taken = new Set<MeshService>();
  for (const vs of vss) {
    const routes = sharedRoutes(scope, `vs-routes|${objectId(vs.vs)}|${port}`, (s) => virtualServiceRoutes(vs, ctxFor(s)));
    if (routes.length === 0) continue;
    const { plainHosts, services } = separateHosts(vs, onPort, byHost, scope.virtualServices);
    const routed = services.filter((s) => routedPort(s, port));
    if (routed.length === 0 && port !== 80) continue;
    routed.forEach((s) => taken.add(s));
    groups.push({ plainHosts, services: routed, routes });
  }
  for (const svc of onPort) {
    if (taken.has(svc) || !routedPort(svc, port) || svc.externalName !== undefined) continue;
    const routes = sharedRoutes(scope, `default-route|${objectId(svc)}|${port}`, (s) => {
      const cluster = outboundClusterName(port, undefined, svc.host);
      return [defaultRoute(cluster, svc.host, port, serviceHashPolicy(svc, port, ctxFor(s)), s.mesh.options.defaultHttpRetryPolicy)];
    });
    groups.push({ plainHosts: [], services: [svc], routes });
  }
  return buildVirtualHosts(groups, port, dnsDomain, (h) => scope.aliasesOf(h));
}

/**
 * istiod's separateVSHostsAndServices: the VirtualService's hosts that are services on the port (a wildcard
 * host takes the services for which it is the most specific VirtualService host), and the rest.
 */
function separateHosts(
  vs: MeshVirtualService,
  onPort: MeshService[],
  byHost: ReadonlyMap<string, MeshService>,
  bound: ReadonlyMap<string, MeshVirtualService>,
): { plainHosts: string[]; services: MeshService[] } {
  const plainHosts: string[] = [];
  const services: MeshService[] = [];
  for (const h of vs.hosts) {
    if (h.startsWith("*")) continue;
    const svc = byHost.get(h);
    if (svc) services.push(svc);
    else plainHosts.push(h);
  }
  for (const h of vs.hosts) {
    if (!h.startsWith("*")) continue;
    let found = false;
    for (const svc of onPort) {
      if (!hostsOverlap(svc.host, h)) continue;
      found = true;
      if (bound.get(svc.host) === vs) services.push(svc);
    }
    if (!found) plainHosts.push(h);
  }
  return { plainHosts, services };
}

function buildVirtualHosts(groups: HostGroup[], port: number, dnsDomain: string, aliasesOf: (host: string) => readonly MeshService[]): VirtualHost[] {
  const names = new Set<string>();
  const domainsUsed = new Set<string>();
  const out: VirtualHost[] = [];
  const add = (host: string, candidates: string[], routes: Route[]) => {
    const name = virtualHostName(host, port);
    if (names.has(name)) return;
    names.add(name);
    const domains = candidates.filter((d) => !domainsUsed.has(d.toLowerCase()));
    domains.forEach((d) => domainsUsed.add(d.toLowerCase()));
    if (domains.length > 0) out.push({ name, domains, routes, include_request_attempt_count: true });
  };
  for (const g of groups) {
    for (const h of g.plainHosts) add(h.toLowerCase(), [ipv6Compliant(h.toLowerCase())], g.routes);
    for (const svc of g.services) add(svc.host, vhostDomains(svc, dnsDomain, aliasesOf(svc.host)), g.routes);
  }
  // Stable sort by name, as istiod's SortVirtualHosts.
  return out.sort((a, b) => (String(a.name) < String(b.name) ? -1 : String(a.name) > String(b.name) ? 1 : 0));
}

function ipv6Compliant(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/**
 * Istio's domains for a service seen from a proxy (generateVirtualHostDomains): for its host and then each
 * ExternalName alias of it, the name, the name with a trailing dot, the short names its DNS search path allows
 * (same namespace: `svc`, `svc.ns.svc`, `svc.ns`; other namespaces: `svc.ns`, `svc.ns.svc`); for a headless
 * Kubernetes Service each of those under `*.`; then every address.
 */
export function vhostDomains(svc: MeshService, proxyDomain: string, aliases: readonly MeshService[] = []): string[] {
  const out: string[] = [];
  for (const name of [svc.host, ...aliases.map((a) => a.host)]) {
    out.push(name);
    if (!name.startsWith("*")) out.push(`${name}.`);
    out.push(...kubeAltHosts(name, proxyDomain));
  }
  // A headless Kubernetes Service: its pods' own DNS names (<pod>.<svc>...) route to it too (istiod's wildcardDomainPrefix).
  if (svc.source === "kubernetes" && svc.resolution === "ORIGINAL_DST") out.push(...out.map((d) => `*.${d}`));
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
