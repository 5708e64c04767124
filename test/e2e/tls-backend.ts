/**
 * What the TLS-origination e2e tests share: an HTTPS backend that reports the
 * SNI (and TLS version) it was given in `x-backend`, and the mesh of a
 * ServiceEntry with one SIMPLE rule that verifies against the system roots
 * (`verify.example`) and one with `insecureSkipVerify` (`skip.example`).
 */
import * as https from "node:https";
import type * as net from "node:net";
import type { TLSSocket } from "node:tls";

export interface TlsBackend {
  port: number;
  close(): Promise<void>;
}

/** An HTTPS server on `host`:0 with this certificate; `close` also ends open connections. */
export async function startTlsBackend(host: string, leaf: { certPem: string; keyPem: string }, withVersion = false): Promise<TlsBackend> {
  const server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => {
    req.resume();
    const s = req.socket as TLSSocket;
    res.writeHead(200, { "x-backend": `sni=${String(s.servername)}${withVersion ? ` ${String(s.getProtocol())}` : ""}` });
    res.end("ok");
  });
  const sockets = new Set<net.Socket>();
  server.on("secureConnection", (s: net.Socket) => sockets.add(s));
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => resolve((server.address() as net.AddressInfo).port));
  });
  return {
    port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** `verify.example` (SIMPLE, no caCertificates: the system roots) and `skip.example` (insecureSkipVerify) on port 80, both to `address`:`tlsPort`. */
export function systemRootsMesh(address: string, tlsPort: number): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: unknown-ca, namespace: default}
spec:
  hosts: [verify.example, skip.example]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: ${tlsPort}}]
  endpoints: [{address: ${address}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: verify, namespace: default}
spec:
  host: verify.example
  trafficPolicy:
    tls: {mode: SIMPLE}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: skip, namespace: default}
spec:
  host: skip.example
  trafficPolicy:
    tls: {mode: SIMPLE, insecureSkipVerify: true}
`;
}
