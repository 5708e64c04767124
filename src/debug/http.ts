/**
 * The HTTP debug port: /healthz, /ready, /metrics, /debug/syncz,
 * /debug/configz, /debug/config_dump?proxy=ID, /debug/mesh and the mesh page
 * at / (docs/MESH-PAGE.md). Loopback by default.
 *
 * /debug/* shows every proxy's id, IP and full config, so with a token set it
 * wants `Authorization: Bearer <token>`; /healthz, /ready and /metrics stay
 * open for kubelets and Prometheus.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import * as http from "node:http";
import { AddressInfo } from "node:net";
import type { MeshView } from "./mesh-view";
import { PAGE_ASSETS } from "./page";

export interface DebugProviders {
  ready(): { ready: boolean; reason?: string };
  syncz(): unknown;
  /** Diagnostics and what the config side knows. */
  configz?(): unknown;
  /** Canonical JSON of what a proxy is (or would be) sent. */
  configDump?(proxyId: string): unknown | undefined;
  metrics?(): Promise<{ contentType: string; body: string }>;
  /** What the mesh page draws; undefined when there is no mesh model (a --resources file). */
  mesh?(): MeshView | undefined;
}

export interface DebugServer {
  port: number;
  close(): Promise<void>;
}

export interface DebugOptions {
  /**
   * When set, /debug/* needs `Authorization: Bearer <token>`. A function is
   * asked on every request, so a rotated token takes effect at once (and the
   * old one stops working) without a restart.
   */
  token?: string | (() => string | undefined);
}

export function startDebugServer(host: string, port: number, p: DebugProviders, options: DebugOptions = {}): Promise<DebugServer> {
  const allowed = options.token !== undefined ? bearerCheck(options.token) : () => true;
  const server = http.createServer((req, res) => {
    handle(req, p, allowed).then(
      ({ status, type, body, headers }) => {
        res.writeHead(status, { "content-type": type, ...headers });
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
  headers?: Record<string, string>;
}

/**
 * Compares digests, not the strings: equal length and constant time whatever
 * the client sends, so response timing says nothing about the token.
 */
function bearerCheck(token: string | (() => string | undefined)): (authorization: string | undefined) => boolean {
  const current = typeof token === "function" ? token : () => token;
  let digested: { token: string; digest: Buffer } | undefined;
  return (authorization) => {
    const now = current();
    if (now === undefined) return false;
    if (digested?.token !== now) digested = { token: now, digest: createHash("sha256").update(now).digest() };
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
    if (!m) return false;
    return timingSafeEqual(createHash("sha256").update(m[1]!).digest(), digested.digest);
  };
}

/** What kubelets and Prometheus call; never behind the token. */
const OPEN_PATHS = new Set(["/healthz", "/ready", "/metrics"]);

const UNAUTHORIZED: Reply = {
  status: 401,
  type: "text/plain; charset=utf-8",
  body: "/debug/* needs Authorization: Bearer <token> (the token serve was given with --debug-token-file)\n",
  headers: { "www-authenticate": 'Bearer realm="mini-pilot debug"' },
};

const json = (status: number, value: unknown): Reply => ({ status, type: "application/json", body: JSON.stringify(value, null, 2) + "\n" });
const text = (status: number, body: string): Reply => ({ status, type: "text/plain; charset=utf-8", body });

async function handle(req: http.IncomingMessage, p: DebugProviders, allowed: (authorization: string | undefined) => boolean): Promise<Reply> {
  const url = new URL(req.url ?? "/", "http://localhost");
  if (req.method !== "GET") return text(405, "only GET\n");
  // An allow-list, not a "/debug/" prefix test: a path added later is protected by default.
  const asset = PAGE_ASSETS.get(url.pathname);
  if (asset) return { status: 200, ...asset };
  if (!OPEN_PATHS.has(url.pathname) && !allowed(req.headers.authorization)) return UNAUTHORIZED;
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
    case "/debug/mesh":
      return json(200, meshDocument(p));
    default:
      return text(404, "endpoints: / (the mesh page) /healthz /ready /metrics /debug/syncz /debug/configz /debug/config_dump?proxy=ID /debug/mesh\n");
  }
}

/** /debug/mesh: the mesh model's view, the proxies' sync state and the diagnostics, in one poll. */
function meshDocument(p: DebugProviders): unknown {
  const config = (p.configz?.() ?? {}) as { diagnostics?: unknown; errors?: unknown };
  const diagnostics = Array.isArray(config.diagnostics) ? config.diagnostics : Array.isArray(config.errors) ? config.errors : [];
  return { mesh: p.mesh?.() ?? null, proxies: p.syncz(), diagnostics };
}
