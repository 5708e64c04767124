/**
 * The control side shared by the Node bench servers (mini-pilot and the floor):
 * the same tiny HTTP API as the go-control-plane peer — POST /snapshot with
 * base64 `Any`s, GET /stats, GET /healthz — and the same one-line JSON
 * announcement on stdout once both sockets are bound.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import { Session } from "node:inspector";
import * as path from "node:path";
import { findField, spanString } from "../wire";

export interface SnapshotBody {
  node: string;
  version: string;
  /** type URL -> base64 of serialized google.protobuf.Any */
  resources: Record<string, string[]>;
}

/** A resource as ingested: the Any's type URL and value, and the name read from field 1 of the value. */
export interface RawResource {
  typeUrl: string;
  name: string;
  /** The serialized Any (type_url + value). */
  any: Buffer;
  /** The resource message bytes (a view into `any`). */
  value: Buffer;
}

/** Decode one base64 Any; the name is field 1 of every xDS resource type the bench uses. */
export function rawResource(typeUrl: string, b64: string): RawResource {
  const any = Buffer.from(b64, "base64");
  const t = spanString(any, findField(any, 0, any.length, 1));
  if (t !== typeUrl) throw new Error(`an Any of type "${t}" listed under "${typeUrl}"`);
  const v = findField(any, 0, any.length, 2) ?? { start: any.length, end: any.length };
  const value = any.subarray(v.start, v.end);
  return { typeUrl, name: spanString(value, findField(value, 0, value.length, 1)), any, value };
}

export interface ControlHandlers {
  snapshot(body: SnapshotBody): object;
  /** Don't parse the body: the server only needs to know that a snapshot was posted (the floor). */
  rawSnapshot?: boolean;
  stats(): object;
  /** GET /debug?proxy=ID: the server's view of one proxy (diagnostics). */
  debug?(proxy: string): object;
  /** POST /recording?file=PATH: write the responses recorded so far (mini-pilot with BENCH_RECORD=1). */
  saveRecording?(file: string): object;
}

/**
 * CPU profiling of a window (e.g. one change) through the inspector, enabled when
 * BENCH_PROFILE_DIR is set: POST /profile/start, POST /profile/stop?name=N writes
 * N.cpuprofile there.
 */
let profiler: Session | undefined;

function profileStart(): object {
  if (!process.env.BENCH_PROFILE_DIR) throw new Error("profiling is off (BENCH_PROFILE_DIR unset)");
  if (!profiler) {
    profiler = new Session();
    profiler.connect();
    profiler.post("Profiler.enable");
    profiler.post("Profiler.setSamplingInterval", { interval: 200 });
  }
  profiler.post("Profiler.start");
  return { profiling: true };
}

function profileStop(name: string): Promise<object> {
  return new Promise((resolve, reject) => {
    if (!profiler) return reject(new Error("not profiling"));
    profiler.post("Profiler.stop", (err, r) => {
      if (err) return reject(err);
      const file = path.join(process.env.BENCH_PROFILE_DIR!, `${name.replace(/[^\w.-]/g, "_")}.cpuprofile`);
      fs.writeFileSync(file, JSON.stringify(r.profile));
      resolve({ file });
    });
  });
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

export function startControlHttp(handlers: ControlHandlers): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const reply = (code: number, body: object) => {
      res.writeHead(code, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.url === "/healthz") return reply(200, { ok: true });
    if (req.url === "/stats") return reply(200, handlers.stats());
    if (req.url?.startsWith("/debug?") && handlers.debug) return reply(200, handlers.debug(new URL(req.url, "http://x").searchParams.get("proxy") ?? ""));
    if (req.url?.startsWith("/profile/") && req.method === "POST") {
      const u = new URL(req.url, "http://x");
      void (async () => (u.pathname === "/profile/start" ? profileStart() : profileStop(u.searchParams.get("name") ?? "window")))().then(
        (r) => reply(200, { ok: true, ...r }),
        (e: Error) => reply(400, { ok: false, error: e.message }),
      );
      return;
    }
    if (req.url?.startsWith("/recording?") && req.method === "POST") {
      const file = new URL(req.url, "http://x").searchParams.get("file") ?? "";
      if (!handlers.saveRecording) return reply(400, { ok: false, error: "this server records nothing (start it with BENCH_RECORD=1)" });
      if (!file) return reply(400, { ok: false, error: "file= is required" });
      try {
        return reply(200, { ok: true, ...handlers.saveRecording(file) });
      } catch (e) {
        return reply(500, { ok: false, error: (e as Error).message });
      }
    }
    if (req.url === "/snapshot" && req.method === "POST") {
      readBody(req).then(
        (text) => {
          if (handlers.rawSnapshot) return reply(200, { ok: true, ...handlers.snapshot(undefined as unknown as SnapshotBody) });
          try {
            const body = JSON.parse(text) as SnapshotBody;
            if (!body.node || !body.version || typeof body.resources !== "object")
              return reply(400, { ok: false, error: "node, version and resources are required" });
            reply(200, { ok: true, ...handlers.snapshot(body) });
          } catch (e) {
            reply(400, { ok: false, error: (e as Error).message });
          }
        },
        (e: Error) => reply(400, { ok: false, error: e.message }),
      );
      return;
    }
    reply(404, { ok: false, error: "not found" });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

export function processStats(): { rssBytes: number; cpuUserMicros: number; cpuSysMicros: number; heapUsedBytes: number } {
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  return { rssBytes: mem.rss, cpuUserMicros: cpu.user, cpuSysMicros: cpu.system, heapUsedBytes: mem.heapUsed };
}

/** Print the address line the launcher waits for; exit cleanly on SIGTERM/SIGINT (so --cpu-prof is written). */
export function announce(xdsPort: number, httpServer: http.Server, onStop: () => Promise<void>): void {
  const addr = httpServer.address() as { port: number };
  process.stdout.write(JSON.stringify({ xds: `127.0.0.1:${xdsPort}`, http: `127.0.0.1:${addr.port}` }) + "\n");
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    httpServer.close();
    httpServer.closeAllConnections();
    const force = setTimeout(() => process.exit(0), 3000);
    void onStop().finally(() => {
      clearTimeout(force);
      process.exit(0);
    });
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
