/**
 * The real kube-apiserver calls `mini-pilot inject-webhook` (a child process,
 * HTTPS on 127.0.0.1) through a MutatingWebhookConfiguration shaped like
 * Istio's (a namespace webhook for istio-injection=enabled, an object webhook
 * for pods labelled sidecar.istio.io/inject=true elsewhere), and we read back
 * what it stored. The configuration comes from src/inject/webhook-config.ts
 * without a caBundle: the webhook (--ca-bundle) fills it in.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { kubeRequest, startKube, type KubeCluster, kubeUnavailable } from "./cluster";
import { makeTls, TestTls } from "../unit/inject-tls";
import { webhookConfiguration } from "../../src/inject/webhook-config";

type J = any; // Kubernetes JSON

const CLI = path.join(__dirname, "..", "..", "src", "cli", "main.js");
const skip = kubeUnavailable("injection webhook tests");

let kube: KubeCluster;
let tls: TestTls;
let webhook: ChildProcess;
let webhookLog = "";

async function api(method: string, urlPath: string, body?: object, contentType?: string): Promise<J> {
  const res = await kubeRequest(kube, method, urlPath, body, contentType);
  if (res.status < 200 || res.status >= 300) throw new Error(`${method} ${urlPath}: HTTP ${res.status}: ${res.body}`);
  return JSON.parse(res.body);
}

/** A pod as the ReplicaSet controller of Deployment `web` would create it (no controller runs here). */
function replicaSetPod(over: { labels?: Record<string, string>; annotations?: Record<string, string> } = {}): object {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      generateName: "web-7f9c5d-",
      labels: { app: "web", version: "v1", "pod-template-hash": "7f9c5d", ...over.labels },
      ...(over.annotations ? { annotations: over.annotations } : {}),
      ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: "web-7f9c5d", uid: "8b0c6a4e-1111-4c8e-9d7e-000000000001", controller: true }],
    },
    spec: { containers: [{ name: "web", image: "web:1", ports: [{ containerPort: 8080, name: "http" }] }] },
  };
}

const names = (list: J[] | undefined): string[] => (list ?? []).map((c) => c.name);
/** What the API server adds on its own, left out to compare two stored pods. */
function comparable(pod: J): J {
  const { metadata, spec } = structuredClone(pod);
  for (const k of ["name", "uid", "resourceVersion", "creationTimestamp", "managedFields", "namespace", "generateName"]) delete metadata[k];
  return { metadata, spec };
}

/** Start `mini-pilot inject-webhook` with `extra` flags; resolves with its URL once it listens. */
function startWebhookProcess(extra: string[], log: (s: string) => void): { child: ChildProcess; url: Promise<string> } {
  const child = spawn(process.execPath, [CLI, "inject-webhook", "--address", "127.0.0.1:0", "--tls-cert", tls.certFile, "--tls-key", tls.keyFile, ...extra], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, LOG_FORMAT: "json" },
  });
  child.stderr!.on("data", (d: Buffer) => log(d.toString()));
  const url = new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listening on (https:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once("exit", (code) => reject(new Error(`inject-webhook exited ${code}`)));
  });
  return { child, url };
}

const CONFIG = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/mini-pilot-sidecar-injector";
const bundles = async (): Promise<string[]> => ((await api("GET", CONFIG)).webhooks as J[]).map((w) => w.clientConfig.caBundle ?? "");
const b64 = (pem: string): string => Buffer.from(pem).toString("base64");

async function until(what: string, ok: () => Promise<boolean>, timeoutMs = 15_000): Promise<number> {
  const start = Date.now();
  while (!(await ok())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; webhook log:\n${webhookLog}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - start;
}

before(async () => {
  if (skip) return;
  kube = await startKube({ installCrds: false });
  tls = makeTls();
  // The port is only known once it listens, so the configuration gets the URL first, then the webhook fills in the caBundle.
  const started = startWebhookProcess(
    ["--ca-bundle", path.join(tls.dir, "ca.crt"), "--kubeconfig", kube.kubeconfigPath, "--ca-bundle-resync", "1"],
    (s) => (webhookLog += s),
  );
  webhook = started.child;
  const config = webhookConfiguration({ target: { url: await started.url } });
  await api("POST", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", config);
  await until("the webhook to write its caBundle", async () => (await bundles()).every((b) => b === b64(tls.caPem)));
  for (const [name, labels] of [
    ["meshed", { "istio-injection": "enabled" }],
    ["plain", {}],
    ["off", { "istio-injection": "disabled" }],
  ] as [string, Record<string, string>][]) {
    await api("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name, labels } });
  }
});

after(async () => {
  if (webhook && webhook.exitCode === null) {
    webhook.kill("SIGTERM");
    await new Promise((r) => webhook.once("exit", r));
  }
  await kube?.stop();
  if (tls) fs.rmSync(tls.dir, { recursive: true, force: true });
});

test("a Deployment's pod in a labelled namespace is stored injected, by the API server's call to the webhook", { skip }, async () => {
  const pod = await api("POST", "/api/v1/namespaces/meshed/pods", replicaSetPod());
  assert.deepEqual(names(pod.spec.initContainers), ["istio-init"]);
  assert.deepEqual(names(pod.spec.containers), ["web", "istio-proxy"]);
  assert.deepEqual(names(pod.spec.volumes).slice(-5), ["istio-envoy", "istio-podinfo", "workload-socket", "istio-token", "istiod-ca-cert"]);
  assert.equal(pod.spec.serviceAccountName, "default", "named for the projected istio-ca token");
  assert.match(pod.metadata.annotations["sidecar.istio.io/status"], /"containers":\["istio-proxy"\]/);
  const proxy = pod.spec.containers[1];
  assert.equal(proxy.securityContext.runAsUser, 1337);
  assert.equal(proxy.env.find((e: J) => e.name === "ISTIO_META_WORKLOAD_NAME").value, "web");
  assert.equal(proxy.env.find((e: J) => e.name === "ISTIO_META_OWNER").value, "kubernetes://apis/apps/v1/namespaces/meshed/deployments/web");
  assert.equal(pod.spec.initContainers[0].securityContext.capabilities.add.join(","), "NET_ADMIN,NET_RAW");
  assert.match(webhookLog, /pod meshed\/web-7f9c5d-\* injected: /);
});

test("opt-outs and other namespaces are stored exactly as they would be without the webhook", { skip }, async () => {
  // The reference: the same pod where no webhook applies.
  const reference = comparable(await api("POST", "/api/v1/namespaces/off/pods", replicaSetPod({ annotations: { "sidecar.istio.io/inject": "false" } })));
  const optedOut = comparable(await api("POST", "/api/v1/namespaces/meshed/pods", replicaSetPod({ annotations: { "sidecar.istio.io/inject": "false" } })));
  assert.deepEqual(optedOut, reference, "annotation false in a labelled namespace");
  assert.deepEqual(names(optedOut.spec.containers), ["web"]);

  const plain = comparable(await api("POST", "/api/v1/namespaces/plain/pods", replicaSetPod()));
  assert.deepEqual(names(plain.spec.containers), ["web"], "an unlabelled namespace");
  const off = comparable(await api("POST", "/api/v1/namespaces/off/pods", replicaSetPod({ labels: { "sidecar.istio.io/inject": "true" } })));
  assert.deepEqual(names(off.spec.containers), ["web"], "istio-injection=disabled wins over the pod's label");
  const byLabel = await api("POST", "/api/v1/namespaces/plain/pods", replicaSetPod({ labels: { "sidecar.istio.io/inject": "true" } }));
  assert.deepEqual(names(byLabel.spec.containers), ["web", "istio-proxy"], "the pod's label opts in where the namespace says nothing");
});

test("injecting twice changes nothing: an injected pod, and a kube-injected manifest, pass through unchanged", { skip }, async () => {
  const first = await api("POST", "/api/v1/namespaces/meshed/pods", replicaSetPod());
  const again = await api("POST", "/api/v1/namespaces/meshed/pods", {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { ...comparable(first).metadata, generateName: "web-7f9c5d-" },
    spec: comparable(first).spec,
  });
  assert.deepEqual(comparable(again), comparable(first));

  const offline = spawnSync(process.execPath, [CLI, "kube-inject", "-f", "-", "-o", "json", "-q", "-n", "meshed"], {
    input: JSON.stringify(replicaSetPod()),
    encoding: "utf8",
  });
  assert.equal(offline.status, 0, offline.stderr);
  const kubeInjected = JSON.parse(offline.stdout);
  const stored = await api("POST", "/api/v1/namespaces/meshed/pods", kubeInjected);
  assert.deepEqual(names(stored.spec.containers), ["web", "istio-proxy"]);
  assert.deepEqual(stored.spec.containers[1].args, kubeInjected.spec.containers[1].args);
  assert.deepEqual(comparable(stored), comparable(first), "kube-inject and the webhook inject the same pod");
});

test("a pod the webhook cannot inject is refused with the annotation and the reason, not a 500", { skip }, async () => {
  const res = await kubeRequest(
    kube,
    "POST",
    "/api/v1/namespaces/meshed/pods",
    replicaSetPod({ annotations: { "traffic.sidecar.istio.io/excludeInboundPorts": "8080,metrics" } }),
  );
  assert.equal(res.status, 400, res.body);
  const status = JSON.parse(res.body);
  assert.match(status.message, /admission webhook "namespace\.sidecar-injector\.mini-pilot\.io" denied the request/);
  assert.match(status.message, /annotation traffic\.sidecar\.istio\.io\/excludeInboundPorts: "metrics" is not a port/);
});

test("cost of the webhook per pod create (measured, printed)", { skip }, async () => {
  const median = async (ns: string): Promise<number> => {
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const start = process.hrtime.bigint();
      await api("POST", `/api/v1/namespaces/${ns}/pods`, replicaSetPod());
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    return times.sort((a, b) => a - b)[10]!;
  };
  const plain = await median("plain");
  const meshed = await median("meshed");
  process.stderr.write(`inject-webhook: pod create median ${meshed.toFixed(1)} ms through the webhook, ${plain.toFixed(1)} ms without (20 each)\n`);
  assert.ok(meshed < plain + 500, `the webhook adds ${(meshed - plain).toFixed(1)} ms per pod`);
});

test("the caBundle is kept: a reset is undone, and a rotated CA and certificate are published and served", { skip }, async () => {
  const other = makeTls();
  await api(
    "PATCH",
    CONFIG,
    [{ op: "replace", path: "/webhooks/0/clientConfig/caBundle", value: b64(other.caPem) }] as unknown as object,
    "application/json-patch+json",
  );
  const restoredMs = await until("the reset caBundle to be restored", async () => (await bundles())[0] === b64(tls.caPem));
  assert.match(webhookLog, /caBundle of MutatingWebhookConfiguration mini-pilot-sidecar-injector updated/);

  // Rotate: a new CA and a certificate signed by it replace the files (as a Secret update would).
  const swap = (from: string, to: string): void => {
    fs.copyFileSync(from, `${to}.tmp`);
    fs.renameSync(`${to}.tmp`, to);
  };
  swap(other.keyFile, tls.keyFile);
  swap(other.certFile, tls.certFile);
  swap(path.join(other.dir, "ca.crt"), path.join(tls.dir, "ca.crt"));
  const rotatedMs = await until("the new CA in the caBundle", async () => (await bundles()).every((b) => b === b64(other.caPem)));
  await new Promise((r) => setTimeout(r, 500));
  const pod = await api("POST", "/api/v1/namespaces/meshed/pods", replicaSetPod());
  assert.deepEqual(names(pod.spec.containers), ["web", "istio-proxy"], "the API server trusts the rotated certificate");
  process.stderr.write(
    `inject-webhook: caBundle restored ${restoredMs} ms after a reset, rotated CA published ${rotatedMs} ms after the files changed (resync 1 s)\n`,
  );
  fs.rmSync(other.dir, { recursive: true, force: true });
});

test("without RBAC for the webhook configuration, one line names the verb and the resource to grant", { skip }, async () => {
  await api("POST", "/api/v1/namespaces/default/serviceaccounts", { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "injector" } });
  const token = (
    await api("POST", "/api/v1/namespaces/default/serviceaccounts/injector/token", {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: { expirationSeconds: 3600 },
    })
  ).status.token as string;
  const kubeconfig = path.join(tls.dir, "injector.kubeconfig");
  fs.writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "c", cluster: { server: kube.server, "certificate-authority-data": b64(kube.caPem) } }],
      users: [{ name: "injector", user: { token } }],
      contexts: [{ name: "c", context: { cluster: "c", user: "injector" } }],
      "current-context": "c",
    }),
  );
  let log = "";
  const other = makeTls();
  const second = startWebhookProcess(["--ca-bundle", path.join(other.dir, "ca.crt"), "--kubeconfig", kubeconfig, "--ca-bundle-resync", "1"], (s) => (log += s));
  try {
    await second.url;
    await until("the RBAC error for get", async () => log.includes("grant"));
    assert.match(
      log,
      /caBundle not updated: forbidden: grant \\?"get\\?" on mutatingwebhookconfigurations\.admissionregistration\.k8s\.io \(name mini-pilot-sidecar-injector\)/,
    );
    await api("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: "injector-get-only" },
      rules: [{ apiGroups: ["admissionregistration.k8s.io"], resources: ["mutatingwebhookconfigurations"], verbs: ["get"] }],
    });
    await api("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: "injector-get-only" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "injector-get-only" },
      subjects: [{ kind: "ServiceAccount", name: "injector", namespace: "default" }],
    });
    await until("the RBAC error for patch", async () => /grant \\?"patch\\?"/.test(log));
    assert.equal(log.match(/grant \\?"get\\?"/g)?.length, 1, "the same error is logged once, not every resync");
    assert.notEqual((await bundles())[0], b64(other.caPem), "nothing was written");
  } finally {
    second.child.kill("SIGTERM");
    await new Promise((r) => second.child.once("exit", r));
    fs.rmSync(other.dir, { recursive: true, force: true });
  }
});

test("kube-inject's output for every workload kind is accepted by the API server (server-side dry run, strict field validation)", { skip }, async () => {
  const template = { metadata: { labels: { app: "w" } }, spec: { containers: [{ name: "w", image: "w:1", ports: [{ containerPort: 8080 }] }] } };
  const selector = { matchLabels: { app: "w" } };
  const objects: [string, object][] = [
    ["/apis/apps/v1/namespaces/plain/deployments", { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "w" }, spec: { selector, template } }],
    [
      "/apis/apps/v1/namespaces/plain/statefulsets",
      { apiVersion: "apps/v1", kind: "StatefulSet", metadata: { name: "w" }, spec: { selector, serviceName: "w", template } },
    ],
    ["/apis/apps/v1/namespaces/plain/daemonsets", { apiVersion: "apps/v1", kind: "DaemonSet", metadata: { name: "w" }, spec: { selector, template } }],
    ["/apis/apps/v1/namespaces/plain/replicasets", { apiVersion: "apps/v1", kind: "ReplicaSet", metadata: { name: "w" }, spec: { selector, template } }],
    [
      "/apis/batch/v1/namespaces/plain/jobs",
      { apiVersion: "batch/v1", kind: "Job", metadata: { name: "w" }, spec: { template: { ...template, spec: { ...template.spec, restartPolicy: "Never" } } } },
    ],
    [
      "/apis/batch/v1/namespaces/plain/cronjobs",
      {
        apiVersion: "batch/v1",
        kind: "CronJob",
        metadata: { name: "w" },
        spec: { schedule: "*/5 * * * *", jobTemplate: { spec: { template: { ...template, spec: { ...template.spec, restartPolicy: "OnFailure" } } } } },
      },
    ],
    ["/api/v1/namespaces/plain/pods", { apiVersion: "v1", kind: "Pod", metadata: { name: "w" }, spec: template.spec }],
  ];
  const offline = spawnSync(process.execPath, [CLI, "kube-inject", "-f", "-", "-o", "json", "-q", "-n", "plain"], {
    input: objects.map(([, o]) => JSON.stringify(o)).join("\n---\n"),
    encoding: "utf8",
  });
  assert.equal(offline.status, 0, offline.stderr);
  const items = JSON.parse(offline.stdout).items as J[];
  assert.equal(items.length, objects.length);
  for (const [i, [urlPath]] of objects.entries()) {
    const res = await kubeRequest(kube, "POST", `${urlPath}?dryRun=All&fieldValidation=Strict`, items[i]);
    assert.equal(res.status, 201, `${items[i].kind}: ${res.body}`);
    const stored = JSON.parse(res.body);
    const t = items[i].kind === "Pod" ? stored : items[i].kind === "CronJob" ? stored.spec.jobTemplate.spec.template : stored.spec.template;
    assert.deepEqual(names(t.spec.containers), ["w", "istio-proxy"], items[i].kind);
  }
});
