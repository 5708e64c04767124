/**
 * The HTTP debug port: /healthz, /ready, /metrics, /debug/syncz,
 * /debug/configz and /debug/config_dump?proxy=ID. Loopback by default.
 */
import * as http from "node:http";
import { AddressInfo } from "node:net";

export interface DebugProviders {
  ready(): { ready: boolean; reason?: string };
  syncz(): unknown;
  /** Diagnostics and what the config side knows. */
  configz?(): unknown;
  /** Canonical JSON of what a proxy is (or would be) sent. */
  configDump?(proxyId: string): unknown | undefined;
  metrics?(): Promise<{ contentType: string; body: string }>;
}

export interface DebugServer {
  port: number;
  close(): Promise<void>;
}

export function startDebugServer(host: string, port: number, p: DebugProviders): Promise<DebugServer> {
  const server = http.createServer((req, res) => {
    handle(req, p).then(
      ({ status, type, body }) => {
        res.writeHead(status, { "content-type": type });
        res.end(body);
      },
      (e: unknown) => {
        res.writeHead(500, { "content-type": "text/plain" });
        res.end(`internal error: ${(e as Error).message}\n`);
      },
    );
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const bound = (server.address() as AddressInfo).port;
      resolve({
        port: bound,
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}

interface Reply {
  status: number;
  type: string;
  body: string;
}

const json = (status: number, value: unknown): Reply => ({ status, type: "application/json", body: JSON.stringify(value, null, 2) + "\n" });
const text = (status: number, body: string): Reply => ({ status, type: "text/plain; charset=utf-8", body });

async function handle(req: http.IncomingMessage, p: DebugProviders): Promise<Reply> {
  const url = new URL(req.url ?? "/", "http://localhost");
  if (req.method !== "GET") return text(405, "only GET\n");
  switch (url.pathname) {
    case "/healthz":
      return text(200, "ok\n");
    case "/ready": {
      const r = p.ready();
      return r.ready ? text(200, "ready\n") : text(503, `not ready: ${r.reason ?? "starting"}\n`);
    }
    case "/metrics": {
      if (!p.metrics) return text(404, "no metrics\n");
      const m = await p.metrics();
      return { status: 200, type: m.contentType, body: m.body };
    }
    case "/debug/syncz":
      return json(200, p.syncz());
    case "/debug/configz":
      return p.configz ? json(200, p.configz()) : text(404, "no config view\n");
    case "/debug/config_dump": {
      const proxy = url.searchParams.get("proxy");
      if (!proxy) return text(400, "usage: /debug/config_dump?proxy=<node id>\n");
      const dump = p.configDump?.(proxy);
      return dump === undefined ? text(404, `no config for proxy "${proxy}"\n`) : json(200, dump);
    }
    default:
      return text(404, "endpoints: /healthz /ready /metrics /debug/syncz /debug/configz /debug/config_dump?proxy=ID\n");
  }
}
