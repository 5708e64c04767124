/**
 * Which outbound listeners a sidecar gets, by port protocol (Istio's
 * buildSidecarOutboundListener): HTTP ports share a wildcard listener
 * `0.0.0.0_<port>`; TCP and auto-detected ports get one listener per service
 * address `<address>_<port>`, the first service (by the scope's order) owning
 * an address:port. Auto-detected ports of services without an address share
 * the wildcard HTTP listener (its TCP fallback passes them through).
 */
import { isIP } from "node:net";
import type { MeshPort, MeshService } from "../model/mesh";
import { labelsMatch } from "../model/mesh-hosts";
import { isHttpProtocol, isSniffedProtocol, isTcpProtocol } from "../model/mesh-protocol";
import { addressListenerName, isCapturePort } from "./names";
import type { ProxyScope } from "./scope";

/**
 * Ports of the wildcard HTTP listeners (and their RDS) of the services with listeners (scope.listenerServices), ascending. The capture ports are left out: a
 * `0.0.0.0_15001` listener would clash with virtualOutbound.
 */
export function httpPorts(scope: ProxyScope): number[] {
  const ports = new Set<number>();
  for (const s of scope.listenerServices) {
    for (const p of s.ports) {
      if (isCapturePort(p.port)) continue;
      if (
        isHttpProtocol(p.protocol) ||
        (isSniffedProtocol(p.protocol) && s.addresses.length === 0 && !perEndpointListeners(s, endpointCount(scope, s, p.port)))
      )
        ports.add(p.port);
    }
  }
  return [...ports].sort((a, b) => a - b);
}

export interface AddressBinding {
  /** `<address>_<port>`. */
  name: string;
  address: string;
  service: MeshService;
  port: MeshPort;
}

/**
 * istiod's rule for "statefulsets/headless services": a service without address that passes connections through
 * (a headless Kubernetes Service; a ServiceEntry with resolution NONE that has endpoints or a workload selector)
 * gets, on its TCP and auto-detected ports, one listener per endpoint address instead of a wildcard one. A
 * Kubernetes Service without endpoints gets none (traffic to it could not work); such a ServiceEntry keeps the
 * wildcard fallback (then this is false).
 */
export function perEndpointListeners(svc: MeshService, endpointCount: number): boolean {
  if (svc.resolution !== "ORIGINAL_DST" || svc.addresses.length > 0) return false;
  return svc.source === "kubernetes" || svc.selector !== undefined || endpointCount > 0;
}

function endpointCount(scope: ProxyScope, svc: MeshService, port: number): number {
  return scope.mesh.endpoints.get(svc.host)?.get(port)?.length ?? 0;
}

/**
 * The endpoint addresses of a per-endpoint port (IPs only), without the proxy's own: its app reaching itself by pod
 * IP does not pass this listener (istiod compares with the proxy's first IP). Only a proxy the service selects can
 * be one of its endpoints, so only then is its IP looked at (proxies the service does not select share one view).
 */
function endpointAddresses(scope: ProxyScope, svc: MeshService, port: number): string[] {
  const eps = scope.mesh.endpoints.get(svc.host)?.get(port) ?? [];
  const own = svc.selector && labelsMatch(svc.selector, scope.proxy.labels) ? scope.proxy.ip : undefined;
  return [...new Set(eps.map((e) => e.address))].filter((a) => isIP(a) !== 0 && a !== own);
}

/**
 * The `<address>_<port>` listeners: TCP and auto-detected ports of services with addresses (of their endpoints for
 * headless services, perEndpointListeners), first owner wins.
 */
export function addressBindings(scope: ProxyScope): AddressBinding[] {
  const out: AddressBinding[] = [];
  const taken = new Set<string>();
  for (const svc of scope.listenerServices) {
    for (const p of svc.ports) {
      if (!isTcpProtocol(p.protocol) && !isSniffedProtocol(p.protocol)) continue;
      const addresses = perEndpointListeners(svc, endpointCount(scope, svc, p.port)) ? endpointAddresses(scope, svc, p.port) : svc.addresses;
      for (const address of addresses) {
        const name = addressListenerName(address, p.port);
        if (taken.has(name)) continue; // an older service already owns this address:port
        taken.add(name);
        out.push({ name, address, service: svc, port: p });
      }
    }
  }
  return out;
}
