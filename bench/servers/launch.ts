/**
 * Starting, feeding, measuring and stopping the servers under test, each in its
 * own process: mini-pilot (bench/servers/mini-pilot-server), the
 * go-control-plane peer (bench/peers/go-control-plane) in its fair and its
 * per-node setup, and the floor (bench/servers/replay-server, which replays
 * mini-pilot's recorded responses). All speak the same control API. A new peer
 * is one more row in SERVERS: how to start it, and a line saying how it is set up.
 */
import { ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";

export type ServerKind = "mini-pilot" | "go-control-plane" | "go-control-plane-per-node" | "floor";

interface ServerInfo {
  /** How this server is set up, one line (--help, reports). */
  help: string;
  /** Runs the go-control-plane peer binary with these flags. */
  goPeerArgs?: string[];
}

export const SERVERS: Record<ServerKind, ServerInfo> = {
  "mini-pilot": { help: "mini-pilot's XdsServer + SnapshotCache, proxies grouped by namespace" },
  "go-control-plane": {
    help: "go-control-plane SnapshotCache(ads=true), NodeHash grouping proxies by namespace, one SetSnapshot per group, a version per type",
    goPeerArgs: ["--node-hash", "group", "--versions", "per-type"],
  },
  "go-control-plane-per-node": {
    help: "go-control-plane as first benchmarked (extra row): IDHash, one SetSnapshot per node, one version for all types",
    goPeerArgs: ["--node-hash", "id", "--versions", "single"],
  },
  floor: { help: "replays mini-pilot's recorded responses byte for byte, doing nothing else" },
};
export const SERVER_KINDS = Object.keys(SERVERS) as ServerKind[];
/** What `bench` runs without --servers (the per-node go-control-plane row only on request). */
export const DEFAULT_SERVERS: readonly ServerKind[] = ["mini-pilot", "go-control-plane", "floor"];
export const usesGoPeer = (k: ServerKind) => SERVERS[k].goPeerArgs !== undefined;

export interface ServerStats {
  cpuMicros: number;
  rssBytes: number;
  /** Resources wrapped/encoded by the server (mini-pilot: resources wrapped with fromBytes). */
  encodes?: number;
  raw: Record<string, unknown>;
}

export interface RunningServer {
  kind: ServerKind;
  xds: string;
  http: string;
  pid?: number;
  post(body: string, timeoutMs?: number): Promise<{ ms: number; reply: Record<string, unknown> }>;
  stats(): Promise<ServerStats>;
  /** The server's view of one proxy (mini-pilot only; diagnostics). */
  debug(proxy: string): Promise<object | undefined>;
  /** Start / stop a CPU profile of a window (mini-pilot with --cpu-prof only). */
  profile(action: "start" | "stop", name?: string): Promise<void>;
  /** Peak RSS of the process (VmHWM), when it is ours. */
  peakRssBytes(): number | undefined;
  /** mini-pilot started with `record`: write its recorded responses to FILE.json/.bin. */
  saveRecording(file: string): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

export interface LaunchOptions {
  /** go-control-plane: the peer binary (from buildPeer) or an external peer's addresses. */
  peerBinary?: string;
  peerExternal?: { xds: string; http: string };
  /** Directory for mini-pilot's --cpu-prof output. */
  cpuProfDir?: string;
  /** CPU list for taskset (e.g. "0"), or undefined for no pinning. */
  cpus?: string;
  /** mini-pilot: record every response it writes (for the floor). */
  record?: boolean;
  /** floor: the recording to replay (response-trace.ts). */
  replayFile?: string;
  log?: (line: string) => void;
}

const PEER_DIR = path.resolve(__dirname, "../../../bench/peers/go-control-plane");

/** The peer's source directory (bench/peers/go-control-plane), from dist/ or from the source tree. */
export function peerDir(): string {
  if (fs.existsSync(path.join(PEER_DIR, "build.sh"))) return PEER_DIR;
  return path.resolve(__dirname, "../peers/go-control-plane");
}

/** Where build.sh would put the binary, without building (same hash as the script). */
export function cachedPeerBinary(): string | undefined {
  const dir = peerDir();
  try {
    const hash = execFileSync("bash", ["-c", `cat go.mod go.sum main.go | sha256sum | cut -c1-16`], { cwd: dir, encoding: "utf8" }).trim();
    const cache = process.env.MINI_PILOT_CACHE ?? path.join(process.env.HOME ?? "/tmp", ".cache/mini-pilot");
    const bin = path.join(cache, `go-control-plane-peer-${hash}`);
    return fs.existsSync(bin) ? bin : undefined;
  } catch {
    return undefined;
  }
}

/** Run build.sh; returns the binary path or throws with the script's stderr tail. */
export function buildPeer(): string {
  const r = spawnSync("bash", [path.join(peerDir(), "build.sh")], { encoding: "utf8", timeout: 15 * 60_000 });
  const lines = (r.stdout ?? "").trim().split("\n");
  const bin = lines[lines.length - 1] ?? "";
  if (r.status !== 0 || !bin || !fs.existsSync(bin)) {
    const tail = (r.stderr ?? "").trim().split("\n").slice(-8).join("\n");
    throw new Error(`building the go-control-plane peer failed (exit ${r.status ?? r.signal}):\n${tail || r.error?.message || "no output"}`);
  }
  return bin;
}

function httpJson(address: string, method: string, urlPath: string, body?: string, timeoutMs = 60_000): Promise<Record<string, unknown>> {
  const [host, port] = [address.slice(0, address.lastIndexOf(":")), Number(address.slice(address.lastIndexOf(":") + 1))];
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host,
        port,
        method,
        path: urlPath,
        headers: body ? { "content-type": "application/json", "content-length": Buffer.byteLength(body) } : {},
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: Record<string, unknown>;
          try {
            parsed = JSON.parse(text) as Record<string, unknown>;
          } catch {
            return reject(new Error(`${method} ${urlPath}: HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
          }
          if ((res.statusCode ?? 500) >= 300)
            return reject(new Error(`${method} ${urlPath}: HTTP ${res.statusCode}: ${String(parsed.error ?? text).slice(0, 300)}`));
          resolve(parsed);
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} http://${address}${urlPath} timed out after ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** Check that an external peer answers; throws a readable error if not. */
export async function probe(httpAddress: string): Promise<void> {
  await httpJson(httpAddress, "GET", "/healthz", undefined, 3000);
}

function readProcStatus(pid: number, key: string): number | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text);
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

function toStats(raw: Record<string, unknown>): ServerStats {
  const n = (k: string) => Number(raw[k] ?? 0);
  return {
    cpuMicros: n("cpuUserMicros") + n("cpuSysMicros"),
    rssBytes: n("rssBytes"),
    ...(raw.encodes !== undefined ? { encodes: n("encodes") } : {}),
    raw,
  };
}

/** Start one server process and wait for its address line. */
export async function startServer(kind: ServerKind, o: LaunchOptions = {}): Promise<RunningServer> {
  const info = SERVERS[kind];
  if (info.goPeerArgs && o.peerExternal) return external(kind, o.peerExternal);
  let cmd: string;
  let args: string[];
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  if (info.goPeerArgs) {
    if (!o.peerBinary) throw new Error("no go-control-plane peer binary");
    cmd = o.peerBinary;
    args = ["--xds-address", "127.0.0.1:0", "--http-address", "127.0.0.1:0", ...info.goPeerArgs];
  } else {
    if (kind === "floor" && !o.replayFile) throw new Error("the floor replays mini-pilot's recorded responses, and there is no recording");
    const script = path.join(__dirname, kind === "mini-pilot" ? "mini-pilot-server.js" : "replay-server.js");
    cmd = process.execPath;
    const prof = kind === "mini-pilot" && o.cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${o.cpuProfDir}`] : [];
    args = [...prof, "--max-old-space-size=4096", script];
    if (kind === "mini-pilot" && o.cpuProfDir) env.BENCH_PROFILE_DIR = o.cpuProfDir;
    if (kind === "mini-pilot" && o.record) env.BENCH_RECORD = "1";
    if (kind === "floor") env.BENCH_REPLAY_FILE = o.replayFile;
  }
  if (o.cpus) {
    args = ["-c", o.cpus, cmd, ...args];
    cmd = "taskset";
  }
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env });
  const addr = await waitForAddress(child, kind, o.log);
  const pid = child.pid!;
  let exited = false;
  child.once("exit", () => (exited = true));
  return {
    kind,
    ...addr,
    pid,
    post: async (body, timeoutMs) => {
      const t0 = performance.now();
      const reply = await httpJson(addr.http, "POST", "/snapshot", body, timeoutMs);
      return { ms: performance.now() - t0, reply };
    },
    stats: async () => toStats(await httpJson(addr.http, "GET", "/stats", undefined, 30_000)),
    debug: async (proxy) =>
      kind === "mini-pilot" ? httpJson(addr.http, "GET", `/debug?proxy=${encodeURIComponent(proxy)}`, undefined, 10_000).catch(() => undefined) : undefined,
    profile: async (action, name) => {
      await httpJson(addr.http, "POST", `/profile/${action}${name ? `?name=${encodeURIComponent(name)}` : ""}`);
    },
    peakRssBytes: () => readProcStatus(pid, "VmHWM"),
    saveRecording: (file) => httpJson(addr.http, "POST", `/recording?file=${encodeURIComponent(file)}`, undefined, 120_000),
    stop: () =>
      new Promise<void>((resolve) => {
        if (exited) return resolve();
        const t = setTimeout(() => {
          child.kill("SIGKILL");
        }, 8000);
        child.once("exit", () => {
          clearTimeout(t);
          resolve();
        });
        child.kill("SIGTERM");
      }),
  };
}

function waitForAddress(child: ChildProcess, kind: ServerKind, log?: (l: string) => void): Promise<{ xds: string; http: string }> {
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${kind} server did not announce its addresses within 30 s; stderr: ${err.slice(-500)}`));
    }, 30_000);
    let shown = 0;
    child.stderr!.on("data", (c: Buffer) => {
      err += c.toString();
      if (err.length > 20_000) err = err.slice(-10_000);
      for (const line of c.toString().split("\n")) {
        if (!line.trim() || !/WARN|ERROR|Error|error/.test(line)) continue;
        if (++shown <= 3) log?.(`[${kind}] ${line.trim().slice(0, 300)}`);
        else if (shown === 4) log?.(`[${kind}] (more warnings not shown)`);
      }
    });
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const nl = out.indexOf("\n");
      if (nl < 0) return;
      clearTimeout(timer);
      try {
        const a = JSON.parse(out.slice(0, nl)) as { xds: string; http: string };
        resolve(a);
      } catch {
        reject(new Error(`${kind} server printed "${out.slice(0, nl)}" instead of its addresses`));
      }
    });
    child.once("exit", (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`${kind} server exited (${code ?? sig}) before announcing its addresses; stderr: ${err.slice(-800)}`));
    });
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot start the ${kind} server: ${e.message}`));
    });
  });
}

function external(kind: ServerKind, a: { xds: string; http: string }): RunningServer {
  return {
    kind,
    ...a,
    post: async (body, timeoutMs) => {
      const t0 = performance.now();
      const reply = await httpJson(a.http, "POST", "/snapshot", body, timeoutMs);
      return { ms: performance.now() - t0, reply };
    },
    stats: async () => toStats(await httpJson(a.http, "GET", "/stats", undefined, 30_000)),
    profile: async () => {},
    debug: async () => undefined,
    peakRssBytes: () => undefined,
    saveRecording: () => Promise.reject(new Error(`${kind} at ${a.http} records nothing`)),
    stop: async () => {},
  };
}

/** Pin a running process to CPUs (best effort). */
export function pin(pid: number, cpus: string): void {
  spawnSync("taskset", ["-pc", cpus, String(pid)], { stdio: "ignore" });
}

/**
 * Make sure every peer in `servers` can run before anything is measured: the Go
 * peer is built (or taken from the cache, or `o.peerBinary`), started and probed.
 * Throws an Error that says what failed and how to run without that peer.
 */
export async function checkPeers(servers: readonly ServerKind[], o: LaunchOptions): Promise<void> {
  const kind = servers.find(usesGoPeer);
  if (!kind) return;
  const without = servers.filter((k) => !usesGoPeer(k)).join(",") || "mini-pilot,floor";
  if (o.peerExternal) {
    await probe(o.peerExternal.http).catch((e: Error) => {
      throw new Error(`the go-control-plane peer at ${o.peerExternal!.http} does not answer: ${e.message}`);
    });
    return;
  }
  if (!o.peerBinary) {
    try {
      o.peerBinary = buildPeer();
    } catch (e) {
      throw new Error(`${(e as Error).message}\n(run without go-control-plane: --servers ${without})`);
    }
  }
  const s = await startServer(kind, { peerBinary: o.peerBinary }).catch((e: Error) => {
    throw new Error(`the go-control-plane peer does not start: ${e.message}\n(run without it: --servers ${without})`);
  });
  try {
    await probe(s.http);
  } catch (e) {
    throw new Error(`the go-control-plane peer does not answer: ${(e as Error).message}`);
  } finally {
    await s.stop();
  }
}
