/** Run `mini-pilot serve` as a child process, the way a user does, and learn its ports from its log. */
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface ServeProcess {
  xdsPort: number;
  /** The TLS xDS + certificate service port (undefined with --secure-xds-address off). */
  securePort?: number;
  httpPort: number;
  child: ChildProcess;
  logs: string[];
  /** Resolves when a log line matches. */
  waitForLog(re: RegExp, timeoutMs?: number): Promise<string>;
  stop(): Promise<number | null>;
}

export const CLI = path.join(__dirname, "..", "..", "src", "cli", "main.js");

export function startServe(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  /** `nodeArgs`: options for node itself, before the script (e.g. `--cpu-prof`, which serve cannot take as a flag). */
  opts: { caSecret?: boolean; noWaitReady?: boolean; nodeArgs?: string[] } = {},
): Promise<ServeProcess> {
  // A CA of its own per run (not the user's state folder, nor the cluster's istio-ca-secret unless
  // asked for); the secure port follows --xds-address (127.0.0.1:0).
  const ca = args.includes("--ca-dir") || opts.caSecret ? [] : ["--ca-dir", path.join(fs.mkdtempSync(path.join(os.tmpdir(), "mini-pilot-ca-")), "ca")];
  const child = spawn(
    process.execPath,
    [...(opts.nodeArgs ?? []), CLI, "serve", "--xds-address", "127.0.0.1:0", "--http-address", "127.0.0.1:0", ...ca, ...args],
    {
      env: { ...process.env, LOG_FORMAT: "json", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const logs: string[] = [];
  const listeners: ((line: string) => void)[] = [];
  let buf = "";
  child.stderr!.on("data", (d: Buffer) => {
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      logs.push(line);
      for (const l of [...listeners]) l(line);
    }
  });
  const waitForLog = (re: RegExp, timeoutMs = 15000) =>
    new Promise<string>((resolve, reject) => {
      const hit = logs.find((l) => re.test(l));
      if (hit) return resolve(hit);
      const timer = setTimeout(() => reject(new Error(`no log line matching ${re} within ${timeoutMs}ms; logs:\n${logs.join("\n")}`)), timeoutMs);
      const l = (line: string) => {
        if (!re.test(line)) return;
        clearTimeout(timer);
        listeners.splice(listeners.indexOf(l), 1);
        resolve(line);
      };
      listeners.push(l);
      child.once("exit", (code) => reject(new Error(`serve exited with ${code}; logs:\n${logs.join("\n")}`)));
    });
  const stop = () =>
    new Promise<number | null>((resolve) => {
      if (child.exitCode !== null) return resolve(child.exitCode);
      child.once("exit", (code) => resolve(code));
      child.kill("SIGTERM");
    });
  return waitForLog(/mini-pilot serving/).then(async (line) => {
    const o = JSON.parse(line) as { xds: string; http: string; secureXds?: string };
    const securePort = o.secureXds ? { securePort: Number(o.secureXds.split(":").pop()) } : {};
    const serve = { xdsPort: Number(o.xds.split(":").pop()), httpPort: Number(o.http.split(":").pop()), ...securePort, child, logs, waitForLog, stop };
    // The ports open before the source is read; tests start from its first snapshot (/ready 200), as before.
    if (!opts.noWaitReady && !args.includes("--help")) await waitReady(serve.httpPort, child, logs);
    return serve;
  });
}

async function waitReady(port: number, child: ChildProcess, logs: string[], timeoutMs = 60_000): Promise<void> {
  const start = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`serve exited with ${child.exitCode}; logs:\n${logs.join("\n")}`);
    const status = await fetch(`http://127.0.0.1:${port}/ready`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return;
    if (Date.now() - start > timeoutMs) throw new Error(`serve not ready within ${timeoutMs} ms; logs:\n${logs.join("\n")}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function getJson(port: number, p: string): Promise<unknown> {
  const res = await fetch(`http://127.0.0.1:${port}${p}`);
  return res.json();
}
