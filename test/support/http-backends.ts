/**
 * Tiny HTTP/1.1 backends for routing tests: each answers with its own name
 * (body and `x-backend` header) and counts what it received. A backend can be
 * flaky (the first N requests get 503) or slow (every answer waits), and both
 * can be changed while it runs.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import type { AddressInfo } from "node:net";

export interface HttpBackendOptions {
  /** Address to bind; 127.0.0.1 by default. */
  host?: string;
  /** Port to bind; 0 (any free port) by default. */
  port?: number;
  /** Answer the first N requests with 503 (counted from start or the last reset). */
  failFirst?: number;
  /** Wait this long before every answer. */
  delayMs?: number;
}

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
}

export interface HttpBackend {
  name: string;
  host: string;
  port: number;
  /** Requests received since start or the last reset (failed ones included). */
  readonly hits: number;
  /** The last requests received (up to 200), oldest first. */
  readonly requests: ReceivedRequest[];
  /** Zero the counters; optionally change the failure and delay settings. */
  reset(opts?: Pick<HttpBackendOptions, "failFirst" | "delayMs">): void;
  stop(): Promise<void>;
}

export async function startHttpBackend(name: string, opts: HttpBackendOptions = {}): Promise<HttpBackend> {
  let failFirst = opts.failFirst ?? 0;
  let delayMs = opts.delayMs ?? 0;
  let hits = 0;
  let requests: ReceivedRequest[] = [];
  const sockets = new Set<import("node:net").Socket>();
  const server = http.createServer((req, res) => {
    hits++;
    const n = hits;
    requests.push({ method: req.method ?? "", path: req.url ?? "", headers: req.headers });
    if (requests.length > 200) requests = requests.slice(-200);
    req.resume();
    const answer = (): void => {
      if (res.destroyed) return;
      const status = n <= failFirst ? 503 : 200;
      const body = status === 200 ? name : `${name}: failing on purpose (${n}/${failFirst})`;
      res.writeHead(status, { "content-type": "text/plain", "x-backend": name, "content-length": Buffer.byteLength(body) });
      res.end(body);
    };
    if (delayMs > 0) {
      const timer = setTimeout(answer, delayMs);
      res.on("close", () => clearTimeout(timer));
    } else {
      answer();
    }
  });
  server.keepAliveTimeout = 60_000;
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  const host = opts.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    name,
    host,
    port,
    get hits() {
      return hits;
    },
    get requests() {
      return requests;
    },
    reset(next = {}) {
      hits = 0;
      requests = [];
      if (next.failFirst !== undefined) failFirst = next.failFirst;
      if (next.delayMs !== undefined) delayMs = next.delayMs;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface Reply {
  status: number;
  /** The `x-backend` header: which backend answered (absent when Envoy answered itself). */
  backend?: string;
  body: string;
  ms: number;
}

/** A keep-alive client to one Envoy listener, sending a fixed Host header. */
export class HttpClient {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

  constructor(
    private readonly port: number,
    private readonly host: string,
    private readonly address = "127.0.0.1",
  ) {}

  get(path = "/", headers: Record<string, string> = {}, timeoutMs = 10_000): Promise<Reply> {
    const started = process.hrtime.bigint();
    return new Promise((resolve, reject) => {
      const req = http.get(
        { host: this.address, port: this.port, path, agent: this.agent, headers: { host: this.host, ...headers }, timeout: timeoutMs },
        (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => (body += d));
          res.on("end", () => {
            const ms = Number(process.hrtime.bigint() - started) / 1e6;
            const backend = res.headers["x-backend"];
            resolve({ status: res.statusCode ?? 0, body, ms, ...(typeof backend === "string" ? { backend } : {}) });
          });
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error(`GET ${this.host}${path} via :${this.port} timed out after ${timeoutMs}ms`)));
      req.on("error", reject);
    });
  }

  /** `n` GETs, `concurrency` at a time; every reply, in completion order. */
  async many(n: number, path = "/", headers: Record<string, string> = {}, concurrency = 16): Promise<Reply[]> {
    const out: Reply[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < n) {
        next++;
        out.push(await this.get(path, headers));
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
    return out;
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Replies counted by what answered: the backend's name, else `status <code>`. */
export function countBy(replies: Reply[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of replies) {
    const key = r.status === 200 && r.backend ? r.backend : `status ${r.status}`;
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

/** Is `observed` out of `n` consistent with probability `p`? Within 4.5 standard deviations (false alarm < 1e-5). */
export function withinBinomial(observed: number, n: number, p: number, sds = 4.5): boolean {
  const sd = Math.sqrt(n * p * (1 - p));
  return Math.abs(observed - n * p) <= sds * sd + 1;
}

// ---------------------------------------------------------------- the bill-service fixtures

/** test/e2e/fixtures/bill-service, from src (ts) or dist (compiled) alike. */
export function billServiceFixtures(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, "package.json"))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no repository root above ${__dirname}`);
    dir = up;
  }
  return path.join(dir, "test/e2e/fixtures/bill-service");
}

/**
 * Write `base/` plus the named fixture folders (e.g. "rules", "canary") into
 * `into` (emptied first), with `${NAME}` replaced from `vars` (V1_PORT,
 * V2_PORT, BACKEND_IP, GATEWAY_PORT). Every placeholder must be given a value.
 */
export function writeBillService(into: string, parts: string[], vars: Record<string, number | string>): string {
  const root = billServiceFixtures();
  fs.mkdirSync(into, { recursive: true });
  for (const f of fs.readdirSync(into)) fs.rmSync(path.join(into, f), { recursive: true, force: true });
  for (const part of ["base", ...parts]) {
    const src = path.join(root, part);
    if (!fs.existsSync(src)) throw new Error(`no fixture folder ${src}`);
    for (const f of fs.readdirSync(src).sort()) {
      const text = fs.readFileSync(path.join(src, f), "utf8").replace(/\$\{([A-Z0-9_]+)\}/g, (_m, k: string) => {
        if (vars[k] === undefined) throw new Error(`${part}/${f} needs a value for \${${k}}`);
        return String(vars[k]);
      });
      fs.writeFileSync(path.join(into, `${part}-${f}`), text);
    }
  }
  return into;
}

/** The two bill-service versions the fixtures route to (on 127.0.0.1 unless told). */
export interface BillBackends {
  v1: HttpBackend;
  v2: HttpBackend;
  /** Fixture placeholders: the backends' address and ports. */
  vars: { V1_PORT: number; V2_PORT: number; BACKEND_IP: string };
  reset(): void;
  stop(): Promise<void>;
}

export async function startBillBackends(host = "127.0.0.1"): Promise<BillBackends> {
  const v1 = await startHttpBackend("bill-service-v1", { host });
  const v2 = await startHttpBackend("bill-service-v2", { host });
  return {
    v1,
    v2,
    vars: { V1_PORT: v1.port, V2_PORT: v2.port, BACKEND_IP: host },
    reset: () => {
      v1.reset({ failFirst: 0, delayMs: 0 });
      v2.reset({ failFirst: 0, delayMs: 0 });
    },
    stop: async () => {
      await Promise.all([v1.stop(), v2.stop()]);
    },
  };
}

/** front-tomcat's sidecar in the fixtures: the client side of the seed scenario. */
export const FRONT_TOMCAT = "sidecar~127.0.0.1~front-tomcat-6b8d7c5f4-9zq7w.default~default.svc.cluster.local";

/** The ingress gateway (router) of the fixtures' Gateway (selector istio: ingressgateway). */
export const INGRESS = "router~127.0.0.1~istio-ingressgateway-5d9c7b8f6-zz9xk.istio-system~istio-system.svc.cluster.local";
