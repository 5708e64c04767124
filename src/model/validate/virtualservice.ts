/**
 * VirtualService spec: hosts and gateways, and the TCP/TLS routes (HTTP routes
 * are in httproute.ts). Follows Istio's ValidateVirtualService.
 */
import type { L4MatchAttributes, RouteDestination, TCPRoute, TLSRoute, VirtualServiceSpec } from "../types";
import { at, type Ctx, idx } from "./ctx";
import { destination, exportTo, gatewayNames, labelMap } from "./common";
import { checkTotalWeight, httpRoute, matchPort } from "./httproute";
import { checkIPOrCIDR, checkWildcardDomain, isIPAddress } from "./names";
import { checked, int, list, object, str, type Reader } from "./read";

const subnets: Reader<string[]> = checked(list(str), (values, path, ctx) => {
  values.forEach((s, i) => {
    const e = checkIPOrCIDR(s);
    if (e) ctx.error(idx(path, i), e);
  });
});

const l4Fields = { destinationSubnets: subnets, port: matchPort, sourceLabels: labelMap, sourceNamespace: str, gateways: gatewayNames };

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
    ctx.error(at(path, "gateways"), "delegate virtual service must have no gateways specified (a VirtualService without hosts is a delegate)");
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
        const e = checkWildcardDomain(sni);
        if (e && isIPAddress(sni)) ctx.warn(p, `using an IP address ("${sni}") goes against SNI spec and most clients do not support this`);
        else if (e) ctx.error(p, e);
        else if (!hosts.some((h) => hostSubsetOf(sni, h))) {
          ctx.error(p, `SNI host "${sni}" is not a compatible subset of any of the virtual service hosts: [${hosts.join(", ")}]`);
        }
      });
    });
  });
}

type AnyRule = { name?: string; match?: object[] };

function ruleName(r: AnyRule, i: number): string {
  return r.name ? JSON.stringify(r.name) : `#${i}`;
}

function matchKey(m: object): string {
  const { name: _name, ...rest } = m as { name?: string };
  return JSON.stringify(rest);
}

/**
 * Istio's unreachable-rule analysis: a rule after a rule without matches never
 * sees traffic, and a match identical to an earlier rule's is never used.
 * Warnings only. (Istio's extra prefix-overlap analysis is not ported.)
 */
function warnUnreachable(rules: AnyRule[] | undefined, path: string, ctx: Ctx): void {
  const seen = new Map<string, number>();
  let catchAll = -1;
  rules?.forEach((r, i) => {
    const rp = idx(path, i);
    const unused = (reason: string): void => ctx.warn(rp, `virtualService rule ${ruleName(r, i)} not used (${reason})`);
    if (!r.match || r.match.length === 0) {
      if (catchAll >= 0) unused("only the last rule can have no matches");
      catchAll = i;
      return;
    }
    let duplicates = 0;
    r.match.forEach((m, j) => {
      if (catchAll >= 0) {
        unused("route without matches defined before");
        return;
      }
      const key = matchKey(m);
      const earlier = seen.get(key);
      if (earlier === undefined) {
        seen.set(key, i);
        return;
      }
      duplicates++;
      const name = (m as { name?: string }).name;
      const mName = name ? JSON.stringify(name) : `#${j}`;
      const dup = rules[earlier] ?? {};
      ctx.warn(
        idx(at(rp, "match"), j),
        `virtualService rule ${ruleName(r, i)} match ${mName} is not used (duplicate/overlapping match in rule ${ruleName(dup, earlier)})`,
      );
    });
    if (duplicates === r.match.length) unused("all matches used by prior rules");
  });
}

function checkVirtualService(spec: Partial<VirtualServiceSpec>, path: string, ctx: Ctx): void {
  const hosts = spec.hosts ?? [];
  if (hosts.length === 0) checkDelegate(spec, path, ctx);
  const gateways = spec.gateways ?? [];
  const appliesToMesh = gateways.length === 0 || gateways.includes("mesh");
  checkHosts(hosts, appliesToMesh, at(path, "hosts"), ctx);
  if (!spec.http?.length && !spec.tcp?.length && !spec.tls?.length) ctx.error(path, "http, tcp or tls must be provided in virtual service");
  checkSniHosts(spec, path, ctx);
  warnUnreachable(spec.http, at(path, "http"), ctx);
  warnUnreachable(spec.tcp, at(path, "tcp"), ctx);
  warnUnreachable(spec.tls, at(path, "tls"), ctx);
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
