/**
 * VirtualService spec: hosts and gateways, and the TCP/TLS routes (HTTP routes
 * are in httproute.ts). Follows Istio's ValidateVirtualService.
 */
import type { L4MatchAttributes, RouteDestination, TCPRoute, TLSRoute, VirtualServiceSpec } from "../types";
import { at, type Ctx, idx } from "./ctx";
import { destination, exportTo, gatewayNames, labelMap, portNumber } from "./common";
import { checkTotalWeight, httpRoute } from "./httproute";
import { checkIPOrCIDR, checkWildcardDomain, isIPAddress } from "./names";
import { checked, int, list, object, str, type Reader } from "./read";

const subnets: Reader<string[]> = checked(list(str), (values, path, ctx) => {
  values.forEach((s, i) => {
    const e = checkIPOrCIDR(s);
    if (e) ctx.error(idx(path, i), e);
  });
});

const l4Fields = { destinationSubnets: subnets, port: portNumber, sourceLabels: labelMap, sourceNamespace: str, gateways: gatewayNames };

const l4Match = object<L4MatchAttributes>(l4Fields);

type TLSMatch = TLSRoute["match"][number];

const tlsMatch = object<TLSMatch>(
  { ...l4Fields, sniHosts: list(str) },
  {
    check: (m, path, ctx) => {
      if (!m.sniHosts || m.sniHosts.length === 0) ctx.error(at(path, "sniHosts"), "TLS match must have at least one SNI host");
    },
  },
);

const routeDestination = object<RouteDestination>(
  {
    destination,
    weight: checked(int, (w, path, ctx) => {
      if (w < 0) ctx.error(path, `weight ${w} < 0`);
    }),
  },
  {
    check: (d, path, ctx) => {
      if (!d.destination) ctx.error(at(path, "destination"), "destination is required");
    },
  },
);

const tcpRoute = object<TCPRoute>(
  { match: list(l4Match), route: list(routeDestination) },
  {
    check: (r, path, ctx) => {
      if (!r.route || r.route.length === 0) ctx.error(at(path, "route"), "TCP route is required");
      checkTotalWeight(r.route, at(path, "route"), ctx);
    },
  },
);

const tlsRoute = object<TLSRoute>(
  { match: list(tlsMatch), route: list(routeDestination) },
  {
    check: (r, path, ctx) => {
      if (!r.match || r.match.length === 0) ctx.error(at(path, "match"), "TLS route must have at least one match condition");
      if (!r.route || r.route.length === 0) ctx.error(at(path, "route"), "TLS route is required");
      checkTotalWeight(r.route, at(path, "route"), ctx);
    },
  },
);

/** Is every name `a` matches also matched by `b`? (`*` and `*.suffix` wildcards) */
export function hostSubsetOf(a: string, b: string): boolean {
  if (b === "*") return true;
  if (b.startsWith("*")) return a.endsWith(b.slice(1));
  return a === b;
}

function checkHosts(hosts: string[], appliesToMesh: boolean, path: string, ctx: Ctx): void {
  let allValid = true;
  hosts.forEach((h, i) => {
    const p = idx(path, i);
    const e = isIPAddress(h) ? undefined : checkWildcardDomain(h);
    if (e) ctx.error(p, e);
    else if (h === "*" && appliesToMesh) ctx.error(p, "wildcard host * is not allowed for virtual services bound to the mesh gateway");
    allValid &&= !e && !(h === "*" && appliesToMesh);
  });
  if (!allValid) return;
  for (let i = 0; i < hosts.length; i++) {
    for (let j = i + 1; j < hosts.length; j++) {
      const [a = "", b = ""] = [hosts[i], hosts[j]];
      if (hostSubsetOf(a, b) || hostSubsetOf(b, a)) ctx.error(idx(path, j), `duplicate hosts in virtual service: ${a} & ${b}`);
    }
  }
}

function checkDelegate(spec: Partial<VirtualServiceSpec>, path: string, ctx: Ctx): void {
  if ((spec.gateways?.length ?? 0) > 0) {
    ctx.error(at(path, "hosts"), "at least one host is required (only a delegate VirtualService, which has no gateways, may omit hosts)");
  }
  if ((spec.tcp?.length ?? 0) > 0) ctx.error(at(path, "tcp"), "delegate virtual service must have no tcp route specified");
  if ((spec.tls?.length ?? 0) > 0) ctx.error(at(path, "tls"), "delegate virtual service must have no tls route specified");
  spec.http?.forEach((r, i) => {
    if (r.delegate) ctx.error(at(idx(at(path, "http"), i), "delegate"), "delegate HTTP route cannot contain delegate");
  });
}

function checkSniHosts(spec: Partial<VirtualServiceSpec>, path: string, ctx: Ctx): void {
  const hosts = spec.hosts ?? [];
  spec.tls?.forEach((route, i) => {
    route.match?.forEach((m, j) => {
      m.sniHosts?.forEach((sni, k) => {
        const p = idx(at(idx(at(idx(at(path, "tls"), i), "match"), j), "sniHosts"), k);
        const e = isIPAddress(sni) ? undefined : checkWildcardDomain(sni);
        if (e) ctx.error(p, e);
        else if (!hosts.some((h) => hostSubsetOf(sni, h))) {
          ctx.error(p, `SNI host "${sni}" is not a compatible subset of any of the virtual service hosts: [${hosts.join(", ")}]`);
        }
      });
    });
  });
}

// Istio warns about rules that can never match; the first rule without a match catches everything.
function warnUnreachable(spec: Partial<VirtualServiceSpec>, path: string, ctx: Ctx): void {
  const catchAll = spec.http?.findIndex((r) => !r.match || r.match.length === 0) ?? -1;
  if (catchAll < 0) return;
  for (let i = catchAll + 1; i < (spec.http?.length ?? 0); i++) {
    ctx.warn(idx(at(path, "http"), i), `rule not used: rule #${catchAll} has no match and catches every request`);
  }
}

function checkVirtualService(spec: Partial<VirtualServiceSpec>, path: string, ctx: Ctx): void {
  const hosts = spec.hosts ?? [];
  if (hosts.length === 0) checkDelegate(spec, path, ctx);
  const gateways = spec.gateways ?? [];
  const appliesToMesh = gateways.length === 0 || gateways.includes("mesh");
  checkHosts(hosts, appliesToMesh, at(path, "hosts"), ctx);
  if (!spec.http?.length && !spec.tcp?.length && !spec.tls?.length) ctx.error(path, "http, tcp or tls must be provided in virtual service");
  checkSniHosts(spec, path, ctx);
  warnUnreachable(spec, path, ctx);
}

export const virtualServiceSpec = object<VirtualServiceSpec>(
  {
    hosts: list(str),
    gateways: gatewayNames,
    http: list(httpRoute),
    tcp: list(tcpRoute),
    tls: list(tlsRoute),
    exportTo: exportTo(false),
  },
  { check: checkVirtualService },
);
