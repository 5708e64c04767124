/**
 * The proxy's own workload: the services in its namespace whose selector
 * matches its labels, one entry per workload (target) port. Inbound listeners
 * and clusters are built from these.
 */
import type { Mesh, MeshPort, MeshService } from "../model/mesh";
import type { ConnectionPoolSettings } from "../model/types";
import type { ProxyView } from "../model/proxy";
import { hasLabels, labelsMatch } from "../model/mesh-hosts";
import { isTcpProtocol, isHttpProtocol, isSniffedProtocol } from "../model/mesh-protocol";
import { isCapturePort } from "./names";

export interface InboundPort {
  /** The workload port traffic arrives on. */
  targetPort: number;
  /** The first service (by host) exposing it decides protocol and naming. */
  service: MeshService;
  port: MeshPort;
  /**
   * A target port that is a capture port (15001/15006): istiod builds its inbound cluster but no virtualInbound chain
   * (an HTTP chain there conflicts with its reserved listener; a TCP one would send the capture port's traffic back
   * into Envoy, so mini-pilot leaves that out too).
   */
  clusterOnly?: true;
  /** Where the inbound cluster sends traffic (a Sidecar ingress `defaultEndpoint`); absent: the original destination. */
  endpoint?: InboundEndpoint;
  /** The Sidecar's connection pool for this port (its ingress listener's, else `inboundConnectionPool`). */
  connectionPool?: ConnectionPoolSettings;
}

/** A Sidecar ingress defaultEndpoint: a loopback address, a Unix socket, or the original destination on another port. */
export type InboundEndpoint = { address: string; port: number } | { pipe: string } | { originalDestinationPort: number };

/** One entry per target port, sorted by port; UDP and unresolved named ports are left out. */
export function inboundPorts(mesh: Mesh, proxy: ProxyView): InboundPort[] {
  const byPort = new Map<number, InboundPort>();
  for (const svc of mesh.services) {
    if (svc.namespace !== proxy.namespace || !svc.selector) continue;
    if (!hasLabels(proxy.labels) || !labelsMatch(svc.selector, proxy.labels)) continue;
    for (const port of svc.ports) {
      if (port.targetPort === undefined) continue;
      if (!isHttpProtocol(port.protocol) && !isTcpProtocol(port.protocol) && !isSniffedProtocol(port.protocol)) continue;
      const ip: InboundPort = { targetPort: port.targetPort, service: svc, port };
      if (isCapturePort(port.targetPort)) ip.clusterOnly = true;
      if (!byPort.has(port.targetPort)) byPort.set(port.targetPort, ip);
    }
  }
  return [...byPort.values()].sort((a, b) => a.targetPort - b.targetPort);
}
