/**
 * Which Gateway servers a router proxy serves, merged into listeners the way
 * Istio's MergeGateways does:
 * - a Gateway selects the proxy when `spec.selector` is a subset of the
 *   proxy's labels (no selector: every router), from any namespace (Istio's
 *   default, PILOT_SCOPE_GATEWAY_TO_NAMESPACE off);
 * - gateways are taken oldest first; on one listener (`<bind>_<port>`) the
 *   first server decides: plain-text HTTP servers merge into one route config
 *   (`http.<port>`), TLS servers (HTTPS/TLS, terminating or passthrough) share
 *   the listener split by SNI, a TCP server owns its port alone. A server that
 *   does not fit is left out with a diagnostic, as Istio rejects it;
 * - the listener port is the workload port: when a Service selecting the
 *   gateway pod maps the server port to a targetPort (80 -> 8080), the
 *   listener binds the targetPort, as Istio's port translation does.
 */
import type { Diagnostic, Gateway, GatewayServer } from "../model/types";
import type { Mesh } from "../model/mesh";
import type { ProxyView } from "../model/proxy";
import { hasLabels, labelsMatch, olderFirst } from "../model/mesh-hosts";
import { isHttpProtocol, namedProtocol } from "../model/mesh-protocol";
import { gatewayHttpRouteName, gatewayHttpsRouteName, gatewayListenerName } from "./names";

/**
 * http: plain-text HTTP (HCM, RDS `http.<port>`); https: HTTPS terminated here
 * (HCM behind TLS); tls-terminate: TLS terminated here, then tcp_proxy;
 * passthrough: TLS forwarded by SNI; tcp: opaque TCP (and mongo/mysql/redis).
 */
export type ServerKind = "http" | "https" | "tls-terminate" | "passthrough" | "tcp";

export interface BoundServer {
  gateway: Gateway;
  /** `namespace/name`: how VirtualServices name the gateway in `gateways:`. */
  gatewayName: string;
  server: GatewayServer;
  /** Position in spec.servers (for diagnostics). */
  index: number;
  kind: ServerKind;
  /** The port as written in the server (vhost names and routes use it). */
  serverPort: number;
  /** RDS name of http and https servers. */
  routeName?: string;
  /** SNI names a terminating server's filter chain matches; ["*"] matches any. */
  sniHosts: string[];
}

export interface MergedListener {
  name: string;
  bind: string;
  /** The port the listener binds (after port translation). */
  port: number;
  /** Servers in merge order; the first decides the listener's kind. */
  servers: BoundServer[];
  /** SNI names already claimed by terminating servers ("*" = a match-all chain). */
  claimedSni: Set<string>;
}

export interface MergedGateways {
  /** Sorted by listener name. */
  listeners: MergedListener[];
  diagnostics: Diagnostic[];
}

export function mergeGateways(mesh: Mesh, proxy: ProxyView): MergedGateways {
  const diagnostics: Diagnostic[] = [];
  const byName = new Map<string, MergedListener>();
  const selected = mesh.gateways.filter((g) => labelsMatch(g.spec.selector ?? {}, proxy.labels)).sort((a, b) => olderFirst(a.metadata, b.metadata));
  for (const gateway of selected) {
    gateway.spec.servers.forEach((server, index) => {
      const problem = (message: string): void => {
        diagnostics.push(serverDiagnostic(gateway, index, message));
      };
      const kind = classify(server, problem);
      if (!kind) return;
      const bind = server.bind ?? "0.0.0.0";
      if (bind.startsWith("unix://")) {
        problem(`bind ${bind}: unix domain sockets are not supported by mini-pilot; server left out`);
        return;
      }
      for (const port of listenerPorts(mesh, proxy, server.port.number)) {
        const bound = boundServer(gateway, server, index, kind, bind, port);
        const name = gatewayListenerName(bind, port);
        const existing = byName.get(name);
        if (!existing) {
          byName.set(name, { name, bind, port, servers: [bound], claimedSni: new Set(claims(bound)) });
          continue;
        }
        const reason = conflict(existing, bound);
        if (reason) problem(`listener ${name}: ${reason}; server left out`);
        else {
          existing.servers.push(bound);
          for (const n of claims(bound)) existing.claimedSni.add(n);
        }
      }
    });
  }
  const listeners = [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { listeners, diagnostics };
}

/** The server's kind, or undefined (with a diagnostic) when mini-pilot cannot serve it. */
function classify(server: GatewayServer, problem: (m: string) => void): ServerKind | undefined {
  const protocol = namedProtocol(server.port.protocol, server.port.name).protocol;
  if (isHttpProtocol(protocol)) return "http";
  if (protocol === "UDP") {
    problem("UDP servers are not supported; server left out");
    return undefined;
  }
  if (protocol !== "HTTPS" && protocol !== "TLS") return "tcp";
  const tls = server.tls;
  // Istio's TLS mode enum starts at PASSTHROUGH: an unset mode passes through.
  const mode = tls?.mode ?? "PASSTHROUGH";
  if (mode === "PASSTHROUGH") return "passthrough";
  if (mode === "AUTO_PASSTHROUGH") {
    problem("tls.mode AUTO_PASSTHROUGH needs SNI-DNAT clusters, which mini-pilot does not generate; server left out");
    return undefined;
  }
  // A credentialName is served over SDS from the proxy's own namespace (gateway-tls.ts, secrets.ts).
  const fromSecret = !!tls?.credentialName || (tls?.credentialNames?.length ?? 0) > 0;
  const files = tls?.tlsCertificates?.length ? tls.tlsCertificates : [{ serverCertificate: tls?.serverCertificate, privateKey: tls?.privateKey }];
  if (!fromSecret && files.some((c) => !c.serverCertificate || !c.privateKey)) {
    problem("tls needs credentialName or serverCertificate and privateKey; server left out");
    return undefined;
  }
  return protocol === "HTTPS" ? "https" : "tls-terminate";
}

/**
 * Istio's port translation: the targetPorts that Services selecting this
 * gateway pod map the server port to; the port itself when there are none.
 */
function listenerPorts(mesh: Mesh, proxy: ProxyView, number: number): number[] {
  const ports = new Set<number>();
  if (hasLabels(proxy.labels)) {
    for (const svc of mesh.services) {
      if (svc.namespace !== proxy.namespace || !svc.selector || !labelsMatch(svc.selector, proxy.labels)) continue;
      for (const p of svc.ports) if (p.port === number && p.targetPort !== undefined) ports.add(p.targetPort);
    }
  }
  return ports.size > 0 ? [...ports].sort((a, b) => a - b) : [number];
}

function boundServer(gateway: Gateway, server: GatewayServer, index: number, kind: ServerKind, bind: string, port: number): BoundServer {
  const { name, namespace } = gateway.metadata;
  const out: BoundServer = { gateway, gatewayName: `${namespace}/${name}`, server, index, kind, serverPort: server.port.number, sniHosts: [] };
  const bindSuffix = bind === "0.0.0.0" ? undefined : bind;
  // Istio names the HTTP route by the translated port, the HTTPS one by the port as written.
  if (kind === "http") out.routeName = gatewayHttpRouteName(port, bindSuffix);
  if (kind === "https") out.routeName = gatewayHttpsRouteName(server.port.number, server.port.name, name, namespace, bindSuffix);
  if (kind === "https" || kind === "tls-terminate") out.sniHosts = sniHosts(server.hosts);
  return out;
}

/** Server hosts without their `namespace/` part, sorted; a `*` anywhere matches every name. */
export function sniHosts(hosts: string[]): string[] {
  const names = [...new Set(hosts.map((h) => (h.includes("/") ? h.slice(h.indexOf("/") + 1) : h).toLowerCase()))].sort();
  return names.includes("*") ? ["*"] : names;
}

function claims(s: BoundServer): string[] {
  return s.kind === "https" || s.kind === "tls-terminate" ? s.sniHosts : [];
}

const isPlaintext = (k: ServerKind) => k === "http" || k === "tcp";

/** Why `incoming` cannot join the listener, or undefined when it can. */
function conflict(l: MergedListener, incoming: BoundServer): string | undefined {
  const first = l.servers[0]!;
  if (first.kind === "http" && incoming.kind === "http") return undefined;
  if (isPlaintext(first.kind) || isPlaintext(incoming.kind)) {
    return `already serves ${first.server.port.protocol} for gateway ${first.gatewayName}; ${incoming.server.port.protocol} cannot share the port`;
  }
  const taken = claims(incoming).filter((n) => l.claimedSni.has(n));
  if (taken.length > 0) return `duplicate SNI host names ${taken.join(", ")}`;
  return undefined;
}

function serverDiagnostic(gateway: Gateway, index: number, message: string): Diagnostic {
  const d: Diagnostic = {
    severity: "warning",
    kind: "Gateway",
    namespace: gateway.metadata.namespace,
    name: gateway.metadata.name,
    field: `spec.servers[${index}]`,
    message,
  };
  if (gateway.origin) d.origin = gateway.origin;
  return d;
}
