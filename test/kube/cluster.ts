/**
 * A real Kubernetes API server (etcd + kube-apiserver, no controller-manager,
 * no kubelet) for integration tests. Binaries come from test/kube/setup.sh.
 *
 *   const kube = await startKube();
 *   // kube.kubeconfigPath, kube.server, kube.token, kube.caPem
 *   await kube.restartApiServer(); // same port, etcd (and so the data) kept
 *   await kube.stop();
 *
 * Only node built-ins and the `openssl` CLI are used.
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as https from "node:https";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { cacheDir, isExecutable } from "../support/cached-binary";

export interface StartKubeOptions {
  /** Install the Istio networking CRDs (crds/istio-networking.yaml). Default true. */
  installCrds?: boolean;
  /** Max time for etcd, kube-apiserver and the CRDs to become ready. Default 120 s. */
  readyTimeoutMs?: number;
  /** Extra kube-apiserver flags, appended last (so they win). */
  extraApiServerArgs?: string[];
  /** Keep the temp dir (certs, logs, etcd data) after stop(). Default: env MINI_PILOT_KEEP_KUBE=1. */
  keepDir?: boolean;
  /** Parent of the temp dir. Default os.tmpdir(). */
  tmpRoot?: string;
}

export interface KubeCluster {
  /** kubeconfig with the cluster's CA and the admin token (system:masters). */
  kubeconfigPath: string;
  /** https://127.0.0.1:<port> */
  server: string;
  /** Bearer token of user `admin`, group system:masters. */
  token: string;
  /** PEM of the CA that signed the serving cert (== certificate-authority-data). */
  caPem: string;
  /** Temp dir holding certs, kubeconfig, logs and etcd data. */
  dir: string;
  apiServerLogPath: string;
  etcdLogPath: string;
  /** http://127.0.0.1:<port> of etcd. */
  etcdEndpoint: string;
  /** Stop kube-apiserver and etcd and remove the temp dir (unless keepDir). Idempotent. */
  stop(): Promise<void>;
  /** Stop kube-apiserver (SIGTERM, then SIGKILL) and start it again on the same port; waits for /readyz. */
  restartApiServer(): Promise<void>;
  /** Stop only kube-apiserver; etcd keeps running. Pair with startApiServer(). */
  stopApiServer(): Promise<void>;
  /** Start kube-apiserver again after stopApiServer(); waits for /readyz. */
  startApiServer(): Promise<void>;
}

export interface KubeResponse {
  status: number;
  body: string;
}

const ADMIN_USER = "admin";
const DEFAULT_READY_TIMEOUT_MS = 120_000;

// ---------------------------------------------------------------------------
// Process bookkeeping: every child we start is killed when this process exits,
// even if a test forgets stop(). A watchdog shell per cluster covers the case
// where node itself is SIGKILLed.

const liveChildren = new Set<ChildProcess>();
let exitHooksInstalled = false;

function killAllChildrenSync(): void {
  for (const child of liveChildren) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  liveChildren.clear();
}

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on("exit", killAllChildrenSync);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const handler = (): void => {
      killAllChildrenSync();
      // Keep the default behaviour (terminate) unless someone else handles it.
      if (process.listenerCount(sig) === 1) {
        process.removeListener(sig, handler);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, handler);
  }
}

// ---------------------------------------------------------------------------
// Locating files and binaries.

/** test/kube in the source tree, found from this file (works from dist/ too). */
function findKubeDir(): string | undefined {
  const starts = [__dirname, process.cwd()];
  for (const start of starts) {
    let d = start;
    for (;;) {
      if (fs.existsSync(path.join(d, "apiserver", "go.mod")) && fs.existsSync(path.join(d, "crds"))) return d;
      const nested = path.join(d, "test", "kube");
      if (fs.existsSync(path.join(nested, "apiserver", "go.mod"))) return nested;
      const parent = path.dirname(d);
      if (parent === d) break;
      d = parent;
    }
  }
  return undefined;
}

function goModVersion(goModPath: string, module: string): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(goModPath, "utf8");
  } catch {
    return undefined;
  }
  const escaped = module.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  const m = new RegExp(`^\\s*(?:require\\s+)?${escaped}\\s+(v[^\\s]+)`, "m").exec(text);
  return m?.[1];
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    if (isExecutable(p)) return p;
  }
  return undefined;
}

/** Highest-versioned `<prefix>v*` executable in the cache dir. */
function newestCached(prefix: string): string | undefined {
  let names: string[];
  try {
    names = fs.readdirSync(cacheDir());
  } catch {
    return undefined;
  }
  const candidates = names
    .filter((n) => n.startsWith(prefix + "v") && !n.includes(".tmp."))
    .filter((n) => isExecutable(path.join(cacheDir(), n)))
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const best = candidates[candidates.length - 1];
  return best ? path.join(cacheDir(), best) : undefined;
}

function missingBinary(what: string, envVar: string, tried: string[]): Error {
  const kubeDir = findKubeDir();
  let setup = "test/kube/setup.sh";
  if (kubeDir) {
    const abs = path.join(kubeDir, "setup.sh");
    const rel = path.relative(process.cwd(), abs);
    setup = rel.startsWith("..") || path.isAbsolute(rel) ? abs : rel;
  }
  return new Error(
    `${what} not found (tried: ${tried.join(", ")}). ` + `Run \`bash ${setup}\` first (builds/installs it into ${cacheDir()}), or set ${envVar}.`,
  );
}

export function findKubeApiServerBinary(): string {
  const tried: string[] = [];
  const env = process.env.KUBE_APISERVER_BIN;
  if (env) {
    if (isExecutable(env)) return env;
    throw new Error(`KUBE_APISERVER_BIN=${env} is not an executable file`);
  }
  const kubeDir = findKubeDir();
  const version = kubeDir ? goModVersion(path.join(kubeDir, "apiserver", "go.mod"), "k8s.io/kubernetes") : undefined;
  if (version) {
    const p = path.join(cacheDir(), `kube-apiserver-${version}`);
    tried.push(p);
    if (isExecutable(p)) return p;
  } else {
    tried.push(path.join(cacheDir(), "kube-apiserver-v*"));
    const cached = newestCached("kube-apiserver-");
    if (cached) return cached;
  }
  tried.push("kube-apiserver on PATH");
  const p = onPath("kube-apiserver");
  if (p) return p;
  throw missingBinary("kube-apiserver", "KUBE_APISERVER_BIN", tried);
}

export function findEtcdBinary(): string {
  const env = process.env.ETCD_BIN;
  if (env) {
    if (isExecutable(env)) return env;
    throw new Error(`ETCD_BIN=${env} is not an executable file`);
  }
  // setup.sh only builds etcd into the cache when the one on PATH is too old,
  // so a cached one wins.
  const cached = newestCached("etcd-");
  if (cached) return cached;
  const p = onPath("etcd");
  if (p) return p;
  throw missingBinary("etcd", "ETCD_BIN", [path.join(cacheDir(), "etcd-v*"), "etcd on PATH"]);
}

function etcdVersion(bin: string): number[] {
  try {
    const out = execFileSync(bin, ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 10_000 });
    const m = /etcd Version:\s*(\d+)\.(\d+)\.(\d+)/.exec(out);
    if (m) return [Number(m[1]), Number(m[2]), Number(m[3])];
  } catch {
    // fall through
  }
  return [0, 0, 0];
}

// ---------------------------------------------------------------------------
// Small helpers.

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync("openssl", args, { cwd, stdio: ["ignore", "pipe", "pipe"], timeout: 30_000 });
  } catch (err) {
    const e = err as { code?: string; stderr?: Buffer };
    if (e.code === "ENOENT") throw new Error("openssl not found on PATH (apt-get install -y openssl)");
    throw new Error(`openssl ${args.join(" ")} failed: ${e.stderr?.toString() ?? String(err)}`);
  }
}

function tail(file: string, lines = 40): string {
  try {
    const all = fs.readFileSync(file, "utf8").split("\n");
    return all.slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Self-signed CA, a serving cert for 127.0.0.1/localhost signed by it, and a service-account key. */
function generatePki(dir: string): void {
  const ext = path.join(dir, "serving.ext");
  fs.writeFileSync(
    ext,
    [
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.96.0.1",
      "",
    ].join("\n"),
  );
  const ec = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
  openssl(["genpkey", ...ec, "-out", "ca.key"], dir);
  openssl(
    [
      "req",
      "-x509",
      "-new",
      "-key",
      "ca.key",
      "-sha256",
      "-days",
      "3650",
      "-subj",
      "/CN=mini-pilot-test-ca",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
      "-out",
      "ca.crt",
    ],
    dir,
  );
  openssl(["genpkey", ...ec, "-out", "serving.key"], dir);
  openssl(["req", "-new", "-key", "serving.key", "-subj", "/CN=kube-apiserver", "-out", "serving.csr"], dir);
  openssl(
    [
      "x509",
      "-req",
      "-in",
      "serving.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "3650",
      "-sha256",
      "-extfile",
      "serving.ext",
      "-out",
      "serving.crt",
    ],
    dir,
  );
  openssl(["genpkey", ...ec, "-out", "sa.key"], dir);
  openssl(["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"], dir);
}

/** One HTTPS request to the cluster as admin. `body` objects are sent as JSON. */
export function kubeRequest(
  cluster: Pick<KubeCluster, "server" | "token" | "caPem">,
  method: string,
  urlPath: string,
  body?: string | object,
  contentType = "application/json",
  timeoutMs = 10_000,
): Promise<KubeResponse> {
  const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request(
      new URL(urlPath, cluster.server),
      {
        method,
        ca: cluster.caPem,
        headers: {
          authorization: `Bearer ${cluster.token}`,
          accept: "application/json",
          ...(payload !== undefined ? { "content-type": contentType, "content-length": Buffer.byteLength(payload) } : {}),
        },
        timeout: timeoutMs,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${urlPath}: timeout after ${timeoutMs} ms`)));
    req.on("error", reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

function httpGet(url: string, timeoutMs = 2_000): Promise<KubeResponse> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

interface Proc {
  child: ChildProcess;
  exited: Promise<void>;
  exitInfo?: string;
}

function startProcess(bin: string, args: string[], logPath: string, pidsFile: string): Proc {
  installExitHooks();
  const fd = fs.openSync(logPath, "a");
  fs.writeSync(fd, `\n==== ${new Date().toISOString()} ${bin} ${args.join(" ")}\n`);
  let child: ChildProcess;
  try {
    child = spawn(bin, args, { stdio: ["ignore", fd, fd], env: { ...process.env } });
  } finally {
    fs.closeSync(fd);
  }
  child.unref();
  liveChildren.add(child);
  const proc: Proc = {
    child,
    exited: new Promise<void>((resolve) => {
      child.once("exit", (code, signal) => {
        proc.exitInfo = signal ? `killed by ${signal}` : `exited with code ${code}`;
        liveChildren.delete(child);
        writePids(pidsFile);
        resolve();
      });
      child.once("error", (err) => {
        proc.exitInfo = `failed to start: ${err.message}`;
        liveChildren.delete(child);
        resolve();
      });
    }),
  };
  writePids(pidsFile);
  return proc;
}

function writePids(pidsFile: string): void {
  const pids = [...liveChildren].map((c) => c.pid).filter((p): p is number => typeof p === "number");
  try {
    fs.writeFileSync(pidsFile, pids.join("\n") + "\n");
  } catch {
    // temp dir already removed
  }
}

async function stopProcess(proc: Proc | undefined, graceMs = 10_000): Promise<void> {
  if (!proc || proc.exitInfo !== undefined) return;
  // The child is unref'd while it runs; waiting for its exit must keep node alive, or node ends
  // (exit code 0, nothing after this await runs) when a slow SIGTERM outlasts the SIGKILL timer.
  proc.child.ref();
  proc.child.kill("SIGTERM");
  const timer = setTimeout(() => proc.child.kill("SIGKILL"), graceMs);
  await proc.exited;
  clearTimeout(timer);
}

/** Kills this cluster's processes if node dies without running exit hooks (e.g. SIGKILL). */
function startWatchdog(pidsFile: string, dir: string, removeDir: boolean): ChildProcess {
  const script = [
    'parent="$1"; pids="$2"; dir="$3"; rmdir_="$4"',
    'while kill -0 "$parent" 2>/dev/null; do sleep 1; done',
    '[ -f "$pids" ] && for p in $(cat "$pids"); do kill -9 "$p" 2>/dev/null; done',
    '[ "$rmdir_" = 1 ] && rm -rf "$dir"',
    "exit 0",
  ].join("\n");
  const child = spawn("sh", ["-c", script, "mini-pilot-kube-watchdog", String(process.pid), pidsFile, dir, removeDir ? "1" : "0"], {
    stdio: "ignore",
    detached: true,
  });
  child.unref();
  child.on("error", () => undefined);
  return child;
}

function kubeconfigYaml(server: string, caPem: string, token: string): string {
  const ca = Buffer.from(caPem).toString("base64");
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: mini-pilot-test",
    "  cluster:",
    `    server: ${server}`,
    `    certificate-authority-data: ${ca}`,
    "users:",
    `- name: ${ADMIN_USER}`,
    "  user:",
    `    token: ${token}`,
    "contexts:",
    "- name: mini-pilot-test",
    "  context:",
    "    cluster: mini-pilot-test",
    `    user: ${ADMIN_USER}`,
    "    namespace: default",
    "current-context: mini-pilot-test",
    "",
  ].join("\n");
}

// ---------------------------------------------------------------------------
// CRDs.

/** Path of crds/istio-networking.yaml in the source tree. */
export function istioCrdsPath(): string {
  const kubeDir = findKubeDir();
  const p = kubeDir ? path.join(kubeDir, "crds", "istio-networking.yaml") : undefined;
  if (!p || !fs.existsSync(p)) throw new Error("test/kube/crds/istio-networking.yaml not found");
  return p;
}

/**
 * Install CRDs from a multi-document YAML file (default: the Istio networking
 * CRDs) and wait until each is Established and its storage version lists.
 * Existing CRDs are left as they are.
 */
export async function installIstioCrds(
  cluster: Pick<KubeCluster, "server" | "token" | "caPem">,
  opts: { file?: string; timeoutMs?: number } = {},
): Promise<string[]> {
  const file = opts.file ?? istioCrdsPath();
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const docs = fs
    .readFileSync(file, "utf8")
    .split(/^---\s*$/m)
    .filter((d) => /^kind:\s*CustomResourceDefinition\s*$/m.test(d));
  const names: string[] = [];
  for (const doc of docs) {
    const name = /^metadata:\s*\n\s+name:\s*(\S+)/m.exec(doc)?.[1];
    if (!name) throw new Error(`${file}: CRD document without metadata.name as first field:\n${doc}`);
    // kube-apiserver accepts YAML bodies, so no YAML parser is needed here.
    const res = await kubeRequest(cluster, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", doc, "application/yaml");
    if (res.status !== 201 && res.status !== 409) {
      throw new Error(`creating CRD ${name}: HTTP ${res.status}: ${res.body}`);
    }
    names.push(name);
  }
  const deadline = Date.now() + timeoutMs;
  for (const name of names) {
    for (;;) {
      const res = await kubeRequest(cluster, "GET", `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
      if (res.status === 200) {
        const crd = JSON.parse(res.body) as {
          spec: { group: string; names: { plural: string }; versions: { name: string; served: boolean }[] };
          status?: { conditions?: { type: string; status: string }[] };
        };
        const established = crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True");
        if (established) {
          // Established == the handler is installed; make sure every served version lists.
          let allServe = true;
          for (const v of crd.spec.versions.filter((x) => x.served)) {
            const list = await kubeRequest(cluster, "GET", `/apis/${crd.spec.group}/${v.name}/${crd.spec.names.plural}?limit=1`);
            if (list.status !== 200) allServe = false;
          }
          if (allServe) break;
        }
      }
      if (Date.now() > deadline) throw new Error(`CRD ${name} not Established after ${timeoutMs} ms (last: HTTP ${res.status} ${res.body})`);
      await sleep(100);
    }
  }
  return names;
}

// ---------------------------------------------------------------------------
// The cluster.

export async function startKube(opts: StartKubeOptions = {}): Promise<KubeCluster> {
  const apiServerBin = findKubeApiServerBinary();
  const etcdBin = findEtcdBinary();
  const readyTimeoutMs = opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  const keepDir = opts.keepDir ?? process.env.MINI_PILOT_KEEP_KUBE === "1";

  const dir = fs.mkdtempSync(path.join(opts.tmpRoot ?? os.tmpdir(), "mini-pilot-kube-"));
  const pidsFile = path.join(dir, "pids");
  const etcdLogPath = path.join(dir, "etcd.log");
  const apiServerLogPath = path.join(dir, "kube-apiserver.log");
  const watchdog = startWatchdog(pidsFile, dir, !keepDir);

  let etcd: Proc | undefined;
  let apiServer: Proc | undefined;
  let stopped = false;

  const logHint = (): string => `logs: ${etcdLogPath}, ${apiServerLogPath} (kept in ${dir})`;

  const killAll = async (): Promise<void> => {
    await stopProcess(apiServer);
    await stopProcess(etcd);
    try {
      watchdog.kill("SIGKILL");
    } catch {
      // gone
    }
  };

  try {
    // --- PKI, token, kubeconfig inputs
    generatePki(dir);
    const token = crypto.randomBytes(24).toString("hex");
    const tokenFile = path.join(dir, "tokens.csv");
    fs.writeFileSync(tokenFile, `${token},${ADMIN_USER},${ADMIN_USER},"system:masters"\n`, { mode: 0o600 });
    const caPem = fs.readFileSync(path.join(dir, "ca.crt"), "utf8");

    const [etcdClientPort, etcdPeerPort, apiPort] = await freePorts(3);
    const etcdEndpoint = `http://127.0.0.1:${etcdClientPort}`;
    const server = `https://127.0.0.1:${apiPort}`;

    // --- etcd
    const [major, minor] = etcdVersion(etcdBin);
    const etcdArgs = [
      "--name=default",
      `--data-dir=${path.join(dir, "etcd-data")}`,
      `--listen-client-urls=${etcdEndpoint}`,
      `--advertise-client-urls=${etcdEndpoint}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-cluster=default=http://127.0.0.1:${etcdPeerPort}`,
      "--initial-cluster-state=new",
      "--log-level=warn",
    ];
    if (major === 3 && minor < 5) etcdArgs.push("--logger=zap");
    if (major > 3 || (major === 3 && minor >= 5)) etcdArgs.push("--unsafe-no-fsync");
    etcd = startProcess(etcdBin, etcdArgs, etcdLogPath, pidsFile);
    await waitFor(
      "etcd",
      async () => {
        const res = await httpGet(`${etcdEndpoint}/health`);
        return res.status === 200 && /"health"\s*:\s*"true"/.test(res.body);
      },
      etcd,
      readyTimeoutMs,
      etcdLogPath,
    );

    // --- kube-apiserver
    const apiArgs = [
      `--etcd-servers=${etcdEndpoint}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${apiPort}`,
      `--cert-dir=${dir}`,
      `--tls-cert-file=${path.join(dir, "serving.crt")}`,
      `--tls-private-key-file=${path.join(dir, "serving.key")}`,
      `--client-ca-file=${path.join(dir, "ca.crt")}`,
      `--token-auth-file=${tokenFile}`,
      "--authorization-mode=RBAC",
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${path.join(dir, "sa.pub")}`,
      `--service-account-signing-key-file=${path.join(dir, "sa.key")}`,
      "--service-cluster-ip-range=10.96.0.0/16",
      // No controller-manager runs: ServiceAccount would reject pods (no
      // default SA is ever created); the others need controllers or nodes.
      "--disable-admission-plugins=ServiceAccount,DefaultStorageClass,DefaultTolerationSeconds,StorageObjectInUseProtection,PersistentVolumeClaimResize,TaintNodesByCondition,DefaultIngressClass",
      // 127.0.0.1 is not a valid Endpoints address, so the `kubernetes`
      // Service endpoint reconciler would only log errors.
      "--endpoint-reconciler-type=none",
      "--allow-privileged=true",
      "--profiling=false",
      ...(opts.extraApiServerArgs ?? []),
    ];

    const startApi = async (): Promise<void> => {
      const proc = startProcess(apiServerBin, apiArgs, apiServerLogPath, pidsFile);
      apiServer = proc;
      await waitFor(
        "kube-apiserver",
        async () => (await kubeRequest({ server, token, caPem }, "GET", "/readyz", undefined, undefined, 2_000)).status === 200,
        proc,
        readyTimeoutMs,
        apiServerLogPath,
      );
    };
    await startApi();

    const kubeconfigPath = path.join(dir, "kubeconfig");
    fs.writeFileSync(kubeconfigPath, kubeconfigYaml(server, caPem, token), { mode: 0o600 });

    const cluster: KubeCluster = {
      kubeconfigPath,
      server,
      token,
      caPem,
      dir,
      apiServerLogPath,
      etcdLogPath,
      etcdEndpoint,
      async stop() {
        if (stopped) return;
        stopped = true;
        await killAll();
        if (!keepDir) fs.rmSync(dir, { recursive: true, force: true });
      },
      async stopApiServer() {
        if (stopped) throw new Error("cluster stopped");
        await stopProcess(apiServer);
      },
      async startApiServer() {
        if (stopped) throw new Error("cluster stopped");
        if (apiServer && apiServer.exitInfo === undefined) return;
        await startApi();
      },
      async restartApiServer() {
        await cluster.stopApiServer();
        await cluster.startApiServer();
      },
    };

    if (opts.installCrds ?? true) await installIstioCrds(cluster, { timeoutMs: readyTimeoutMs });
    return cluster;
  } catch (err) {
    stopped = true;
    await killAll();
    const msg = err instanceof Error ? err.message : String(err);
    const e = new Error(`startKube failed: ${msg}\n${logHint()}`);
    (e as { cause?: unknown }).cause = err;
    throw e;
  }
}

async function waitFor(what: string, probe: () => Promise<boolean>, proc: Proc, timeoutMs: number, logPath: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr = "";
  for (;;) {
    if (proc.exitInfo !== undefined) {
      throw new Error(`${what} ${proc.exitInfo} before becoming ready; last lines of ${logPath}:\n${tail(logPath)}`);
    }
    try {
      if (await probe()) return;
      lastErr = "not ready";
    } catch (err) {
      lastErr = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) {
      throw new Error(`${what} not ready after ${timeoutMs} ms (${lastErr}); last lines of ${logPath}:\n${tail(logPath)}`);
    }
    await sleep(100);
  }
}

/**
 * Why Kubernetes tests cannot run here, or undefined when they can. In CI a
 * missing binary is an error (thrown), elsewhere a loud skip reason.
 */
export function kubeUnavailable(what: string): string | undefined {
  try {
    findKubeApiServerBinary();
    findEtcdBinary();
    return undefined;
  } catch (e) {
    const why = `kube-apiserver/etcd not available (${(e as Error).message}); run \`bash test/kube/setup.sh\``;
    if (process.env.CI) throw new Error(why);
    process.stderr.write(`\n*** SKIPPING ${what}: ${why} ***\n\n`);
    return why;
  }
}
