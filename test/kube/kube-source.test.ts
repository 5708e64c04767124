/**
 * The Kubernetes source against a real kube-apiserver (test/kube/cluster.ts):
 * initial list, watch updates, invalid objects, an API server outage,
 * 410 Gone, RBAC denials and start-up errors. One cluster for the file.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import pino from "pino";
import { kubeRequest, startKube, type KubeCluster, kubeUnavailable } from "./cluster";
import { ConfigStore, type ChangeSet } from "../../src/store";
import type { Diagnostic, EndpointSlice, Pod, Secret, Service, VirtualService } from "../../src/model/types";
import { createKubeSource, KubeStartError, type KubeSource, type KubeSourceOptions } from "../../src/sources/kube";
import { loadKubeConfig } from "../../src/sources/kube/kubeconfig";
import { KubeHttp } from "../../src/sources/kube/http";
import { Reflector } from "../../src/sources/kube/reflector";
import { KindWriter } from "../../src/sources/kube/writer";

// ------------------------------------------------------------ availability

const skip = kubeUnavailable("Kubernetes source tests");

// ------------------------------------------------------------ helpers

interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

function testLogger(): { log: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino(
    { level: "debug", base: undefined, timestamp: pino.stdTimeFunctions.isoTime },
    { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) },
  );
  return { log, lines };
}

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let kube: KubeCluster;

async function api(method: string, urlPath: string, body?: object, contentType?: string): Promise<Record<string, unknown>> {
  const res = await kubeRequest(kube, method, urlPath, body, contentType);
  if (res.status < 200 || res.status >= 300) throw new Error(`${method} ${urlPath}: HTTP ${res.status}: ${res.body}`);
  return JSON.parse(res.body) as Record<string, unknown>;
}
const create = (urlPath: string, body: object) => api("POST", urlPath, body);
const patch = (urlPath: string, body: object) => api("PATCH", urlPath, body, "application/merge-patch+json");
const remove = (urlPath: string) => api("DELETE", urlPath);

const NS = "bill";
const VS_PATH = `/apis/networking.istio.io/v1/namespaces/${NS}/virtualservices`;

function vs(name: string, w1: number, w2: number): object {
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name, namespace: NS },
    spec: {
      hosts: ["bill-service"],
      http: [
        {
          name: "canary",
          route: [
            { destination: { host: "bill-service", subset: "v1" }, weight: w1 },
            { destination: { host: "bill-service", subset: "v2" }, weight: w2 },
          ],
        },
      ],
    },
  };
}

function service(name: string): object {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: NS, labels: { app: name } },
    spec: { selector: { app: name }, ports: [{ name: "http", port: 9999, targetPort: 8080 }] },
  };
}

function slice(ips: string[]): object {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: "bill-service-abc12", namespace: NS, labels: { "kubernetes.io/service-name": "bill-service" } },
    addressType: "IPv4",
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    endpoints: ips.map((ip, i) => ({
      addresses: [ip],
      conditions: { ready: true },
      nodeName: "node-1",
      targetRef: { kind: "Pod", name: `bill-service-v${i + 1}`, namespace: NS },
    })),
  };
}

async function createPod(name: string, version: string, ip: string): Promise<void> {
  await create(`/api/v1/namespaces/${NS}/pods`, {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: NS, labels: { app: "bill-service", version } },
    spec: { nodeName: "node-1", containers: [{ name: "app", image: "example.invalid/bill:1", ports: [{ containerPort: 8080 }] }] },
  });
  // No kubelet: write the status a kubelet would.
  await patch(`/api/v1/namespaces/${NS}/pods/${name}/status`, {
    status: { phase: "Running", podIP: ip, podIPs: [{ ip }], conditions: [{ type: "Ready", status: "True" }] },
  });
}

/** Records every change set, with a cursor to look only at what came after a point. */
function recorder(store: ConfigStore): { sets: ChangeSet[]; mark(): number; since(i: number): ChangeSet[] } {
  const sets: ChangeSet[] = [];
  store.subscribe((c) => sets.push(c));
  return { sets, mark: () => sets.length, since: (i) => sets.slice(i) };
}

const keys = (objs: { kind: string; metadata: { namespace: string; name: string } }[]) =>
  objs.map((o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`);

function writeKubeconfig(name: string, server: string, token: string, caPem = kube.caPem): string {
  const file = path.join(kube.dir, `${name}.kubeconfig`);
  fs.writeFileSync(
    file,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      `- name: c`,
      "  cluster:",
      `    server: ${server}`,
      `    certificate-authority-data: ${Buffer.from(caPem).toString("base64")}`,
      "users:",
      `- name: ${name}`,
      "  user:",
      `    token: ${token}`,
      "contexts:",
      "- name: c",
      "  context: {cluster: c, user: " + name + "}",
      "current-context: c",
      "",
    ].join("\n"),
  );
  return file;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

// ------------------------------------------------------------ the shared source

let store: ConfigStore;
let source: KubeSource;
let logs: LogLine[];
let rec: ReturnType<typeof recorder>;
const diagnosticCalls: Diagnostic[][] = [];

function newSource(extra: Partial<KubeSourceOptions> = {}): { source: KubeSource; store: ConfigStore; lines: LogLine[] } {
  const s = new ConfigStore();
  const { log, lines } = testLogger();
  const src = createKubeSource({ kubeconfig: kube.kubeconfigPath, store: s, log, crdPollMs: 500, backoff: { initialMs: 50, maxMs: 1000 }, ...extra });
  return { source: src, store: s, lines };
}

before(async () => {
  if (skip) return;
  // Without a watch termination grace period, a SIGTERMed kube-apiserver stops listening but
  // holds open watches until it is killed (10 s in cluster.ts); real deployments set it.
  kube = await startKube({ extraApiServerArgs: ["--shutdown-watch-termination-grace-period=1s"] });
  await create("/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
  await create("/api/v1/nodes", { apiVersion: "v1", kind: "Node", metadata: { name: "node-1", labels: { "topology.kubernetes.io/zone": "zone-a" } } });
});

after(async () => {
  if (process.env.KUBE_TEST_LOGS) for (const l of logs ?? []) process.stderr.write(`${JSON.stringify(l)}\n`);
  await source?.stop();
  await kube?.stop();
});

// ------------------------------------------------------------ scenario

test("bill-service scenario: objects created before and after start arrive typed; ready after every informer listed", { skip }, async () => {
  // Half before start (the initial list), half after (the watch).
  await create(`/api/v1/namespaces/${NS}/services`, service("bill-service"));
  await createPod("bill-service-v1", "v1", "10.1.0.11");
  await createPod("bill-service-v2", "v2", "10.1.0.12");

  const made = newSource({ onDiagnostics: (d) => diagnosticCalls.push(d) });
  ({ source, store } = made);
  logs = made.lines;
  rec = recorder(store);
  assert.deepEqual(source.ready(), { ready: false, reason: "not started" });
  await source.start();
  await waitFor("ready", () => source.ready().ready);

  await create(`/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices`, slice(["10.1.0.11", "10.1.0.12"]));
  await create(`/apis/networking.istio.io/v1/namespaces/${NS}/destinationrules`, {
    apiVersion: "networking.istio.io/v1",
    kind: "DestinationRule",
    metadata: { name: "bill-service-dr", namespace: NS },
    spec: {
      host: "bill-service",
      subsets: [
        { name: "v1", labels: { version: "v1" } },
        { name: "v2", labels: { version: "v2" } },
      ],
    },
  });
  await create(VS_PATH, vs("bill-service-route", 90, 10));
  const route = await waitFor("the VirtualService", () => store.get(`VirtualService/${NS}/bill-service-route`) as VirtualService | undefined);

  assert.deepEqual(
    route.spec.http?.[0]?.route?.map((r) => [r.destination.subset, r.weight]),
    [
      ["v1", 90],
      ["v2", 10],
    ],
  );
  assert.equal(route.apiVersion, "networking.istio.io/v1");
  assert.deepEqual(route.origin, { source: "kubernetes" });
  const svc = store.get(`Service/${NS}/bill-service`) as Service;
  assert.deepEqual(svc.spec.ports, [{ name: "http", port: 9999, targetPort: 8080, protocol: "TCP" }]);
  assert.match(svc.spec.clusterIP ?? "", /^10\.96\./);
  const pod = store.get(`Pod/${NS}/bill-service-v2`) as Pod;
  assert.equal(pod.metadata.labels?.version, "v2");
  assert.deepEqual([pod.spec.podIP, pod.spec.phase, pod.spec.ready, pod.spec.nodeName], ["10.1.0.12", "Running", true, "node-1"]);
  const es = await waitFor("the EndpointSlice", () => store.get(`EndpointSlice/${NS}/bill-service-abc12`) as EndpointSlice | undefined);
  assert.equal(es.spec.serviceName, "bill-service");
  assert.deepEqual(
    es.spec.endpoints.map((e) => [e.addresses[0], e.targetRef?.name]),
    [
      ["10.1.0.11", "bill-service-v1"],
      ["10.1.0.12", "bill-service-v2"],
    ],
  );
  await waitFor("the DestinationRule", () => store.get(`DestinationRule/${NS}/bill-service-dr`));
  assert.equal(store.get("Node//node-1")?.metadata.labels?.["topology.kubernetes.io/zone"], "zone-a");
  assert.ok(store.get(`Namespace//${NS}`));
  assert.ok(store.get("Service/default/kubernetes"), "the API server's own Service is listed too");
  assert.deepEqual(source.diagnostics(), []);
  assert.deepEqual(
    source.status().map((s) => [s.resource, s.state, s.synced]),
    [
      "authorizationpolicies",
      "destinationrules",
      "endpointslices",
      "gateways",
      "namespaces",
      "nodes",
      "peerauthentications",
      "pods",
      "secrets",
      "serviceentries",
      "services",
      "sidecars",
      "virtualservices",
    ].map((r) => [r, "watching", true]),
  );
  assert.equal(source.status().find((s) => s.resource === "virtualservices")?.apiVersion, "networking.istio.io/v1");
});

test("Secrets: tls and generic ones arrive (data as the API serves it, base64); token and Helm Secrets are never sent (field selector)", { skip }, async () => {
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  const secret = (name: string, type: string, data: Record<string, string>) => ({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace: NS },
    type,
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
  });
  await create(`/api/v1/namespaces/${NS}/secrets`, secret("gw-tls", "kubernetes.io/tls", { "tls.crt": "CERT", "tls.key": "KEY" }));
  await create(`/api/v1/namespaces/${NS}/secrets`, secret("gw-generic", "Opaque", { cert: "CERT", key: "KEY", cacert: "CA" }));
  await create(`/api/v1/namespaces/${NS}/secrets`, secret("helm-release", "helm.sh/release.v1", { release: "big" }));
  await create(`/api/v1/namespaces/${NS}/secrets`, {
    ...secret("token", "kubernetes.io/service-account-token", {}),
    metadata: { name: "token", namespace: NS, annotations: { "kubernetes.io/service-account.name": "default" } },
  });
  const tlsSecret = await waitFor("the tls Secret", () => store.get(`Secret/${NS}/gw-tls`) as Secret | undefined);
  assert.equal(tlsSecret.spec.type, "kubernetes.io/tls");
  assert.deepEqual(tlsSecret.spec.data, { "tls.crt": b64("CERT"), "tls.key": b64("KEY") });
  const generic = await waitFor("the generic Secret", () => store.get(`Secret/${NS}/gw-generic`) as Secret | undefined);
  assert.deepEqual(Object.keys(generic.spec.data).sort(), ["cacert", "cert", "key"]);
  // Rotation arrives as an update.
  await patch(`/api/v1/namespaces/${NS}/secrets/gw-tls`, { data: { "tls.crt": b64("CERT2") } });
  await waitFor("the rotated Secret", () => (store.get(`Secret/${NS}/gw-tls`) as Secret | undefined)?.spec.data["tls.crt"] === b64("CERT2"));
  assert.equal(store.get(`Secret/${NS}/helm-release`), undefined, "Helm release Secrets are filtered by the API server");
  assert.equal(store.get(`Secret/${NS}/token`), undefined, "service-account tokens are filtered by the API server");
  assert.ok(!store.list("Secret").some((o) => o.metadata.name === "token" || o.metadata.name === "helm-release"));
  // Key material never reaches the source's log.
  assert.ok(!JSON.stringify(logs).includes(b64("KEY")));
  await remove(`/api/v1/namespaces/${NS}/secrets/gw-generic`);
  await waitFor("the deleted Secret gone", () => store.get(`Secret/${NS}/gw-generic`) === undefined);
});

test("watch: a VirtualService weight change, an endpoint scale-up and deletes arrive as single-object change sets", { skip }, async () => {
  let m = rec.mark();
  await patch(`${VS_PATH}/bill-service-route`, vs("bill-service-route", 50, 50));
  await waitFor("the VS update", () => rec.since(m).some((c) => c.updated.some((o) => o.kind === "VirtualService")));
  assert.deepEqual(
    rec.since(m).map((c) => [keys(c.added), keys(c.updated), keys(c.deleted)]),
    [[[], [`VirtualService/${NS}/bill-service-route`], []]],
  );
  const route = store.get(`VirtualService/${NS}/bill-service-route`) as VirtualService;
  assert.deepEqual(
    route.spec.http?.[0]?.route?.map((r) => r.weight),
    [50, 50],
  );

  m = rec.mark();
  await patch(`/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices/bill-service-abc12`, {
    endpoints: (slice(["10.1.0.11", "10.1.0.12", "10.1.0.13"]) as { endpoints: object[] }).endpoints,
  });
  await waitFor("the slice update", () => rec.since(m).length > 0);
  await new Promise((r) => setTimeout(r, 200)); // anything else would have arrived by now
  assert.deepEqual(
    rec.since(m).map((c) => [keys(c.added), keys(c.updated), keys(c.deleted)]),
    [[[], [`EndpointSlice/${NS}/bill-service-abc12`], []]],
  );
  assert.equal((store.get(`EndpointSlice/${NS}/bill-service-abc12`) as EndpointSlice).spec.endpoints.length, 3);

  m = rec.mark();
  await remove(`${VS_PATH}/bill-service-route`);
  await waitFor("the VS delete", () => rec.since(m).some((c) => c.deleted.length > 0));
  assert.deepEqual(
    rec.since(m).map((c) => keys(c.deleted)),
    [[`VirtualService/${NS}/bill-service-route`]],
  );
  assert.equal(store.get(`VirtualService/${NS}/bill-service-route`), undefined);
  await create(VS_PATH, vs("bill-service-route", 90, 10));
  await waitFor("the VS again", () => store.get(`VirtualService/${NS}/bill-service-route`));
});

test("invalid VirtualService: left out with a diagnostic; an invalid update removes the old version; fixing it brings it back", { skip }, async () => {
  const before = store.list().length;
  await create(VS_PATH, vs("zero-weights", 0, 0));
  const d = await waitFor("a diagnostic", () => source.diagnostics().find((x) => x.name === "zero-weights"));
  assert.equal(d.severity, "error");
  assert.equal(d.kind, "VirtualService");
  assert.equal(d.namespace, NS);
  assert.equal(d.field, "spec.http[0].route");
  assert.match(d.message, /total destination weight = 0/);
  assert.deepEqual(d.origin, { source: "kubernetes" });
  assert.equal(store.get(`VirtualService/${NS}/zero-weights`), undefined);
  assert.equal(store.list().length, before, "nothing else changed");
  assert.ok(
    diagnosticCalls.at(-1)?.some((x) => x.name === "zero-weights"),
    "onDiagnostics got the current list",
  );
  assert.ok(logs.some((l) => l.level === 40 && /left out VirtualService bill\/zero-weights/.test(l.msg)));

  // A valid object updated to an invalid version: the cluster no longer has the valid one, so neither does the store.
  const m = rec.mark();
  await patch(`${VS_PATH}/bill-service-route`, vs("bill-service-route", 0, 0));
  await waitFor("the removal", () => store.get(`VirtualService/${NS}/bill-service-route`) === undefined);
  assert.deepEqual(
    rec.since(m).map((c) => keys(c.deleted)),
    [[`VirtualService/${NS}/bill-service-route`]],
  );
  assert.deepEqual(
    source.diagnostics().map((x) => x.name),
    ["bill-service-route", "zero-weights"],
  );
  assert.ok(store.get(`DestinationRule/${NS}/bill-service-dr`), "other objects unaffected");

  await patch(`${VS_PATH}/bill-service-route`, vs("bill-service-route", 90, 10));
  await waitFor("the fixed VS", () => store.get(`VirtualService/${NS}/bill-service-route`));
  await remove(`${VS_PATH}/zero-weights`);
  await waitFor("diagnostics cleared", () => source.diagnostics().length === 0);
  assert.deepEqual(diagnosticCalls.at(-1), []);
});

test("API server restart: the store keeps every object through the outage; changes after the restart arrive", { skip }, async () => {
  const snapshot = store.list();
  const m = rec.mark();
  await kube.stopApiServer();
  await waitFor("informers noticing", () => source.status().some((s) => s.state === "backoff" || s.lastError));
  await new Promise((r) => setTimeout(r, 1000));
  assert.deepEqual(rec.since(m), [], "no change sets while the API server is down");
  assert.deepEqual(store.list(), snapshot);
  assert.deepEqual(source.ready(), { ready: true });

  await kube.startApiServer();
  await create(`/api/v1/namespaces/${NS}/services`, service("after-restart"));
  await waitFor("the new Service", () => store.get(`Service/${NS}/after-restart`), 30_000);
  await patch(`${VS_PATH}/bill-service-route`, vs("bill-service-route", 70, 30));
  await waitFor(
    "the VS update",
    () => (store.get(`VirtualService/${NS}/bill-service-route`) as VirtualService).spec.http?.[0]?.route?.[0]?.weight === 70,
    30_000,
  );
  // Only what changed came through: the relists after reconnecting wrote equal objects (no-ops).
  const changed = rec.since(m).flatMap((c) => [...keys(c.added), ...keys(c.updated), ...keys(c.deleted)]);
  assert.deepEqual([...new Set(changed)].sort(), [`Service/${NS}/after-restart`, `VirtualService/${NS}/bill-service-route`]);
  await waitFor("every informer watching again", () => source.status().every((s) => s.state === "watching"), 30_000);
  assert.ok(logs.some((l) => /reconnected and resynced/.test(l.msg)));
});

test("410 Gone: a watch from an expired resourceVersion relists and keeps going", { skip }, async () => {
  const loaded = loadKubeConfig({ explicit: kube.kubeconfigPath });
  const real = new KubeHttp(loaded.kc, loaded.server);
  let first = true;
  // The real API server answers; only the first watch starts from a long-gone resourceVersion.
  const client = {
    server: real.server,
    getJSON: real.getJSON.bind(real),
    watch: (p: string, q: Record<string, string | number | boolean | undefined>, onLine: (l: string) => void, o?: Parameters<KubeHttp["watch"]>[3]) => {
      const query = first ? { ...q, resourceVersion: "1" } : q;
      first = false;
      return real.watch(p, query, onLine, o);
    },
  };
  const s = new ConfigStore();
  const { log, lines } = testLogger();
  const lists: number[] = [];
  const writer = new KindWriter({ sourceId: "kube/services", kind: "Service", apiVersion: "v1", namespaced: true, store: s, log });
  const sink = {
    replace: (items: readonly Record<string, unknown>[]) => (lists.push(items.length), writer.replace(items)),
    upsert: writer.upsert.bind(writer),
    remove: writer.remove.bind(writer),
  };
  const r = new Reflector({ name: "services", client, path: `/api/v1/namespaces/${NS}/services`, sink, log, backoff: { initialMs: 50, maxMs: 500 } });
  r.start();
  try {
    await waitFor("a relist", () => lists.length >= 2);
    assert.ok(
      lines.some((l) => /410 Gone/.test(l.msg)),
      "logged the relist",
    );
    await waitFor("watching", () => r.state === "watching");
    await create(`/api/v1/namespaces/${NS}/services`, service("after-gone"));
    await waitFor("a watch event after the relist", () => s.get(`Service/${NS}/after-gone`));
    assert.equal(lines.filter((l) => l.level >= 40).length, 0, "410 is routine, not a warning");
  } finally {
    await r.stop();
  }
  assert.equal(r.state, "stopped");
});

/** A TCP proxy to the API server that can drop every connection and refuse new ones: a network outage. */
async function outageProxy(target: URL): Promise<{ url: string; cut(): void; restore(): void; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let down = false;
  const server = net.createServer((client) => {
    if (down) return client.destroy();
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    cut() {
      down = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      down = false;
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

test("connection loss: objects deleted and created while disconnected are reconciled on reconnect", { skip }, async () => {
  const proxy = await outageProxy(new URL(kube.server));
  const { source: s, store: st, lines } = newSource({ kubeconfig: writeKubeconfig("via-proxy", proxy.url, kube.token) });
  try {
    await create(`/api/v1/namespaces/${NS}/services`, service("gone-while-away"));
    await s.start();
    await waitFor("the Service", () => st.get(`Service/${NS}/gone-while-away`));
    proxy.cut();
    await remove(`/api/v1/namespaces/${NS}/services/gone-while-away`);
    await create(`/api/v1/namespaces/${NS}/services`, service("born-while-away"));
    await waitFor("every informer noticing", () => s.status().every((x) => x.state === "backoff" || x.state === "listing"));
    assert.ok(st.get(`Service/${NS}/gone-while-away`), "the last config stays while disconnected");
    assert.ok(lines.some((l) => l.level === 40 && /keeping the last config and retrying/.test(l.msg)));
    proxy.restore();
    await waitFor("the deletion", () => st.get(`Service/${NS}/gone-while-away`) === undefined, 10_000);
    await waitFor("the creation", () => st.get(`Service/${NS}/born-while-away`), 10_000);
  } finally {
    await s.stop();
    await proxy.close();
  }
});

test("namespace limit: only that namespace's objects; Nodes and its own Namespace still read", { skip }, async () => {
  const { source: s, store: st } = newSource({ namespace: NS });
  try {
    await s.start();
    await waitFor("ready", () => s.ready().ready);
    const namespaces = new Set(
      st
        .list()
        .filter((o) => o.kind !== "Node" && o.kind !== "Namespace")
        .map((o) => o.metadata.namespace),
    );
    assert.deepEqual([...namespaces], [NS]);
    assert.deepEqual(
      st.list("Namespace").map((o) => o.metadata.name),
      [NS],
    );
    assert.ok(st.get("Node//node-1"));
    assert.ok(st.get(`VirtualService/${NS}/bill-service-route`));
    assert.equal(st.get("Service/default/kubernetes"), undefined);
  } finally {
    await s.stop();
  }
});

// ------------------------------------------------------------ RBAC

async function serviceAccountToken(name: string, rules: object[]): Promise<string> {
  await create("/api/v1/namespaces/default/serviceaccounts", { apiVersion: "v1", kind: "ServiceAccount", metadata: { name } });
  await create("/apis/rbac.authorization.k8s.io/v1/clusterroles", {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name },
    rules,
  });
  await create("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
    subjects: [{ kind: "ServiceAccount", name, namespace: "default" }],
  });
  const tr = await create(`/api/v1/namespaces/default/serviceaccounts/${name}/token`, {
    apiVersion: "authentication.k8s.io/v1",
    kind: "TokenRequest",
    spec: { expirationSeconds: 3600 },
  });
  return (tr.status as { token: string }).token;
}

const READ = ["get", "list", "watch"];
const CORE_READ = [
  { apiGroups: [""], resources: ["pods", "nodes", "namespaces", "endpoints"], verbs: READ },
  { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: READ },
];

async function startError(kubeconfig: string): Promise<KubeStartError> {
  const { source: s } = newSource({ kubeconfig });
  const err = await s.start().then(
    () => undefined,
    (e: unknown) => e,
  );
  await s.stop();
  assert.ok(err instanceof KubeStartError, `start() should reject with a KubeStartError, got ${String(err)}`);
  assert.ok(!err.message.includes("\n"), `one line: ${err.message}`);
  return err;
}

test("RBAC: no list on services rejects start() naming list and services; no watch names watch", { skip }, async () => {
  const noList = await serviceAccountToken("no-services", [...CORE_READ, { apiGroups: ["networking.istio.io"], resources: ["*"], verbs: READ }]);
  const e1 = await startError(writeKubeconfig("no-services", kube.server, noList));
  assert.equal(e1.failure, "forbidden");
  assert.match(
    e1.message,
    /^RBAC forbids list on services \(v1, all namespaces\): services is forbidden: User "system:serviceaccount:default:no-services" cannot list resource "services"/,
  );
  assert.match(e1.message, /grant it list and watch on services/);

  const noWatch = await serviceAccountToken("no-watch", [...CORE_READ, { apiGroups: [""], resources: ["services"], verbs: ["get", "list"] }]);
  const e2 = await startError(writeKubeconfig("no-watch", kube.server, noWatch));
  assert.match(e2.message, /^RBAC forbids watch on services .*cannot watch resource "services"/);
});

test("RBAC: Istio CRDs hidden by RBAC are warned about; the core kinds still flow and the source gets ready", { skip }, async () => {
  const token = await serviceAccountToken("core-only", [...CORE_READ, { apiGroups: [""], resources: ["services"], verbs: READ }]);
  const { source: s, store: st, lines } = newSource({ kubeconfig: writeKubeconfig("core-only", kube.server, token) });
  try {
    await s.start();
    await waitFor("ready", () => s.ready().ready);
    assert.ok(st.get(`Service/${NS}/bill-service`));
    assert.equal(st.list("VirtualService").length, 0);
    const warned = lines.filter((l) => l.level === 40 && /RBAC forbids list on virtualservices/.test(l.msg));
    assert.equal(warned.length, 1);
    assert.equal(s.status().find((x) => x.resource === "virtualservices")?.state, "forbidden");
    await new Promise((r) => setTimeout(r, 1200)); // two more polls: debug, not warn again
    assert.equal(lines.filter((l) => l.level === 40 && /virtualservices/.test(l.msg)).length, 1);
  } finally {
    await s.stop();
  }
});

// ------------------------------------------------------------ start-up errors

test("start() errors are one line and say which: unreachable, kubeconfig unreadable/invalid, TLS, bad token", { skip }, async () => {
  const port = await freePort();
  const e1 = await startError(writeKubeconfig("nowhere", `https://127.0.0.1:${port}`, "x"));
  assert.equal(e1.failure, "unreachable");
  assert.match(
    e1.message,
    new RegExp(`^Kubernetes API server https://127\\.0\\.0\\.1:${port} is unreachable: connect ECONNREFUSED .*check the server address in kubeconfig `),
  );

  const missing = path.join(kube.dir, "does-not-exist.kubeconfig");
  const e2 = await startError(missing);
  assert.equal(e2.failure, "kubeconfig");
  assert.match(e2.message, new RegExp(`^kubeconfig ${missing.replace(/[.]/g, "\\.")} is unreadable: ENOENT.*check --kubeconfig`));

  const garbage = path.join(kube.dir, "garbage.kubeconfig");
  fs.writeFileSync(garbage, "clusters: [\n  - : :\n");
  assert.match((await startError(garbage)).message, /is not valid YAML/);
  const noContext = path.join(kube.dir, "nocontext.kubeconfig");
  fs.writeFileSync(noContext, "apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\n");
  assert.match((await startError(noContext)).message, /no current-context set/);

  // A CA that did not sign the serving certificate.
  const otherCa = fs.readFileSync(path.join(kube.dir, "serving.crt"), "utf8");
  const e3 = await startError(writeKubeconfig("wrong-ca", kube.server, kube.token, otherCa));
  assert.equal(e3.failure, "tls");
  assert.match(e3.message, /^TLS with the Kubernetes API server .* failed: .*check certificate-authority/);

  const e4 = await startError(writeKubeconfig("bad-token", kube.server, "not-a-valid-token"));
  assert.equal(e4.failure, "unauthorized");
  assert.match(e4.message, /rejected the credentials of user "bad-token" \(401 Unauthorized/);
});
