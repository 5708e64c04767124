/**
 * Which outbound listeners a sidecar gets, by port protocol (Istio's
 * buildSidecarOutboundListener): HTTP ports share a wildcard listener
 * `0.0.0.0_<port>`; TCP and auto-detected ports get one listener per service
 * address `<address>_<port>`, the first service (by the scope's order) owning
 * an address:port. Auto-detected ports of services without an address share
 * the wildcard HTTP listener (its TCP fallback passes them through).
 */
import type { MeshPort, MeshService } from "../model/mesh";
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
      if (isHttpProtocol(p.protocol) || (isSniffedProtocol(p.protocol) && s.addresses.length === 0)) ports.add(p.port);
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

/** The `<address>_<port>` listeners: TCP and auto-detected ports of services with addresses, first owner wins. */
export function addressBindings(scope: ProxyScope): AddressBinding[] {
  const out: AddressBinding[] = [];
  const taken = new Set<string>();
  for (const svc of scope.listenerServices) {
    for (const p of svc.ports) {
      if (!isTcpProtocol(p.protocol) && !isSniffedProtocol(p.protocol)) continue;
      for (const address of svc.addresses) {
        const name = addressListenerName(address, p.port);
        if (taken.has(name)) continue; // an older service already owns this address:port
        taken.add(name);
        out.push({ name, address, service: svc, port: p });
      }
    }
  }
  return out;
}
