/**
 * Port protocols, Istio's way: `appProtocol` if set, else the port name's
 * prefix before the first "-", case-insensitive. A port with neither (or an
 * unknown one) is "AUTO", Istio's UnsupportedProtocol: its listeners detect
 * the protocol per connection (HTTP inspector; generate/sniffing.ts).
 */

export type Protocol = "HTTP" | "HTTP2" | "GRPC" | "GRPC-WEB" | "HTTPS" | "TCP" | "TLS" | "MONGO" | "MYSQL" | "REDIS" | "UDP" | "AUTO";

const KNOWN: Record<string, Protocol> = {
  http: "HTTP",
  http2: "HTTP2",
  grpc: "GRPC",
  "grpc-web": "GRPC-WEB",
  https: "HTTPS",
  tcp: "TCP",
  tls: "TLS",
  mongo: "MONGO",
  mysql: "MYSQL",
  redis: "REDIS",
  udp: "UDP",
  // Kubernetes-style appProtocol values Istio also accepts.
  "kubernetes.io/h2c": "HTTP2",
  "kubernetes.io/ws": "HTTP",
  "kubernetes.io/wss": "HTTPS",
};

export interface ProtocolGuess {
  protocol: Protocol;
  /** False when nothing recognisable was found: the protocol is then "AUTO" (detected per connection). */
  known: boolean;
}

/** Kubernetes Service port: appProtocol, else the name's prefix; UDP transport wins. */
export function servicePortProtocol(p: { name?: string; appProtocol?: string; protocol?: string }): ProtocolGuess {
  if (p.protocol === "UDP") return { protocol: "UDP", known: true };
  if (p.appProtocol) {
    const byApp = KNOWN[p.appProtocol.toLowerCase()];
    if (byApp) return { protocol: byApp, known: true };
  }
  return fromName(p.name ?? "");
}

function fromName(name: string): ProtocolGuess {
  const lower = name.toLowerCase();
  // "grpc-web" contains the separator itself, so try it before splitting.
  if (lower === "grpc-web" || lower.startsWith("grpc-web-")) return { protocol: "GRPC-WEB", known: true };
  const prefix = lower.split("-")[0] ?? "";
  const p = KNOWN[prefix];
  return p ? { protocol: p, known: true } : { protocol: "AUTO", known: false };
}

/** ServiceEntry / Gateway ports carry an explicit protocol name (HTTP, TCP, ...). */
export function namedProtocol(protocol: string | undefined, name: string): ProtocolGuess {
  if (protocol) {
    const p = KNOWN[protocol.toLowerCase()];
    if (p) return { protocol: p, known: true };
  }
  return fromName(name);
}

/** HTTP family: gets an HTTP listener with RDS. */
export function isHttpProtocol(p: Protocol): boolean {
  return p === "HTTP" || p === "HTTP2" || p === "GRPC" || p === "GRPC-WEB";
}

/** HTTP/2 to the upstream and on the inbound connection manager (Istio's IsHTTP2: http2, grpc and grpc-web ports). */
export function isHttp2Protocol(p: Protocol): boolean {
  return p === "HTTP2" || p === "GRPC" || p === "GRPC-WEB";
}

/** TCP family (incl. TLS-carrying ports): gets tcp_proxy. */
export function isTcpProtocol(p: Protocol): boolean {
  return !isHttpProtocol(p) && p !== "UDP" && p !== "AUTO";
}

/** No declared protocol: listeners sniff (HTTP chain for what the HTTP inspector recognises, tcp_proxy for the rest). */
export function isSniffedProtocol(p: Protocol): boolean {
  return p === "AUTO";
}
