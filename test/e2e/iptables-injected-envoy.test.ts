/**
 * The injected pod, run by hand the way the kubelet would run it: `mini-pilot
 * kube-inject` adds the sidecar to front-tomcat's Deployment; its istio-init
 * arguments install the rules in a network namespace; its istio-proxy command
 * (`mini-pilot agent`, as UID 1337, with the downward-API environment and
 * labels file resolved) starts Envoy against `mini-pilot serve`; the
 * application, as another user, calls bill-service's cluster IP and gets the
 * 90/10 split of the seed's VirtualService through that Envoy. Twice: with
 * kube-inject's secure defaults (workload certificate from the pod's token,
 * xDS over TLS on the CA's port), and with plaintext xDS asked for.
 *
 * Volume mounts are simulated by pointing the container's mount paths at temp
 * folders (and the agent's default token, root and SDS paths at them); the Envoy binary is copied where UID 1337 can run it (the image
 * would ship it). Skipped, loudly, without namespaces, iptables or Envoy.
 */
import { after, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { findEnvoy, parseStatsJson, requireEnvoy } from "../support/envoy";
import { DEFAULT_CA_ROOT_FILE, DEFAULT_TOKEN_FILE } from "../../src/cli/agent-identity";
import { DEFAULT_SDS_SOCKET } from "../../src/bootstrap/render";
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

/**
 * secure: kube-inject's defaults (only the CA address is this test's): the agent gets its certificate
 * with the pod's token and Envoy fetches xDS over TLS from the same port. plaintext: asked for
 * explicitly (--plaintext-xds and PILOT_CERT_PROVIDER=none), Envoy on the plaintext port.
 */
type Mode = "secure" | "plaintext";
const TOKEN = "injected-e2e-token-0123456789abcdef";

for (const mode of ["secure", "plaintext"] as Mode[])
  test(
    `kube-inject's init container and agent command (${mode} xDS), run in a netns: the app's calls go through the injected Envoy to the 90/10 routes`,
    { timeout: 120_000 },
    (t) => injectedPod(t, mode),
  );

async function injectedPod(t: TestContext, mode: Mode): Promise<void> {
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
  const dir = path.join(tmp, mode);
  fs.writeFileSync(path.join(tmp, `tokens-${mode}`), `default/front-tomcat ${TOKEN}\n`, { mode: 0o600 });
  const serve = await startServe([
    "--config-dir",
    writeBillService(path.join(dir, "config"), ["rules", "canary"], b.vars),
    "--xds-address",
    `${bare.hostIp}:0`,
    ...["--ca-dir", path.join(dir, "ca"), "--root-cert-file", path.join(dir, "root-cert.pem"), "--token-file", path.join(tmp, `tokens-${mode}`)],
  ]);
  stack.push(() => serve.stop());

  // Only the addresses are this test's; the rest is kube-inject's defaults.
  const transport =
    mode === "secure"
      ? ["--ca-address", `${bare.hostIp}:${serve.securePort}`]
      : ["--ca-address", `${bare.hostIp}:${serve.securePort}`, "--plaintext-xds", "--discovery-address", `${bare.hostIp}:${serve.xdsPort}`];
  const injected = spawnSync(process.execPath, [CLI, "kube-inject", "-f", "-", "-o", "json", "-q", ...transport], {
    input: JSON.stringify(DEPLOYMENT),
    encoding: "utf8",
  });
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
    mounts[m.mountPath] = path.join(dir, m.name);
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
  const toMount = (a: string): string => Object.entries(mounts).reduce((s, [from, to]) => s.replace(from, to), a);
  const args = (proxy.args as string[]).map(toMount);
  if (mode === "secure") {
    assert.deepEqual(args.slice(1, 4), ["--xds-address", `${bare.hostIp}:${serve.securePort}`, "--xds-tls"], "TLS to the CA's port by default");
    // The projected token and the istio-ca-root-cert ConfigMap, as the kubelet would mount them, readable by UID 1337.
    const token = path.join(toMount(path.dirname(DEFAULT_TOKEN_FILE)), path.basename(DEFAULT_TOKEN_FILE));
    fs.writeFileSync(token, TOKEN, { mode: 0o600 });
    fs.chownSync(token, proxy.securityContext.runAsUser, proxy.securityContext.runAsGroup);
    fs.copyFileSync(path.join(dir, "root-cert.pem"), toMount(DEFAULT_CA_ROOT_FILE));
    // The agent's defaults are those mount paths; point them at the folders standing in for the volumes.
    args.push("--token-file", toMount(DEFAULT_TOKEN_FILE), "--ca-root-cert", toMount(DEFAULT_CA_ROOT_FILE), "--sds-socket", toMount(DEFAULT_SDS_SOCKET));
  } else {
    // Plaintext, as asked: no --xds-tls, and the pod's certificate turned off (PILOT_CERT_PROVIDER=none).
    assert.ok(!args.includes("--xds-tls"));
    env.PILOT_CERT_PROVIDER = "none";
  }
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

  // Which port and transport Envoy's own xds-grpc used; with TLS, the workload certificate it presented.
  const stats = parseStatsJson(await bare.exec("curl", ["-s", "--max-time", "2", "http://127.0.0.1:15000/stats?format=json"]));
  assert.equal(stats.get("control_plane.connected_state"), 1);
  const certs = await bare.exec("curl", ["-s", "--max-time", "2", "http://127.0.0.1:15000/certs"]);
  if (mode === "secure") {
    assert.ok(Number(stats.get("cluster.xds-grpc.ssl.handshake")) >= 1, "xds-grpc over TLS");
    assert.match(certs, /spiffe:\/\/cluster\.local\/ns\/default\/sa\/front-tomcat/);
  } else {
    assert.equal(stats.get("cluster.xds-grpc.ssl.handshake"), undefined, "xds-grpc in plaintext");
    assert.doesNotMatch(certs, /spiffe:/);
  }

  const client = writeClientScript(dir);
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
  process.stderr.write(`injected sidecar (${mode} xDS): ${JSON.stringify(out.counts)} through iptables → 15001 → Envoy (UID ${uid})\n`);
  const logs = `${agentOut}\n${serve.logs.join("\n")}`;
  assert.ok(!logs.includes(TOKEN), "the token is in a log");
  assert.doesNotMatch(logs, /PRIVATE KEY/);
}
