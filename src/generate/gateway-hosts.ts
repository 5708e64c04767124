/**
 * How Gateway server hosts and VirtualService hosts meet (Istio's host.Names
 * semantics): server hosts are `host` or `<namespace>/host` (namespace `.` is
 * the gateway's own, `*` any), and only the VirtualServices of that namespace
 * see a namespaced host; wildcards match on suffixes; an intersection keeps the more
 * specific name of each matching pair.
 */
import type { Mesh, MeshVirtualService } from "../model/mesh";
import { bindsTo } from "../model/mesh";
import { visibleTo } from "../model/mesh-hosts";

/** Is every name `a` matches also matched by `b`? (Istio's Name.SubsetOf) */
export function hostSubsetOf(a: string, b: string): boolean {
  if (a === b || b === "*") return true;
  if (!b.startsWith("*")) return false;
  return a.endsWith(b.slice(1));
}

/** Do two (possibly wildcard) hosts share any name? (Istio's Name.Matches) */
export function hostsOverlap(a: string, b: string): boolean {
  return hostSubsetOf(a, b) || hostSubsetOf(b, a);
}

/**
 * The server hosts a VirtualService in `vsNamespace` may use: plain hosts and
 * those under namespace `*` always, `ns/host` only for that namespace, `./host`
 * only for the gateway's own namespace. Lower-cased, namespace part removed.
 */
export function serverHostsFor(hosts: string[], vsNamespace: string, gatewayNamespace: string): string[] {
  const out: string[] = [];
  for (const h of hosts) {
    const slash = h.indexOf("/");
    if (slash < 0) {
      out.push(h.toLowerCase());
      continue;
    }
    const ns = h.slice(0, slash);
    if (ns === "*" || ns === vsNamespace || (ns === "." && gatewayNamespace === vsNamespace)) out.push(h.slice(slash + 1).toLowerCase());
  }
  return out;
}

/** Istio's Names.Intersection: for each overlapping pair, the more specific name; first-seen order, no duplicates. */
export function intersectHosts(serverHosts: string[], vsHosts: string[]): string[] {
  const out: string[] = [];
  const add = (h: string) => {
    if (!out.includes(h)) out.push(h);
  };
  for (const s of serverHosts) {
    for (const v of vsHosts) {
      if (hostSubsetOf(s, v)) add(s);
      else if (hostSubsetOf(v, s)) add(v);
    }
  }
  return out;
}

/** Does the VirtualService name any host this server serves (TCP/TLS servers only need "any")? */
export function vsMatchesServer(vs: MeshVirtualService, serverHosts: string[], gatewayNamespace: string): boolean {
  const hosts = serverHostsFor(serverHosts, vs.namespace, gatewayNamespace);
  return vs.hosts.some((v) => hosts.some((s) => hostsOverlap(s, v.toLowerCase())));
}

/**
 * VirtualServices bound to each gateway (`namespace/name`) and exported to the
 * proxy's namespace, oldest first (Istio's VirtualServicesForGateway).
 */
export function gatewayVirtualServices(mesh: Mesh, proxyNamespace: string, gatewayNames: Iterable<string>): Map<string, MeshVirtualService[]> {
  const out = new Map<string, MeshVirtualService[]>();
  for (const g of gatewayNames) {
    if (out.has(g)) continue;
    out.set(
      g,
      mesh.virtualServices.filter((v) => bindsTo(v, g) && visibleTo(v.exportTo, proxyNamespace)),
    );
  }
  return out;
}
