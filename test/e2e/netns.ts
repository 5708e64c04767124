/**
 * A pod on this machine: a network namespace joined to the host by a veth
 * pair, with istio-init's iptables rules (seed 004, installed by `mini-pilot
 * iptables`) sending every outbound TCP connection to Envoy's 15001 and
 * inbound to 15006, except Envoy's own (by UID) and loopback.
 *
 *   host  10.213.N.1/30 (mph<id>) ── veth ── (mpn<id>) 10.213.N.2/30  pod, default route via .1
 *
 * Envoy runs inside as root (UID 0: the PyPI Envoy lives under /root, which
 * other users cannot enter), so the rules exempt UID 0, where Istio exempts
 * 1337; the application (the test client) runs as `nobody`, so its traffic
 * is captured. Needs root, `ip netns` and iptables with the nat table and the
 * owner match; `netnsUnavailable()` says why not when they are missing.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ChildProcess, execFile, spawn, spawnSync } from "node:child_process";

/** The built CLI (dist/src/cli/main.js). */
const CLI = path.join(__dirname, "..", "..", "src", "cli", "main.js");

export interface PodNetns {
  name: string;
  /** The host end of the veth: where the test's backends and the control plane listen. */
  hostIp: string;
  /** The pod's IP (its end of the veth). */
  podIp: string;
  /** The UID whose connections the rules leave alone (Envoy's). */
  envoyUid: number;
  /** The rules as `iptables-save -t nat` prints them inside the pod. */
  rules(): string;
  /**
   * Run a command inside the pod (as root, or as `uid`); rejects on a non-zero
   * exit. Asynchronous, so servers in this process keep answering meanwhile.
   */
  exec(cmd: string, args: string[], opts?: { uid?: number; timeoutMs?: number }): Promise<string>;
  /** Start a long-running process inside the pod (as root). */
  spawn(cmd: string, args: string[]): ChildProcess;
  destroy(): void;
}

function run(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8", input: opts.input, timeout: opts.timeoutMs ?? 30_000, maxBuffer: 64 * 1024 * 1024 });
  return { status: r.error ? null : r.status, out: `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? String(r.error) : ""}` };
}

function must(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): string {
  const r = run(cmd, args, opts);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}: ${r.out}`);
  return r.out;
}

/** Why this machine cannot make a pod namespace, or undefined when it can. */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== "linux") return "network namespaces are Linux only";
  if (process.getuid?.() !== 0) return "creating network namespaces and iptables rules needs root";
  if (run("ip", ["-V"]).status !== 0) return "no `ip` command (iproute2)";
  if (run("iptables", ["--version"]).status !== 0) return "no `iptables` command (apt-get install iptables)";
  const probe = `mp-probe-${process.pid}`;
  const add = run("ip", ["netns", "add", probe]);
  if (add.status !== 0) return `ip netns add is not allowed here: ${add.out.trim()}`;
  try {
    const nat = run("ip", ["netns", "exec", probe, "iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-m", "owner", "--uid-owner", "0", "-j", "RETURN"]);
    if (nat.status !== 0) return `iptables nat with the owner match does not work here: ${nat.out.trim()}`;
  } finally {
    run("ip", ["netns", "del", probe]);
  }
  return undefined;
}

let counter = 0;

/**
 * Create the pod namespace, its veth link and the capture rules, installed by
 * `mini-pilot iptables` with `captureArgs` (default: Istio's rules with UID 0,
 * Envoy's here, exempt instead of 1337; null: no rules, the caller installs them).
 */
export function createPodNetns(opts: { captureArgs?: string[] | null } = {}): PodNetns {
  const id = `${process.pid % 10_000}${counter++}`;
  const subnet = (process.pid + counter * 7) % 250;
  const name = `mp-pod-${id}`;
  const hostIf = `mph${id}`;
  const podIf = `mpn${id}`;
  const hostIp = `10.213.${subnet}.1`;
  const podIp = `10.213.${subnet}.2`;
  const envoyUid = 0;
  const destroy = (): void => {
    run("ip", ["netns", "del", name]);
    run("ip", ["link", "del", hostIf]);
  };
  destroy(); // a leftover from a crashed run
  try {
    must("ip", ["netns", "add", name]);
    must("ip", ["link", "add", hostIf, "type", "veth", "peer", "name", podIf]);
    must("ip", ["link", "set", podIf, "netns", name]);
    must("ip", ["addr", "add", `${hostIp}/30`, "dev", hostIf]);
    must("ip", ["link", "set", hostIf, "up"]);
    const inPod = (...args: string[]): string => must("ip", ["netns", "exec", name, ...args]);
    inPod("ip", "link", "set", "lo", "up");
    inPod("ip", "addr", "add", `${podIp}/30`, "dev", podIf);
    inPod("ip", "link", "set", podIf, "up");
    inPod("ip", "route", "add", "default", "via", hostIp);
    // istio-init's job, done by the command the injected init container runs.
    if (opts.captureArgs !== null) inPod(process.execPath, CLI, "iptables", ...(opts.captureArgs ?? ["--proxy-uid", String(envoyUid), "--proxy-gid", ""]));
  } catch (e) {
    destroy();
    throw e;
  }
  return {
    name,
    hostIp,
    podIp,
    envoyUid,
    rules: () => must("ip", ["netns", "exec", name, "iptables-save", "-t", "nat"]),
    exec: (cmd, args, opts = {}) => {
      const asUser = opts.uid !== undefined ? ["setpriv", `--reuid=${opts.uid}`, `--regid=${opts.uid}`, "--clear-groups", "--"] : [];
      const argv = ["netns", "exec", name, ...asUser, cmd, ...args];
      return new Promise((resolve, reject) => {
        execFile("ip", argv, { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
          if (err) reject(new Error(`ip ${argv.join(" ")}: ${err.message}\n${stderr}`));
          else resolve(stdout);
        });
      });
    },
    spawn: (cmd, args) => spawn("ip", ["netns", "exec", name, cmd, ...args], { stdio: ["ignore", "pipe", "pipe"] }),
    destroy,
  };
}

/** UID of `nobody`: the application's user inside the pod. */
export const APP_UID = 65534;

/**
 * A client script the application user can run inside the pod: GETs `url`
 * `n` times (`concurrency` at a time) with `headers`, and prints as JSON
 * {counts: {"<x-backend, or status N>": count, ...}, minMs, maxMs}.
 */
export function writeClientScript(dir: string): string {
  const file = path.join(dir, "pod-client.js");
  fs.writeFileSync(
    file,
    `const http = require("node:http");
const [url, n, concurrency, headersJson] = process.argv.slice(2);
const headers = JSON.parse(headersJson || "{}");
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(concurrency) });
const counts = {};
let next = 0, minMs = Infinity, maxMs = 0;
const one = () => new Promise((resolve) => {
  const started = process.hrtime.bigint();
  const req = http.get(url, { agent, headers, timeout: 10000 }, (res) => {
    res.resume();
    res.on("end", () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      minMs = Math.min(minMs, ms);
      maxMs = Math.max(maxMs, ms);
      const b = res.headers["x-backend"];
      const key = res.statusCode === 200 && b ? b : "status " + res.statusCode;
      counts[key] = (counts[key] || 0) + 1;
      resolve();
    });
  });
  req.on("timeout", () => req.destroy(new Error("timeout")));
  req.on("error", (e) => { counts["error " + e.code] = (counts["error " + e.code] || 0) + 1; resolve(); });
});
const worker = async () => { while (next < Number(n)) { next++; await one(); } };
Promise.all(Array.from({ length: Number(concurrency) }, worker)).then(() => { process.stdout.write(JSON.stringify({ counts, minMs, maxMs })); agent.destroy(); });
`,
  );
  fs.chmodSync(dir, 0o755);
  fs.chmodSync(file, 0o644);
  return file;
}

/** A temp dir the application user can read. */
export function podReadableTmp(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o755);
  return dir;
}

/** Run a command; its output, or an error with what it printed. */
export function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

/**
 * A veth between two pods (no forwarding on the host needed): a gets .1, b gets .2 of a /30 in
 * `<net>.<subnet>.0`. Tests that may run at once pass different `net`s and `prefix`es (interface names).
 */
export function linkPods(a: PodNetns, b: PodNetns, o: { net: string; prefix: string }): { aIp: string; bIp: string; destroy(): void } {
  const id = `${process.pid % 10_000}`;
  const subnet = (process.pid % 200) + 20;
  const [ia, ib] = [`${o.prefix}a${id}`, `${o.prefix}b${id}`];
  const aIp = `${o.net}.${subnet}.1`;
  const bIp = `${o.net}.${subnet}.2`;
  sh("ip", ["link", "add", ia, "type", "veth", "peer", "name", ib]);
  sh("ip", ["link", "set", ia, "netns", a.name]);
  sh("ip", ["link", "set", ib, "netns", b.name]);
  sh("ip", ["netns", "exec", a.name, "ip", "addr", "add", `${aIp}/30`, "dev", ia]);
  sh("ip", ["netns", "exec", b.name, "ip", "addr", "add", `${bIp}/30`, "dev", ib]);
  sh("ip", ["netns", "exec", a.name, "ip", "link", "set", ia, "up"]);
  sh("ip", ["netns", "exec", b.name, "ip", "link", "set", ib, "up"]);
  return { aIp, bIp, destroy: () => spawnSync("ip", ["netns", "exec", a.name, "ip", "link", "del", ia]) };
}

/** Poll `fn` until it says true (a throw counts as not yet); fails naming `what` after `timeoutMs`. */
export async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn().catch(() => false)) return;
    if (Date.now() >= deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
