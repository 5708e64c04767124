/**
 * The set-up the sidecar-path e2e tests share (test/e2e/netns.ts makes the pod): a cleanup stack, the pod or a loud
 * skip, the pod's bootstrap from `mini-pilot bootstrap`, and Envoy running inside the pod with its admin reached
 * through the pod's loopback.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { ChildProcess, spawnSync } from "node:child_process";
import { TestContext } from "node:test";
import { findEnvoy, nextBaseId, requireEnvoy } from "../support/envoy";
import { CLI } from "../support/serve-process";
import { createPodNetns, netnsUnavailable, PodNetns } from "./netns";

export type Defer = (fn: () => unknown) => void;

/**
 * Cleanups run last-registered first: Envoy stops before the control plane and
 * the backends, and the namespace goes last (a control plane whose peer
 * vanished without a FIN would wait on that connection).
 */
export function cleanups(t: TestContext): Defer {
  const stack: (() => unknown)[] = [];
  t.after(async () => {
    for (const fn of stack.reverse()) await fn();
  });
  return (fn) => stack.push(fn);
}

/**
 * The pod namespace (destroyed by `defer`), or undefined after marking the test skipped (loudly) when this machine
 * has no Envoy or cannot make one. `what` names the path the test needs; `note` says what still runs without it.
 */
export function requirePod(t: TestContext, defer: Defer, what = "the sidecar path", note = ""): PodNetns | undefined {
  if (!findEnvoy()) {
    requireEnvoy(t);
    return undefined;
  }
  const reason = netnsUnavailable();
  if (reason) {
    const msg = `SKIPPED: ${what} needs a network namespace with iptables: ${reason}${note ? ` (${note})` : ""}`;
    process.stderr.write(`\n*** ${t.name}: ${msg} ***\n\n`);
    if (process.env.CI) assert.fail(msg); // CI has netns and iptables: a skip there would hide a broken set-up
    t.skip(msg);
    return undefined;
  }
  const pod = createPodNetns();
  defer(() => pod.destroy());
  return pod;
}

/** Write the pod's bootstrap to `out` with `mini-pilot bootstrap --labels <labels> ...args`, as the pod's agent would. */
export function writePodBootstrap(pod: PodNetns, meta: { name: string; namespace: string; labels: string }, out: string, args: string[]): void {
  const env = { ...process.env, POD_NAME: meta.name, POD_NAMESPACE: meta.namespace, INSTANCE_IP: pod.podIp };
  const r = spawnSync(process.execPath, [CLI, "bootstrap", "--labels", meta.labels, ...args, "--out", out], { env, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
}

export interface PodEnvoy {
  child: ChildProcess;
  admin(p: string): Promise<string>;
  stat(name: string): Promise<number>;
  logTail(): string;
  stop(): Promise<void>;
}

/**
 * Envoy inside the pod (as root: the UID the rules exempt), admin on the pod's 127.0.0.1:15000, its log in `logDir`.
 * Returns at once; `waitPodEnvoyReady` waits for it to be live with a listener.
 */
export function spawnPodEnvoy(pod: PodNetns, bin: string, config: string, logDir: string): PodEnvoy {
  const log = path.join(logDir, `envoy-${path.basename(config)}.log`);
  const child = pod.spawn(bin, [
    "-c",
    config,
    "--base-id",
    String(nextBaseId()),
    "--disable-hot-restart",
    "--concurrency",
    "1",
    "-l",
    "info",
    "--log-path",
    log,
  ]);
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const admin = (p: string): Promise<string> => pod.exec("curl", ["-sS", "--max-time", "5", `http://127.0.0.1:15000${p}`]);
  return {
    child,
    admin,
    logTail: () => `${fs.existsSync(log) ? fs.readFileSync(log, "utf8") : ""}${stderr}`.split("\n").slice(-30).join("\n"),
    stat: async (name) => {
      const stats = JSON.parse(await admin("/stats?format=json")) as { stats: { name: string; value?: number }[] };
      return stats.stats.find((s) => s.name === name)?.value ?? 0;
    },
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

/** Wait (20 s at most) until the pod's Envoy is LIVE and holds `listener`; stops it and throws with its log otherwise. */
export async function waitPodEnvoyReady(e: PodEnvoy, listener: string): Promise<PodEnvoy> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (e.child.exitCode !== null) throw new Error(`Envoy exited in the pod:\n${e.logTail()}`);
    const ok = await e
      .admin("/ready")
      .then(async (r) => r.trim() === "LIVE" && (await e.admin("/listeners")).includes(listener))
      .catch(() => false);
    if (ok) return e;
    if (Date.now() > deadline) {
      const tail = e.logTail();
      await e.stop();
      throw new Error(`Envoy in the pod not ready with ${listener}:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
