/**
 * Pure parts of the Kubernetes source, no cluster needed: where credentials
 * come from (and the one-line errors when they can't be found), and the
 * reconnect backoff.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { KubeConfigError, loadKubeConfig } from "../../src/sources/kube";
import { Backoff } from "../../src/sources/kube/backoff";

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "mini-pilot-kubeconfig-"));
}

function kubeconfig(dir: string, name: string, server: string, extra: { ca?: string; context?: string } = {}): string {
  const file = path.join(dir, name);
  fs.writeFileSync(
    file,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      `- name: c-${name}`,
      "  cluster:",
      `    server: ${server}`,
      ...(extra.ca ? [`    certificate-authority: ${extra.ca}`] : []),
      "users:",
      `- name: u-${name}`,
      "  user: {token: t}",
      "contexts:",
      `- name: x-${name}`,
      `  context: {cluster: ${extra.context ?? `c-${name}`}, user: u-${name}}`,
      `current-context: x-${name}`,
      "",
    ].join("\n"),
  );
  return file;
}

function errorOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof KubeConfigError, `expected a KubeConfigError, got ${String(e)}`);
    assert.ok(!e.message.includes("\n"), "one line");
    return e.message;
  }
  assert.fail("expected an error");
}

test("kubeconfig lookup order: explicit path, then KUBECONFIG (missing entries skipped), then in-cluster, then ~/.kube/config", () => {
  const dir = tmpDir();
  try {
    const a = kubeconfig(dir, "a", "https://a.example:6443/");
    const b = kubeconfig(dir, "b", "https://b.example:6443");
    fs.mkdirSync(path.join(dir, "home", ".kube"), { recursive: true });
    kubeconfig(path.join(dir, "home", ".kube"), "config", "https://home.example");
    const sa = path.join(dir, "root", "var/run/secrets/kubernetes.io/serviceaccount");
    fs.mkdirSync(sa, { recursive: true });
    fs.writeFileSync(path.join(sa, "token"), "tok");
    fs.writeFileSync(path.join(sa, "ca.crt"), "ca");
    const inPod = { KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" };
    const home = path.join(dir, "home");
    const root = path.join(dir, "root");

    const explicit = loadKubeConfig({ explicit: a, env: { KUBECONFIG: b, ...inPod }, home, inClusterRoot: root });
    assert.deepEqual([explicit.server, explicit.user, explicit.from], ["https://a.example:6443", "u-a", `kubeconfig ${a}`]);

    const env = loadKubeConfig({ env: { KUBECONFIG: [path.join(dir, "missing"), b, a].join(path.delimiter), ...inPod }, home, inClusterRoot: root });
    assert.equal(env.server, "https://b.example:6443", "first existing file's context wins");
    assert.equal(env.kc.getContexts().length, 2, "later files are merged");

    const pod = loadKubeConfig({ env: inPod, home, inClusterRoot: root });
    assert.deepEqual([pod.server, pod.from], ["https://10.96.0.1:443", "in-cluster service account"]);
    assert.equal(pod.kc.getCurrentCluster()?.caFile, path.join(sa, "ca.crt"));

    const fromHome = loadKubeConfig({ env: {}, home, inClusterRoot: root });
    assert.equal(fromHome.server, "https://home.example");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("kubeconfig errors name the file and what to check", () => {
  const dir = tmpDir();
  try {
    const none = { env: {}, home: path.join(dir, "nohome"), inClusterRoot: path.join(dir, "noroot") };
    assert.match(
      errorOf(() => loadKubeConfig(none)),
      /^no Kubernetes credentials found: pass --kubeconfig PATH, set KUBECONFIG, run in a pod/,
    );
    assert.match(
      errorOf(() => loadKubeConfig({ ...none, env: { KUBECONFIG: path.join(dir, "x") } })),
      /^KUBECONFIG=.*\/x: no such file \(check the KUBECONFIG environment variable\)$/,
    );
    assert.match(
      errorOf(() => loadKubeConfig({ ...none, explicit: path.join(dir, "x") })),
      /^kubeconfig .*\/x is unreadable: ENOENT.*\(check --kubeconfig\)$/,
    );

    const list = path.join(dir, "list.yaml");
    fs.writeFileSync(list, "- a\n- b\n");
    assert.match(
      errorOf(() => loadKubeConfig({ ...none, explicit: list })),
      /is not a kubeconfig/,
    );
    const noServer = path.join(dir, "noserver.yaml");
    fs.writeFileSync(noServer, "clusters:\n- name: c\n  cluster: {}\n");
    assert.match(
      errorOf(() => loadKubeConfig({ ...none, explicit: noServer })),
      /is invalid: clusters\[0\]\.cluster\.server is missing/,
    );

    const badRef = kubeconfig(dir, "badref", "https://x.example", { context: "nope" });
    assert.match(
      errorOf(() => loadKubeConfig({ ...none, explicit: badRef })),
      /context "x-badref" names cluster "nope", which is not defined under clusters/,
    );
    const badUrl = kubeconfig(dir, "badurl", "not a url");
    assert.match(
      errorOf(() => loadKubeConfig({ ...none, explicit: badUrl })),
      /invalid server URL "not a url"/,
    );
    const badCa = kubeconfig(dir, "badca", "https://x.example", { ca: "missing-ca.crt" });
    assert.match(
      errorOf(() => loadKubeConfig({ ...none, explicit: badCa })),
      new RegExp(`certificate-authority ${dir}/missing-ca\\.crt is unreadable`),
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("backoff: doubles from the initial delay up to the cap, jittered between half and all of it; reset starts over", () => {
  const mid = new Backoff({ initialMs: 100, maxMs: 10_000, random: () => 0.5 });
  assert.deepEqual(
    Array.from({ length: 10 }, () => mid.next()),
    [75, 150, 300, 600, 1200, 2400, 4800, 7500, 7500, 7500],
  );
  assert.equal(mid.failures, 10);
  mid.reset();
  assert.equal(mid.next(), 75);
  const low = new Backoff({ random: () => 0 });
  const high = new Backoff({ random: () => 0.999999 });
  assert.deepEqual([low.next(), low.next(), high.next(), high.next()], [50, 100, 100, 200]);
});
