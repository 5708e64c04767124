/**
 * The real istiod (pilot-discovery, built by test/istiod/setup.sh) as a child
 * process against a test kube-apiserver (test/kube/cluster.ts), for the
 * fidelity harness and the istiod benchmark peer.
 *
 *   const istiod = await startIstiod(kube.kubeconfigPath);
 *   // istiod.xdsAddress: 127.0.0.1:<port>, plaintext ADS (istiod's --grpcAddr)
 *   await istiod.stop();
 *
 * Every port istiod opens is on 127.0.0.1 and chosen by the kernel (port 0):
 * plaintext xDS (--grpcAddr), HTTP debug/readiness (--httpAddr), metrics
 * (--monitoringAddr, a free ephemeral port picked just before) and ControlZ (--ctrlz_address/--ctrlz_port). The others
 * are switched off: the TLS xDS and CA port (--secureGRPCAddr "" and
 * ENABLE_CA_SERVER=false) and the webhook port (--httpsAddr "", webhook
 * config names empty). The real addresses are read from istiod's log.
 *
 * Mesh config: istiod reads the ConfigMap `istio` (key `mesh`) in its
 * namespace (POD_NAMESPACE, default istio-system) and follows its changes; no
 * mesh file is given. Create that namespace before starting if you need it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { cacheDir, isExecutable } from "../support/cached-binary";

export interface Istiod {
  /** host:port of plaintext ADS (gRPC), e.g. 127.0.0.1:40123. */
  xdsAddress: string;
  /** host:port of istiod's HTTP server (/ready, /debug/...). */
  httpAddress: string;
  /** host:port of istiod's Prometheus metrics (/metrics). */
  monitoringAddress: string;
  /** istiod's stdout+stderr. */
  logPath: string;
  /** The pilot-discovery process (for CPU and memory readings). */
  pid: number;
  /** SIGTERM, then SIGKILL after graceMs (default 5 s); removes the temp dir. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartIstiodOptions {
  /** istiod's namespace (POD_NAMESPACE; where it reads the `istio` ConfigMap). Default istio-system. */
  namespace?: string;
  /** Max time until /ready answers 200. Default 90 s. */
  readyTimeoutMs?: number;
  /** Extra pilot-discovery flags, appended last. */
  extraArgs?: string[];
  /** Keep the temp dir (log) after stop(). Default: env MINI_PILOT_KEEP_ISTIOD=1. */
  keepDir?: boolean;
}

const BUILD_DIR_PARTS = ["test", "istiod", "build"];
const DEFAULT_READY_TIMEOUT_MS = 90_000;

/** test/istiod/build in the source tree, found from this file (works from dist/ too). */
function findBuildDir(): string | undefined {
  for (const start of [__dirname, process.cwd()]) {
    let d = start;
    for (;;) {
      const p = path.join(d, ...BUILD_DIR_PARTS);
      if (fs.existsSync(path.join(p, "go.mod"))) return p;
      const parent = path.dirname(d);
      if (parent === d) break;
      d = parent;
    }
  }
  return undefined;
}

/** The istio.io/istio version test/istiod/build/go.mod pins (the one place it is set). */
export function istioModuleVersion(): string {
  const dir = findBuildDir();
  if (!dir) throw new Error("test/istiod/build/go.mod not found");
  const m = /^\s*require\s+istio\.io\/istio\s+(v\S+)/m.exec(fs.readFileSync(path.join(dir, "go.mod"), "utf8"));
  if (!m) throw new Error(`${path.join(dir, "go.mod")}: no \`require istio.io/istio <version>\` line`);
  return m[1]!;
}

/** Cache name setup.sh uses: a pseudo-version's commit, or the tag. */
function cacheTag(version: string): string {
  return /-([0-9a-f]{12})$/.exec(version)?.[1] ?? version;
}

/** $PILOT_DISCOVERY_BIN, else the binary setup.sh caches for the pinned version. */
export function findPilotDiscoveryBinary(): string {
  const env = process.env.PILOT_DISCOVERY_BIN;
  if (env) {
    if (isExecutable(env)) return env;
    throw new Error(`PILOT_DISCOVERY_BIN=${env} is not an executable file`);
  }
  const p = path.join(cacheDir(), `pilot-discovery-${cacheTag(istioModuleVersion())}`, "pilot-discovery");
  if (isExecutable(p)) return p;
  throw new Error(`pilot-discovery not found at ${p}. Run \`bash test/istiod/setup.sh\` first (builds it into ${cacheDir()}), or set PILOT_DISCOVERY_BIN.`);
}

/**
 * Why istiod tests cannot run here, or undefined when they can. With CI set a
 * missing binary is an error (thrown), elsewhere a loud skip reason.
 */
export function istiodUnavailable(what: string): string | undefined {
  try {
    findPilotDiscoveryBinary();
    return undefined;
  } catch (e) {
    const why = (e as Error).message;
    if (process.env.CI) throw new Error(why);
    process.stderr.write(`\n*** SKIPPING ${what}: ${why} ***\n\n`);
    return why;
  }
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function killLiveOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const c of live) c.kill("SIGKILL");
  });
}

function httpStatus(url: string, timeoutMs = 2_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function tail(file: string, lines = 30): string {
  try {
    return fs.readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** The address istiod logged for `what` ("gRPC discovery service", "HTTP service"), once it has. */
function loggedAddress(log: string, what: string): string | undefined {
  const m = new RegExp(`starting ${what} at (\\S+)`).exec(log);
  return m?.[1];
}

/** A port the kernel just handed out on 127.0.0.1 (for the one istiod listener that never logs its address). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === "object" && addr ? addr.port : 0));
    });
  });
}

/**
 * Start istiod against the cluster of `kubeconfigPath` and wait until it is
 * ready (its caches synced: /ready answers 200). `env` is added to (and wins
 * over) the defaults below and the parent's environment.
 */
export async function startIstiod(kubeconfigPath: string, env: Record<string, string> = {}, opts: StartIstiodOptions = {}): Promise<Istiod> {
  const bin = findPilotDiscoveryBinary();
  const namespace = opts.namespace ?? "istio-system";
  const keepDir = opts.keepDir ?? process.env.MINI_PILOT_KEEP_ISTIOD === "1";
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mini-pilot-istiod-"));
  const logPath = path.join(dir, "istiod.log");
  // The metrics server does not log where it listens: give it a free ephemeral port.
  const monitoringAddress = `127.0.0.1:${await freePort()}`;
  const args = [
    "discovery",
    `--kubeconfig=${kubeconfigPath}`,
    `--namespace=${namespace}`,
    // Absent files: mesh config and networks come from the `istio` ConfigMap (followed live).
    `--meshConfig=${path.join(dir, "no-mesh-file")}`,
    `--networksConfig=${path.join(dir, "no-networks-file")}`,
    "--grpcAddr=127.0.0.1:0",
    "--httpAddr=127.0.0.1:0",
    `--monitoringAddr=${monitoringAddress}`,
    "--secureGRPCAddr=",
    "--httpsAddr=",
    "--ctrlz_address=127.0.0.1",
    "--ctrlz_port=0",
    "--log_output_level=default:info",
    ...(opts.extraArgs ?? []),
  ];
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    POD_NAMESPACE: namespace,
    POD_NAME: "istiod-test",
    ENABLE_CA_SERVER: "false",
    INJECTION_WEBHOOK_CONFIG_NAME: "",
    VALIDATION_WEBHOOK_CONFIG_NAME: "",
    // No Kubernetes Gateway API CRDs are installed; don't wait for them.
    PILOT_ENABLE_GATEWAY_API: "false",
    PILOT_ENABLE_GATEWAY_API_STATUS: "false",
    PILOT_ENABLE_GATEWAY_API_DEPLOYMENT_CONTROLLER: "false",
    PILOT_ENABLE_GATEWAY_API_GATEWAYCLASS_CONTROLLER: "false",
    // No status writes and no leader-only controllers needed for xDS.
    PILOT_ENABLE_STATUS: "false",
    ...env,
  };
  const fd = fs.openSync(logPath, "a");
  let child: ChildProcess;
  try {
    child = spawn(bin, args, { stdio: ["ignore", fd, fd], env: childEnv });
  } finally {
    fs.closeSync(fd);
  }
  killLiveOnExit();
  live.add(child);
  // If node dies by a signal or SIGKILL, no exit hook runs: a watchdog shell kills istiod when node is gone.
  const watchdog = spawn(
    "sh",
    [
      "-c",
      'while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done; kill -9 "$2" 2>/dev/null',
      "sh",
      String(process.pid),
      String(child.pid),
    ],
    {
      stdio: "ignore",
      detached: true,
    },
  );
  watchdog.unref();
  let exitInfo: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      exitInfo = signal ? `killed by ${signal}` : `exited with code ${code}`;
      live.delete(child);
      resolve();
    });
    child.once("error", (err) => {
      exitInfo = `failed to start: ${err.message}`;
      live.delete(child);
      resolve();
    });
  });

  let stopped = false;
  const stop = async (graceMs = 5_000): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (exitInfo === undefined) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    }
    watchdog.kill("SIGKILL");
    if (!keepDir) fs.rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
  try {
    let xdsAddress: string | undefined;
    let httpAddress: string | undefined;
    for (;;) {
      if (exitInfo !== undefined) throw new Error(`istiod ${exitInfo} before becoming ready; last lines of ${logPath}:\n${tail(logPath)}`);
      const log = fs.readFileSync(logPath, "utf8");
      xdsAddress ??= loggedAddress(log, "gRPC discovery service");
      httpAddress ??= loggedAddress(log, "HTTP service");
      if (xdsAddress && httpAddress && (await httpStatus(`http://${httpAddress}/ready`).catch(() => 0)) === 200) {
        return { xdsAddress, httpAddress, monitoringAddress, logPath, pid: child.pid!, stop };
      }
      if (Date.now() > deadline)
        throw new Error(`istiod not ready after ${opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS} ms; last lines of ${logPath}:\n${tail(logPath)}`);
      await sleep(200);
    }
  } catch (err) {
    // Stop it but keep the log the error message points to.
    stopped = true;
    if (exitInfo === undefined) {
      child.kill("SIGKILL");
      await exited;
    }
    watchdog.kill("SIGKILL");
    throw err;
  }
}
