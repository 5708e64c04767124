/**
 * The istiod test process (test/istiod/istiod.ts): it comes up against the test
 * kube-apiserver, every socket it listens on is on 127.0.0.1 (no fixed
 * 0.0.0.0 ports), it answers ADS on xdsAddress, and stop() leaves no process.
 * Skips without kube-apiserver or pilot-discovery, fails instead with CI set.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { kubeUnavailable, startKube } from "../kube/cluster";
import { istiodUnavailable, startIstiod } from "./istiod";
import { fetchXds } from "../fidelity/xds-fetch";

const skip = kubeUnavailable("istiod test process") ?? istiodUnavailable("istiod test process");

/** Local addresses of the TCP and UDP sockets process `pid` listens on (from `ss`). */
function listening(pid: number): string[] {
  const out = execFileSync("ss", ["-ltunpH"], { encoding: "utf8" });
  return out
    .split("\n")
    .filter((l) => l.includes(`pid=${pid},`))
    .map((l) => l.trim().split(/\s+/)[4]!);
}

test("istiod listens only on 127.0.0.1, serves ADS, and stops cleanly", { skip, timeout: 180_000 }, async () => {
  const kube = await startKube();
  try {
    const istiod = await startIstiod(kube.kubeconfigPath);
    const pid = istiod.pid;
    try {
      const addrs = listening(pid);
      assert.ok(addrs.length >= 3, `expected xDS, HTTP and metrics listeners, got ${addrs.join(", ")}`);
      for (const a of addrs) assert.match(a, /^127\.0\.0\.1:\d+$/, `istiod listens on ${a}`);
      for (const a of [istiod.xdsAddress, istiod.httpAddress, istiod.monitoringAddress]) assert.ok(addrs.includes(a), `${a} not among ${addrs.join(", ")}`);
      const config = await fetchXds(
        istiod.xdsAddress,
        "sidecar~10.244.0.9~probe-1.default~default.svc.cluster.local",
        { NAMESPACE: "default" },
        "probe.default",
      );
      assert.ok(config.clusters.has("BlackHoleCluster"), `clusters: ${[...config.clusters.keys()].join(", ")}`);
    } finally {
      await istiod.stop();
    }
    assert.throws(() => process.kill(pid, 0), "istiod still runs after stop()");
  } finally {
    await kube.stop();
  }
});
