/**
 * A small HTTP client for the Kubernetes API: GET a JSON document, or open a
 * watch and get its lines. Credentials (tokens, client certs, exec plugins,
 * token files) come from the library's KubeConfig, applied per request so a
 * rotated token is picked up; the transport is node's own http(s), so every
 * status code and Status body is visible (the library's Watch drops them) and
 * aborting is exact.
 */
import * as http from "node:http";
import * as https from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";
import { ApiError, httpError, networkError } from "./errors";

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  /** Abort the request when there is no data for this long. Default 30 s. */
  idleTimeoutMs?: number;
  signal?: AbortSignal;
}

export interface WatchOptions extends RequestOptions {
  /** Called once the server accepted the watch (HTTP 200). */
  onOpen?: () => void;
}

export interface ApiClient {
  readonly server: string;
  getJSON<T>(path: string, query?: Query, opts?: RequestOptions): Promise<T>;
  /** Stream a watch, one callback per JSON line; resolves when the server ends it cleanly. */
  watch(path: string, query: Query, onLine: (line: string) => void, opts?: WatchOptions): Promise<void>;
}

function readBody(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on("data", (c: Buffer) => chunks.push(c));
    res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    res.on("error", reject);
    // A connection cut mid-body must not leave the caller waiting forever.
    res.on("close", () => {
      if (!res.complete) reject(new Error("connection closed before the response was complete"));
    });
  });
}

export class KubeHttp implements ApiClient {
  constructor(
    private readonly kc: KubeConfig,
    readonly server: string,
  ) {}

  private url(path: string, query: Query): URL {
    // The server URL may carry a path prefix (e.g. behind a proxy): append, don't resolve.
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  private async open(path: string, query: Query, opts: RequestOptions): Promise<{ res: http.IncomingMessage; what: string }> {
    const url = this.url(path, query);
    const what = `GET ${url.pathname}${query.watch ? " (watch)" : ""}`;
    const options: https.RequestOptions = { method: "GET", headers: { accept: "application/json" } };
    try {
      await this.kc.applyToHTTPSOptions(options);
    } catch (e) {
      const detail = (e as Error).message.split("\n")[0] ?? "";
      throw new ApiError("auth", `${what}: cannot get credentials from the kubeconfig user: ${detail}`, undefined, detail);
    }
    const mod = url.protocol === "http:" ? http : https;
    const idle = opts.idleTimeoutMs ?? 30_000;
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      // `timeout` (unlike req.setTimeout) also covers connecting: an unroutable address fails in time.
      const req = mod.request(url, { ...options, timeout: idle, ...(opts.signal ? { signal: opts.signal } : {}) }, resolve);
      req.on("socket", (s) => s.setKeepAlive(true, 30_000));
      req.on("timeout", () =>
        req.destroy(new ApiError("timeout", `${what}: no response from ${this.server} in ${idle} ms`, undefined, `no response in ${idle} ms`)),
      );
      req.on("error", (e) => reject(isAbortLike(e, opts.signal) ? e : networkError(e, `${what} at ${this.server}`)));
      req.end();
    });
    return { res, what };
  }

  async getJSON<T>(path: string, query: Query = {}, opts: RequestOptions = {}): Promise<T> {
    const { res, what } = await this.open(path, query, opts);
    let body: string;
    try {
      body = await readBody(res);
    } catch (e) {
      throw isAbortLike(e, opts.signal) ? e : networkError(e, `${what}: reading the response`);
    }
    if (res.statusCode !== 200) throw httpError(res.statusCode ?? 0, body, what);
    try {
      return JSON.parse(body) as T;
    } catch (e) {
      throw new ApiError("protocol", `${what}: response is not JSON: ${(e as Error).message}`, 200);
    }
  }

  async watch(path: string, query: Query, onLine: (line: string) => void, opts: WatchOptions = {}): Promise<void> {
    const { res, what } = await this.open(path, { ...query, watch: true }, opts);
    if (res.statusCode !== 200) throw httpError(res.statusCode ?? 0, await readBody(res).catch(() => ""), what);
    opts.onOpen?.();
    res.setEncoding("utf8");
    await new Promise<void>((resolve, reject) => {
      let buf = "";
      let failed = false;
      const fail = (e: unknown): void => {
        if (failed) return;
        failed = true;
        res.destroy();
        reject(e);
      };
      res.on("data", (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line === "") continue;
          try {
            onLine(line);
          } catch (e) {
            return fail(e);
          }
        }
      });
      res.on("end", () => {
        if (!failed) resolve();
      });
      res.on("error", (e) => fail(isAbortLike(e, opts.signal) ? e : networkError(e, `${what}: watch connection lost`)));
      // A connection that closes before the last chunk is a loss, not a clean end.
      res.on("close", () => {
        if (!res.complete) fail(new ApiError("unreachable", `${what}: watch connection to ${this.server} closed unexpectedly`));
      });
    });
  }
}

function isAbortLike(e: unknown, signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true || (e as { name?: string })?.name === "AbortError";
}
