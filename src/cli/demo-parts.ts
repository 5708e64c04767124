/**
 * The moving parts of `mini-pilot demo`, each started on loopback and stopped
 * by its owner: the two bill-service backends, `mini-pilot serve` as a child
 * process (as a user runs it), a real Envoy, and an HTTP client that counts
 * which backend answered.
 */
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";
import { parseAllDocuments, stringify } from "yaml";

export interface Backend {
  name: string;
  host: string;
  port: number;
  stop(): Promise<void>;
}

/** An HTTP server that answers every request with its own name. */
export function startBackend(name: string, host: string): Promise<Backend> {
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { "content-type": "text/plain", "x-backend": name, "content-length": Buffer.byteLength(name) });
    res.end(name);
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      resolve({
        name,
        host,
        port,
        stop: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}

/** Can this machine bind `host`? (macOS has only 127.0.0.1 unless aliases are added.) */
export function canBind(host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once("error", () => resolve(false));
    s.listen(0, host, () => s.close(() => resolve(true)));
  });
}

/** A port that was free on `host` a moment ago (bind 0, read it, close): for the ports Envoy must be told up front. */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, host, () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface DemoAddresses {
  v1: { host: string; port: number };
  v2: { host: string; port: number };
  gateway: { host: string; port: number };
}

type Obj = { kind?: string; metadata?: { name?: string; labels?: Record<string, string> }; [k: string]: unknown };

/**
 * The example folder's objects with the addresses the demo actually uses: each
 * version's EndpointSlice and Pod get its backend's address and port, the
 * Gateway its port. Everything else is written as it is.
 */
export function writeDemoConfig(exampleDir: string, outDir: string, a: DemoAddresses): void {
  fs.mkdirSync(outDir, { recursive: true });
  const version = (name: string | undefined): "v1" | "v2" | undefined => (name?.includes("-v1") ? "v1" : name?.includes("-v2") ? "v2" : undefined);
  for (const file of fs
    .readdirSync(exampleDir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()) {
    const docs = parseAllDocuments(fs.readFileSync(path.join(exampleDir, file), "utf8")).map((d) => d.toJSON() as Obj | null);
    const out = docs
      .filter((o): o is Obj => o !== null)
      .map((o) => {
        const v = version(o.metadata?.name);
        if (o.kind === "EndpointSlice" && v) {
          const s = o as Obj & { ports: { port: number }[]; endpoints: { addresses: string[] }[] };
          for (const p of s.ports) p.port = a[v].port;
          for (const e of s.endpoints) e.addresses = [a[v].host];
        } else if (o.kind === "Pod" && v) {
          (o as Obj & { status: { podIP: string } }).status.podIP = a[v].host;
        } else if (o.kind === "Gateway") {
          for (const server of (o as Obj & { spec: { servers: { port: { number: number }; bind?: string }[] } }).spec.servers) {
            server.port.number = a.gateway.port;
            server.bind = a.gateway.host;
          }
        }
        return stringify(o, { lineWidth: 0 });
      });
    fs.writeFileSync(path.join(outDir, file), out.join("---\n"));
  }
}

export interface ServeChild {
  xds: string;
  http: string;
  logs: string[];
  stop(): Promise<void>;
}

/** `mini-pilot serve --config-dir DIR` on ephemeral loopback ports; resolves once it says it is serving. */
export function startServe(cliMain: string, configDir: string, timeoutMs = 20_000): Promise<ServeChild> {
  const child = spawn(
    process.execPath,
    [cliMain, "serve", "--config-dir", configDir, "--xds-address", "127.0.0.1:0", "--http-address", "127.0.0.1:0", "--debounce-after", "20ms"],
    {
      env: { ...process.env, LOG_FORMAT: "json" },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  const logs: string[] = [];
  const stop = () => stopChild(child, 5_000);
  return new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`mini-pilot serve did not start within ${timeoutMs} ms:\n${logs.slice(-10).join("\n")}`));
    }, timeoutMs);
    child.stderr!.on("data", (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        logs.push(line);
        if (/"msg":"mini-pilot serving"/.test(line)) {
          clearTimeout(timer);
          const o = JSON.parse(line) as { xds: string; http: string };
          resolve({ xds: o.xds, http: o.http, logs, stop });
        }
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`mini-pilot serve exited (${code}):\n${[...logs, buf].slice(-10).join("\n")}`));
    });
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the child is gone. */
export function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

export interface EnvoyChild {
  child: ChildProcess;
  logPath: string;
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

export function startEnvoy(bin: string, configPath: string, logPath: string): EnvoyChild {
  const args = [
    "-c",
    configPath,
    "--disable-hot-restart",
    "--base-id",
    String(process.pid % 1_000_000),
    "--concurrency",
    "1",
    "-l",
    "warning",
    "--log-path",
    logPath,
  ];
  const child = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  child.on("error", (e) => (stderr += `cannot start ${bin}: ${e.message}\n`));
  const logTail = (lines = 15): string => {
    let log = "";
    try {
      log = fs.readFileSync(logPath, "utf8");
    } catch {
      // Envoy has not written its log yet
    }
    return `${log}${stderr}`.trim().split("\n").slice(-lines).join("\n");
  };
  return { child, logPath, logTail, stop: () => stopChild(child, 5_000) };
}

export interface Reply {
  status: number;
  backend: string;
}

/** GET through Envoy with `Host` (and extra headers); the backend is what the body says (or the status). */
export function request(agent: http.Agent, port: number, host: string, headers: Record<string, string> = {}, timeoutMs = 5_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/", agent, headers: { host, ...headers }, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, backend: res.statusCode === 200 ? body.trim() : `status ${res.statusCode}` }));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
  });
}

/** Poll `ok` every 100 ms until it is true, `until` gives up, or the time is out. */
export async function waitFor(what: string, timeoutMs: number, ok: () => Promise<boolean>, giveUp: () => string | undefined = () => undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reason = giveUp();
    if (reason) throw new Error(`${what}: ${reason}`);
    try {
      if (await ok()) return;
    } catch {
      // not there yet
    }
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
