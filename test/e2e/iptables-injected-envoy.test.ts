/**
 * The injected pod, run by hand the way the kubelet would run it: `mini-pilot
 * kube-inject` adds the sidecar to front-tomcat's Deployment; its istio-init
 * arguments install the rules in a network namespace; its istio-proxy command
 * (`mini-pilot agent`, as UID 1337, with the downward-API environment and
 * labels file resolved) starts Envoy against `mini-pilot serve`; the
 * application, as another user, calls bill-service's cluster IP and gets the
 * 90/10 split of the seed's VirtualService through that Envoy.
 *
 * Volume mounts are simulated by pointing the container's mount paths at temp
 * folders; the Envoy binary is copied where UID 1337 can run it (the image
 * would ship it). Skipped, loudly, without namespaces, iptables or Envoy.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { findEnvoy, requireEnvoy } from "../support/envoy";
import { CLI, startServe } from "../support/serve-process";
import { startBillBackends, withinBinomial, writeBillService } from "../support/http-backends";
import { APP_UID, createPodNetns, netnsUnavailable, podReadableTmp, writeClientScript } from "./netns";

type J = any; // Kubernetes JSON

const tmp = podReadableTmp("mini-pilot-e2e-injected-");
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const BILL_VIP = "192.168.18.251";
const POD_NAME = "front-tomcat-6b8d7c5f4-9zq7w";

const DEPLOYMENT = {
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "front-tomcat", namespace: "default" },
  spec: {
    selector: { matchLabels: { app: "front-tomcat" } },
    template: {
      metadata: { labels: { app: "front-tomcat", version: "v1" } },
      spec: { serviceAccountName: "front-tomcat", containers: [{ name: "tomcat", image: "tomcat:9", ports: [{ containerPort: 8080 }] }] },
    },
  },
};

/** The kubelet's downward-API labels file: key="value" lines, sorted. */
function labelsFile(labels: Record<string, string>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}\n`)
    .join("");
}

test(
  "kube-inject's init container and agent command, run in a netns: the app's calls go through the injected Envoy to the 90/10 routes",
  { timeout: 120_000 },
  async (t) => {
    if (!findEnvoy()) return void requireEnvoy(t);
    const why = netnsUnavailable();
    if (why) {
      process.stderr.write(`\n*** ${t.name}: SKIPPED: ${why} ***\n\n`);
      if (process.env.CI) assert.fail(why); // CI has netns and iptables: a skip there would hide a broken set-up
      return t.skip(why);
    }
    const stack: (() => unknown)[] = [];
    t.after(async () => {
      for (const fn of stack.reverse()) await fn();
    });

    // The pod's network first (its host side carries the control plane and the backends), without rules yet.
    const bare = createPodNetns({ captureArgs: null });
    stack.push(() => bare.destroy());
    const b = await startBillBackends(bare.hostIp);
    stack.push(() => b.stop());
    const serve = await startServe([
      "--config-dir",
      writeBillService(path.join(tmp, "config"), ["rules", "canary"], b.vars),
      "--xds-address",
      `${bare.hostIp}:0`,
    ]);
    stack.push(() => serve.stop());

    const injected = spawnSync(
      process.execPath,
      [CLI, "kube-inject", "-f", "-", "-o", "json", "-q", "--discovery-address", `${bare.hostIp}:${serve.xdsPort}`],
      {
        input: JSON.stringify(DEPLOYMENT),
        encoding: "utf8",
      },
    );
    assert.equal(injected.status, 0, injected.stderr);
    const template = (JSON.parse(injected.stdout) as J).spec.template;
    const init = template.spec.initContainers.find((c: J) => c.name === "istio-init");
    const proxy = template.spec.containers.find((c: J) => c.name === "istio-proxy");

    // istio-init: its arguments, verbatim, in the pod's namespace (as root with NET_ADMIN, like the container).
    assert.equal(init.args[0], "iptables");
    await bare.exec(process.execPath, [CLI, ...init.args]);
    const rules = bare.rules();
    assert.doesNotMatch(rules, /--uid-owner 0/, "the rules came from the injected arguments");
    assert.match(rules, /--uid-owner 1337 -j RETURN/);
    assert.match(rules, /-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001/);

    // istio-proxy: the volumes as folders, the downward API resolved, Envoy where UID 1337 can run it.
    const mounts: Record<string, string> = {};
    for (const m of proxy.volumeMounts as { name: string; mountPath: string }[]) {
      mounts[m.mountPath] = path.join(tmp, m.name);
      fs.mkdirSync(mounts[m.mountPath]!, { recursive: true });
      fs.chownSync(mounts[m.mountPath]!, proxy.securityContext.runAsUser, proxy.securityContext.runAsGroup);
    }
    fs.writeFileSync(path.join(mounts["/etc/istio/pod"]!, "labels"), labelsFile({ ...template.metadata.labels, "pod-template-hash": "6b8d7c5f4" }));
    const envoyBin = path.join(tmp, "envoy");
    fs.copyFileSync(findEnvoy()!, envoyBin);
    fs.chmodSync(envoyBin, 0o755);
    const downward: Record<string, string> = {
      "metadata.name": POD_NAME,
      "metadata.namespace": "default",
      "status.podIP": bare.podIp,
      "spec.serviceAccountName": template.spec.serviceAccountName,
      "status.hostIP": bare.hostIp,
      "spec.nodeName": "node-1",
    };
    const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", ENVOY_BIN: envoyBin, HOME: tmp };
    for (const e of proxy.env as J[]) env[e.name] = e.value ?? downward[e.valueFrom.fieldRef.fieldPath];
    // This test is about capture and routing over the plaintext port; workload certificates
    // (CA_ADDR, the token and root volumes) are tested in secure-xds-agent.test.ts.
    env.PILOT_CERT_PROVIDER = "none";
    const args = (proxy.args as string[]).map((a) => Object.entries(mounts).reduce((s, [from, to]) => s.replace(from, to), a));
    const uid = String(proxy.securityContext.runAsUser);
    const gid = String(proxy.securityContext.runAsGroup);
    let agentOut = "";
    const agent: ChildProcess = spawn(
      "ip",
      ["netns", "exec", bare.name, "setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "--", process.execPath, CLI, ...args],
      {
        env,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    agent.stdout!.on("data", (d: Buffer) => (agentOut += d.toString()));
    agent.stderr!.on("data", (d: Buffer) => (agentOut += d.toString()));
    const agentExit = new Promise((r) => agent.once("exit", r));
    stack.push(async () => {
      if (agent.exitCode === null) agent.kill("SIGTERM");
      await agentExit;
    });

    // The readiness probe the injected container declares, until Envoy has its listeners.
    const probe = proxy.readinessProbe.httpGet;
    const deadline = Date.now() + 30_000;
    for (;;) {
      assert.equal(agent.exitCode, null, `the agent exited:\n${agentOut}`);
      const code = await bare
        .exec("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2", `http://${bare.podIp}:${probe.port}${probe.path}`])
        .catch(() => "000");
      if (code === "200" && (await bare.exec("curl", ["-s", "--max-time", "2", "http://127.0.0.1:15000/listeners"]).catch(() => "")).includes("0.0.0.0_9999"))
        break;
      assert.ok(Date.now() < deadline, `not ready on ${probe.port}${probe.path} within 30s:\n${agentOut}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const status = fs.readFileSync(`/proc/${agent.pid}/status`, "utf8");
    assert.match(status, new RegExp(`^Uid:\\s+${uid}\\s`, "m"), "the agent (and the Envoy it runs) is UID 1337");
    const info = JSON.parse(await bare.exec("curl", ["-s", "--max-time", "2", "http://127.0.0.1:15000/server_info"]));
    assert.equal(info.node.id, `sidecar~${bare.podIp}~${POD_NAME}.default~default.svc.cluster.local`);
    assert.equal(info.node.metadata.WORKLOAD_NAME, "front-tomcat");
    assert.equal(info.node.metadata.LABELS.version, "v1");

    const client = writeClientScript(tmp);
    const out = JSON.parse(await bare.exec("node", [client, `http://${BILL_VIP}:9999/bills`, "1000", "16", "{}"], { uid: APP_UID, timeoutMs: 60_000 })) as {
      counts: Record<string, number>;
    };
    const v1 = out.counts["bill-service-v1"] ?? 0;
    const v2 = out.counts["bill-service-v2"] ?? 0;
    assert.equal(v1 + v2, 1000, JSON.stringify(out.counts));
    assert.ok(withinBinomial(v2, 1000, 0.1), `90/10 through the injected sidecar: ${JSON.stringify(out.counts)}`);
    assert.ok(
      b.v1.requests.every((r) => r.headers["x-envoy-attempt-count"] !== undefined),
      "through Envoy",
    );
    process.stderr.write(`injected sidecar: ${JSON.stringify(out.counts)} through iptables → 15001 → Envoy (UID ${uid})\n`);
  },
);
