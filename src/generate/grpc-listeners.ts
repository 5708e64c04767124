/**
 * API listeners for proxyless gRPC clients (Istio's grpcgen LDS). A gRPC
 * client dialling `xds:///<name>:<port>` asks for the listener `<name>:<port>`;
 * Istio answers for the FQDN and, for services in the client's namespace, the
 * short names its resolver expands (`svc`, `svc.ns`, `svc.ns.svc`). Each is an
 * HttpConnectionManager API listener with RDS `outbound|<port>||<fqdn>` and
 * the filters gRPC implements (fault, then router). The listener carries the
 * service address when there is one; nothing Envoy-only (no listener filters,
 * no original destination, no 0.0.0.0 socket).
 *
 * Only HTTP-family ports get listeners: Istio's route config for any other
 * port has no virtual host, so a client could not use it either (ports
 * without a protocol are sniffed by Envoy sidecars; a proxyless client cannot).
 */
import type { MeshService } from "../model/mesh";
import { isHttpProtocol } from "../model/mesh-protocol";
import { byName, grpcConfigSource, socketAddress, typed } from "./common";
import type { Listener } from "./envoy";
import { FAULT_FILTER, routerFilter } from "./route-filters";
import { grpcListenerName, grpcRouteName } from "./names";
import type { GrpcTarget } from "./grpc-routes";
import type { ProxyScope } from "./scope";

/** HTTP-family ports of the visible services a client can name (no wildcard hosts), by host then port. */
export function grpcTargets(scope: ProxyScope): GrpcTarget[] {
  const out: GrpcTarget[] = [];
  for (const service of scope.services) {
    if (service.host.includes("*")) continue;
    const ports = [...new Set(service.ports.filter((p) => isHttpProtocol(p.protocol)).map((p) => p.port))].sort((a, b) => a - b);
    for (const port of ports) out.push({ service, port });
  }
  return out;
}

export function grpcListeners(scope: ProxyScope, targets: GrpcTarget[]): Listener[] {
  const out: Listener[] = [];
  const seen = new Set<string>();
  for (const { service, port } of targets) {
    for (const host of dialledNames(service, scope.proxy.namespace, scope.proxy.dnsDomain)) {
      const name = grpcListenerName(host, port);
      if (seen.has(name)) continue; // a short name already taken by an earlier service
      seen.add(name);
      out.push(apiListener(name, service, port));
    }
  }
  return out.sort(byName);
}

/** The FQDN, plus the short names Istio's tryFindFQDN resolves for the client's namespace. */
function dialledNames(service: MeshService, namespace: string, dnsDomain: string): string[] {
  const suffix = `.${dnsDomain}`;
  if (!service.host.endsWith(suffix)) return [service.host];
  const short = service.host.slice(0, -suffix.length);
  if (short === "" || short.includes(".")) return [service.host];
  return [service.host, short, `${short}.${namespace}`, `${short}.${namespace}.svc`];
}

function apiListener(name: string, service: MeshService, port: number): Listener {
  const hcm = typed("envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", {
    // gRPC ignores stat_prefix, Envoy's schema requires one.
    stat_prefix: name,
    rds: { config_source: grpcConfigSource(), route_config_name: grpcRouteName(port, service.host) },
    http_filters: [{ name: FAULT_FILTER, typed_config: typed("envoy.extensions.filters.http.fault.v3.HTTPFault") }, routerFilter()],
  });
  const out: Listener = { name };
  // A ServiceEntry address may be a CIDR block, which is no socket address.
  // istiod writes the service's address, 0.0.0.0 for one without (gRPC does not read it).
  const address = service.addresses.find((a) => !a.includes("/"));
  out.address = socketAddress(address ?? "0.0.0.0", port);
  out.api_listener = { api_listener: hcm };
  return out;
}
