/**
 * Gateway RDS, as Istio's buildGatewayHTTPRouteConfig: one RouteConfiguration
 * for all plain-text HTTP servers on a listener (`http.<port>`) and one per
 * TLS-terminating HTTPS server (`https.<port>.<portName>.<gateway>.<ns>`).
 *
 * For each server, each VirtualService bound to its gateway contributes its
 * routes to one virtual host per host in the intersection of server hosts and
 * VirtualService hosts; the vhost is named `<host>:<serverPort>` and its only
 * domain is the host (the route config ignores the port in Host). Several
 * VirtualServices for one host append their routes; catch-all routes move to
 * the end. Hosts with identical route lists share one vhost (Istio's route
 * collapse). `tls.httpsRedirect` makes the vhost `require_tls: ALL`, and a
 * redirect-only vhost exists for every server host. Nothing to route: one
 * `blackhole:<port>` vhost that answers 404.
 */
import type { MeshVirtualService } from "../model/mesh";
import { byName } from "./common";
import type { Route, RouteConfiguration, VirtualHost } from "./envoy";
import { blackholeVirtualHostName, virtualHostName } from "./names";
import { RouteContext, virtualServiceRoutes } from "./routes";
import { intersectHosts, serverHostsFor } from "./gateway-hosts";
import type { BoundServer, MergedListener } from "./gateway-merge";
import type { ProxyScope } from "./scope";

/** What route building needs beyond the proxy scope: each gateway's VirtualServices. */
export interface GatewayContext {
  scope: ProxyScope;
  virtualServices: ReadonlyMap<string, MeshVirtualService[]>;
}

interface VHost {
  host: string;
  port: number;
  domains: string[];
  routes: Route[];
  /** Which (gateway, VirtualService) route lists were appended: equal lists mean equal routes. */
  sources: string[];
  requireTls: boolean;
}

export function gatewayRouteConfigs(ctx: GatewayContext, listeners: MergedListener[]): RouteConfiguration[] {
  const out: RouteConfiguration[] = [];
  for (const l of listeners) {
    const http = l.servers.filter((s) => s.kind === "http");
    if (http.length > 0) out.push(routeConfig(ctx, http[0]!.routeName!, http));
    for (const s of l.servers) if (s.kind === "https") out.push(routeConfig(ctx, s.routeName!, [s]));
  }
  return out.sort(byName);
}

function routeConfig(ctx: GatewayContext, name: string, servers: BoundServer[]): RouteConfiguration {
  const vhosts = new Map<string, VHost>();
  const built = new Map<string, Route[]>();
  for (const s of servers) {
    for (const vs of ctx.virtualServices.get(s.gatewayName) ?? []) {
      const hosts = intersectHosts(
        serverHostsFor(s.server.hosts, vs.namespace, s.gateway.metadata.namespace),
        vs.hosts.map((h) => h.toLowerCase()),
      );
      if (hosts.length === 0) continue;
      const source = `${s.gatewayName}|${vs.namespace}/${vs.vs.metadata.name}|${s.serverPort}`;
      let routes = built.get(source);
      if (!routes) {
        routes = virtualServiceRoutes(vs, routeContext(ctx.scope, s));
        built.set(source, routes);
      }
      if (routes.length === 0) continue; // no rule applies to this gateway: Istio skips the VirtualService
      for (const host of hosts) {
        const v = vhosts.get(host) ?? newVHost(vhosts, host, s.serverPort);
        v.routes.push(...routes);
        v.sources.push(source);
        if (s.server.tls?.httpsRedirect) v.requireTls = true;
      }
    }
    if (!s.server.tls?.httpsRedirect) continue;
    for (const raw of s.server.hosts) {
      const host = raw.toLowerCase();
      (vhosts.get(host) ?? newVHost(vhosts, host, s.serverPort)).requireTls = true;
    }
  }
  const virtualHosts = vhosts.size === 0 ? [blackholeVHost(servers[0]!.serverPort)] : collapse(vhosts).map(vhostJson).sort(byName);
  return {
    name,
    virtual_hosts: virtualHosts,
    validate_clusters: false,
    max_direct_response_body_size_bytes: 1048576,
    ignore_port_in_host_matching: true,
  };
}

function routeContext(scope: ProxyScope, s: BoundServer): RouteContext {
  return {
    mesh: scope.mesh,
    client: scope.client,
    clientNamespace: scope.proxy.namespace,
    gateways: [s.gatewayName],
    listenerPort: s.serverPort,
    destinationRule: (svc) => scope.destinationRule(svc),
  };
}

function newVHost(vhosts: Map<string, VHost>, host: string, port: number): VHost {
  const v: VHost = { host, port, domains: [host], routes: [], sources: [], requireTls: false };
  vhosts.set(host, v);
  return v;
}

/** Merge vhosts whose route lists came from the same sources (first host alphabetically keeps the name). */
function collapse(vhosts: Map<string, VHost>): VHost[] {
  const byKey = new Map<string, VHost>();
  const out: VHost[] = [];
  for (const host of [...vhosts.keys()].sort()) {
    const v = vhosts.get(host)!;
    const key = `${v.requireTls}\n${v.sources.join("\n")}`;
    const first = byKey.get(key);
    if (first) {
      first.domains.push(...v.domains);
      continue;
    }
    byKey.set(key, v);
    out.push(v);
  }
  return out;
}

function vhostJson(v: VHost): VirtualHost {
  const out: VirtualHost = { name: virtualHostName(v.host, v.port), domains: v.domains, routes: catchAllLast(v.routes), include_request_attempt_count: true };
  if (v.requireTls) out.require_tls = "ALL";
  return out;
}

function blackholeVHost(port: number): VirtualHost {
  return { name: blackholeVirtualHostName(port), domains: ["*"], routes: [] };
}

/** Istio's SortVHostRoutes: catch-all routes (prefix "/" with no header or query match) after the rest, order kept otherwise. */
function catchAllLast(routes: Route[]): Route[] {
  const isCatchAll = (r: Route) => {
    const m = r.match ?? {};
    const all = m.prefix === "/" || m.safe_regex?.regex === "*";
    return all && !m.headers && !m.query_parameters;
  };
  return [...routes.filter((r) => !isCatchAll(r)), ...routes.filter(isCatchAll)];
}
