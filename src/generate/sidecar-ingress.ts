/**
 * Sidecar `ingress` listeners: when the proxy's Sidecar has any, they replace
 * the ports taken from the workload's services (istiod's
 * buildInboundChainConfigs / buildInboundClustersFromSidecar, with
 * PILOT_ALLOW_SIDECAR_SERVICE_INBOUND_LISTENER_MERGE off, its default). Each
 * becomes a virtualInbound chain on `port.number` and an `inbound|<port>||`
 * cluster whose endpoint is the `defaultEndpoint`:
 * - `127.0.0.1:<p>` / `[::1]:<p>`: that loopback address (STATIC);
 * - `unix://<path>`: that socket (STATIC, pipe);
 * - `0.0.0.0:<p>` / `[::]:<p>`: istiod writes the pod's own IP; mini-pilot
 *   sends the connection to its original destination (the pod IP) with the
 *   port replaced by `<p>` (ORIGINAL_DST with upstream_port_override): the
 *   same upstream, without making the config depend on the pod's IP;
 * - unset: the original destination, as for service ports.
 * Ingress `tls` is ignored, as istiod ignores it unless
 * ENABLE_TLS_ON_SIDECAR_INGRESS is set; `bind` and `captureMode` are not
 * implemented (the chain is on virtualInbound, reached through capture).
 *
 * Connection pools (istiod's InboundConnectionPoolForPort): an ingress
 * listener's `connectionPool` for its port, else the Sidecar's
 * `inboundConnectionPool`, on every inbound cluster, service ports included.
 */
import type { MeshService } from "../model/mesh";
import { namedProtocol } from "../model/mesh-protocol";
import type { ConnectionPoolSettings, Sidecar, SidecarIngressListener } from "../model/types";
import type { InboundEndpoint, InboundPort } from "./instances";

/** The Sidecar's ingress ports, sorted by port; undefined when it has none (service ports apply). */
export function sidecarIngressPorts(sidecar: Sidecar | undefined, servicePorts: InboundPort[]): InboundPort[] | undefined {
  const ingress = sidecar?.spec.ingress;
  if (!sidecar || !ingress?.length) return undefined;
  const byPort = new Map<number, InboundPort>();
  for (const l of ingress) {
    const n = l.port.number;
    if (byPort.has(n)) continue; // refused by validation
    const port = { name: l.port.name ?? "", port: n, protocol: namedProtocol(l.port.protocol, l.port.name ?? "").protocol, targetPort: n };
    // A service of the workload on this port names the chain (telemetry); else a made-up `<sidecar>.<namespace>` host, as istiod does.
    const service = servicePorts.find((p) => p.targetPort === n)?.service ?? syntheticService(sidecar);
    const ip: InboundPort = { targetPort: n, service, port };
    const endpoint = defaultEndpoint(l);
    if (endpoint) ip.endpoint = endpoint;
    byPort.set(n, ip);
  }
  return [...byPort.values()].sort((a, b) => a.targetPort - b.targetPort);
}

function syntheticService(sidecar: Sidecar): MeshService {
  const { name, namespace } = sidecar.metadata;
  return { host: `${name}.${namespace}`, name, namespace, source: "kubernetes", addresses: [], ports: [], exportTo: ["~"], resolution: "EDS", external: false };
}

function defaultEndpoint(l: SidecarIngressListener): InboundEndpoint | undefined {
  const ep = l.defaultEndpoint;
  if (!ep) return undefined;
  if (ep.startsWith("unix://")) return { pipe: ep.slice("unix://".length) };
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):([0-9]+)$/.exec(ep);
  if (!m) return undefined; // refused by validation
  const host = m[1] ?? m[2] ?? "";
  const port = Number(m[3]);
  if (host === "127.0.0.1" || host === "::1") return { address: host, port };
  if (host === "0.0.0.0" || host === "::") return { originalDestinationPort: port };
  return undefined;
}

/** The inbound ports with the Sidecar's connection pool for each (ports without one are returned as they are). */
export function withInboundConnectionPools(sidecar: Sidecar | undefined, ports: InboundPort[]): InboundPort[] {
  if (!sidecar) return ports;
  return ports.map((p) => {
    const pool = inboundConnectionPoolFor(sidecar, p.targetPort);
    return pool ? { ...p, connectionPool: pool } : p;
  });
}

function inboundConnectionPoolFor(sidecar: Sidecar, port: number): ConnectionPoolSettings | undefined {
  return sidecar.spec.ingress?.find((l) => l.port.number === port && l.connectionPool)?.connectionPool ?? sidecar.spec.inboundConnectionPool;
}
