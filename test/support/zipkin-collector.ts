/**
 * A small Zipkin-protocol collector for tests: `POST /api/v2/spans` with a
 * JSON v2 span list (what Envoy's zipkin tracer sends with
 * collector_endpoint_version HTTP_JSON), answered 202 like Zipkin does. Spans
 * are parsed and kept; anything else is a 404 and counted as a protocol error.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";

export interface ZipkinSpan {
  traceId: string;
  id: string;
  parentId?: string;
  name?: string;
  kind?: string;
  timestamp?: number;
  duration?: number;
  localEndpoint?: { serviceName?: string; ipv4?: string; port?: number };
  remoteEndpoint?: { serviceName?: string; ipv4?: string; port?: number };
  tags?: Record<string, string>;
  shared?: boolean;
}

export interface ZipkinCollector {
  host: string;
  port: number;
  spans: ZipkinSpan[];
  /** Requests that were not a JSON v2 span list on /api/v2/spans. */
  protocolErrors: string[];
  /** Resolves once at least `n` spans matching `pred` have arrived. */
  waitForSpans(n: number, timeoutMs: number, pred?: (s: ZipkinSpan) => boolean): Promise<ZipkinSpan[]>;
  stop(): Promise<void>;
}

export async function startZipkinCollector(host = "127.0.0.1"): Promise<ZipkinCollector> {
  const spans: ZipkinSpan[] = [];
  const protocolErrors: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.method !== "POST" || req.url !== "/api/v2/spans") {
        protocolErrors.push(`${req.method} ${req.url}`);
        res.writeHead(404).end();
        return;
      }
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
        if (!Array.isArray(body)) throw new Error("not a list of spans");
        for (const s of body as ZipkinSpan[]) {
          if (typeof s.traceId !== "string" || typeof s.id !== "string") throw new Error(`span without traceId/id: ${JSON.stringify(s)}`);
          spans.push(s);
        }
        res.writeHead(202).end();
      } catch (e) {
        protocolErrors.push(`bad body (${req.headers["content-type"]}): ${(e as Error).message}`);
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    host,
    port,
    spans,
    protocolErrors,
    async waitForSpans(n, timeoutMs, pred = () => true) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hits = spans.filter(pred);
        if (hits.length >= n) return hits;
        if (Date.now() > deadline)
          throw new Error(`${hits.length} of ${n} spans within ${timeoutMs}ms (all: ${spans.length}; protocol errors: ${protocolErrors.join("; ")})`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
