/**
 * The one naming scheme for generated resources (Istio's, so `istioctl
 * proxy-config` users recognise them). Every generator builds names here.
 */

export const BLACKHOLE_CLUSTER = "BlackHoleCluster";
export const PASSTHROUGH_CLUSTER = "PassthroughCluster";
export const INBOUND_PASSTHROUGH_CLUSTER = "InboundPassthroughCluster";

export const VIRTUAL_OUTBOUND_LISTENER = "virtualOutbound";
export const VIRTUAL_INBOUND_LISTENER = "virtualInbound";
export const VIRTUAL_OUTBOUND_PORT = 15001;
export const VIRTUAL_INBOUND_PORT = 15006;

/** Ports the capture listeners own on 0.0.0.0; no other wildcard listener may use them. */
export function isCapturePort(port: number): boolean {
  return port === VIRTUAL_OUTBOUND_PORT || port === VIRTUAL_INBOUND_PORT;
}

/** Catch-all virtual hosts (and their single route). */
export const ALLOW_ANY_VHOST = "allow_any";
export const BLOCK_ALL_VHOST = "block_all";

/** Filter chain names Istio uses on the capture listeners. */
export const PASSTHROUGH_FILTER_CHAIN = "PassthroughFilterChain";
export const VIRTUAL_OUTBOUND_BLACKHOLE_CHAIN = "virtualOutbound-blackhole";
export const VIRTUAL_OUTBOUND_CATCHALL_CHAIN = "virtualOutbound-catchall-tcp";
export const VIRTUAL_INBOUND_BLACKHOLE_CHAIN = "virtualInbound-blackhole";
/** virtualInbound's passthrough chain for HTTP (its TCP one is named like the listener). */
export const VIRTUAL_INBOUND_CATCHALL_HTTP_CHAIN = "virtualInbound-catchall-http";

/** Source address inbound traffic is sent from, so iptables lets it through to the app. */
export const INBOUND_BIND_ADDRESS = "127.0.0.6";

/** `outbound|<port>|<subset>|<host>` (subset empty when none). */
export function outboundClusterName(port: number, subset: string | undefined, host: string): string {
  return `outbound|${port}|${subset ?? ""}|${host}`;
}

/** `inbound|<targetPort>||`. */
export function inboundClusterName(targetPort: number): string {
  return `inbound|${targetPort}||`;
}

export interface ParsedClusterName {
  direction: "outbound" | "inbound";
  port: number;
  subset: string;
  host: string;
}

/** Inverse of the two builders above; undefined for special clusters. */
export function parseClusterName(name: string): ParsedClusterName | undefined {
  const parts = name.split("|");
  if (parts.length !== 4) return undefined;
  const [direction, port, subset, host] = parts as [string, string, string, string];
  if (direction !== "outbound" && direction !== "inbound") return undefined;
  const n = Number(port);
  if (!Number.isInteger(n) || n <= 0) return undefined;
  return { direction, port: n, subset, host };
}

/** Sidecar outbound HTTP listener (shared by every HTTP service on the port). */
export function wildcardListenerName(port: number): string {
  return `0.0.0.0_${port}`;
}

/** Sidecar outbound TCP listener for one service address. */
export function addressListenerName(address: string, port: number): string {
  return `${address}_${port}`;
}

/** RDS name of a sidecar outbound HTTP port. */
export function sidecarRouteName(port: number): string {
  return String(port);
}

/** RDS name of an auto-detected service port's own listener: `<host>:<port>` (Istio's, for sniffed services). */
export function sniffedRouteName(host: string, port: number): string {
  return `${host}:${port}`;
}

/** Inbound virtual host name. */
export function inboundVirtualHostName(port: number): string {
  return `inbound|http|${port}`;
}

/** Virtual host of one service on one port. */
export function virtualHostName(host: string, port: number): string {
  return `${host}:${port}`;
}

/** Gateway listener: `<bind>_<port>`, bind 0.0.0.0 unless the server names one. */
export function gatewayListenerName(bind: string, port: number): string {
  return `${bind}_${port}`;
}

/** RDS of a gateway's plain-text HTTP servers on a port: `http.<port>` (`.bind` when bound). */
export function gatewayHttpRouteName(port: number, bind?: string): string {
  return `http.${port}${bind ? `.${bind}` : ""}`;
}

/** RDS of one TLS-terminating HTTPS gateway server: `https.<port>.<portName>.<gateway>.<namespace>` (`.bind` when bound). */
export function gatewayHttpsRouteName(port: number, portName: string, gateway: string, namespace: string, bind?: string): string {
  return `https.${port}.${portName}.${gateway}.${namespace}${bind ? `.${bind}` : ""}`;
}

/** The 404 virtual host of a gateway route config that has nothing to route. */
export function blackholeVirtualHostName(port: number): string {
  return `blackhole:${port}`;
}

/** Proxyless gRPC API listener: the `host:port` the client dials (Istio's net.JoinHostPort). */
export function grpcListenerName(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Proxyless gRPC RDS name: the service's default cluster name, as Istio's grpcgen does. */
export function grpcRouteName(port: number, host: string): string {
  return outboundClusterName(port, undefined, host);
}
