/**
 * The Kubernetes source when the Istio CRDs are not installed at start: it
 * starts, serves the core kinds, warns once per missing type, and picks the
 * CRDs up when they appear; a CRD deleted later takes its objects with it and
 * is picked up again when reinstalled. Real kube-apiserver (cluster.ts).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import pino from "pino";
import { installIstioCrds, istioCrdsPath, kubeRequest, startKube, type KubeCluster, kubeUnavailable } from "./cluster";
import type { Sidecar, VirtualService } from "../../src/model/types";
import { ConfigStore } from "../../src/store";
import { createKubeSource, type KubeSource } from "../../src/sources/kube";

const skip = kubeUnavailable("Kubernetes source CRD tests");

interface LogLine {
  level: number;
  msg: string;
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
let source: KubeSource | undefined;
const store = new ConfigStore();
const allLines: LogLine[] = [];

async function api(method: string, urlPath: string, body?: object): Promise<{ status: number; body: string }> {
  const res = await kubeRequest(kube, method, urlPath, body);
  if (res.status >= 300 && res.status !== 404) throw new Error(`${method} ${urlPath}: HTTP ${res.status}: ${res.body}`);
  return res;
}

const NS = "late";
const VS_PATH = `/apis/networking.istio.io/v1/namespaces/${NS}/virtualservices`;
const VS_CRD = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/virtualservices.networking.istio.io";
const POLL_MS = 300;

function vs(name: string): object {
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name, namespace: NS },
    spec: { hosts: ["reviews"], http: [{ route: [{ destination: { host: "reviews" } }] }] },
  };
}

before(async () => {
  if (skip) return;
  kube = await startKube({ installCrds: false });
  await api("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
  await api("POST", `/api/v1/namespaces/${NS}/services`, {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "reviews", namespace: NS },
    spec: { ports: [{ port: 9080 }] },
  });
});

after(async () => {
  if (process.env.KUBE_TEST_LOGS) for (const l of allLines) process.stderr.write(`${JSON.stringify(l)}\n`);
  await source?.stop();
  await kube?.stop();
});

test("missing Istio CRDs: start works, core kinds flow, one warning per type; installed CRDs are picked up within the poll interval", { skip }, async () => {
  const lines = allLines;
  const log = pino({ level: "debug" }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  source = createKubeSource({ kubeconfig: kube.kubeconfigPath, store, log, crdPollMs: POLL_MS, backoff: { initialMs: 50, maxMs: 1000 } });
  await source.start();
  await waitFor("ready", () => source?.ready().ready);
  assert.ok(store.get(`Service/${NS}/reviews`));
  const missing = (l: LogLine) => l.level === 40 && /is not installed/.test(l.msg);
  // The groups are discovered concurrently: the warnings come in any order.
  assert.deepEqual(
    lines
      .filter(missing)
      .map((l) => l.msg)
      .sort(),
    [
      ...["VirtualService", "DestinationRule", "Gateway", "ServiceEntry", "Sidecar"].map(
        (k) =>
          `kube: ${k} is not installed (no CRD ${k.toLowerCase() === "serviceentry" ? "serviceentries" : `${k.toLowerCase()}s`}.networking.istio.io serving v1, v1beta1, v1alpha3); serving the rest; checking again every 300 ms`,
      ),
      ...["PeerAuthentication", "AuthorizationPolicy"].map(
        (k) =>
          `kube: ${k} is not installed (no CRD ${k.toLowerCase() === "authorizationpolicy" ? "authorizationpolicies" : `${k.toLowerCase()}s`}.security.istio.io serving v1, v1beta1); serving the rest; checking again every 300 ms`,
      ),
    ].sort(),
  );
  assert.equal(source.status().find((s) => s.resource === "virtualservices")?.state, "not-installed");
  await new Promise((r) => setTimeout(r, POLL_MS * 3));
  assert.equal(lines.filter(missing).length, 7, "warned once per type, not once per poll");

  await installIstioCrds(kube);
  const installedAt = Date.now();
  await api("POST", VS_PATH, vs("reviews-route"));
  await waitFor("the VirtualService", () => store.get(`VirtualService/${NS}/reviews-route`), POLL_MS + 10_000);
  assert.ok(Date.now() - installedAt < POLL_MS + 5_000, "picked up within the poll interval (plus a list)");
  assert.ok(lines.some((l) => /virtualservices \(networking\.istio\.io\/v1\) is available now; watching it/.test(l.msg)));
  await waitFor("every informer watching", () => source?.status().every((s) => s.state === "watching"));
  // Not an older version that happened to be published first while the CRD was being established.
  assert.deepEqual(
    [
      ...new Set(
        source
          .status()
          .filter((s) => s.resource !== "endpointslices")
          .map((s) => s.apiVersion?.replace(/^.*\//, "")),
      ),
    ],
    ["v1"],
  );
  assert.deepEqual(source.ready(), { ready: true });
});

test("a Sidecar object is watched: created, changed and deleted objects reach the store; an invalid one is reported, not stored", { skip }, async () => {
  assert.ok(source);
  const path = `/apis/networking.istio.io/v1/namespaces/${NS}/sidecars`;
  const sidecar = (name: string, spec: object) => ({ apiVersion: "networking.istio.io/v1", kind: "Sidecar", metadata: { name, namespace: NS }, spec });
  await api("POST", path, sidecar("default", { egress: [{ hosts: ["./*"] }], outboundTrafficPolicy: { mode: "REGISTRY_ONLY" } }));
  const got = await waitFor("the Sidecar", () => store.get(`Sidecar/${NS}/default`) as Sidecar | undefined);
  assert.deepEqual(got.spec, { egress: [{ hosts: ["./*"] }], outboundTrafficPolicy: { mode: "REGISTRY_ONLY" } });
  assert.equal(source.status().find((s) => s.resource === "sidecars")?.state, "watching");

  const current = JSON.parse((await api("GET", `${path}/default`)).body) as { metadata: { resourceVersion: string } };
  await api("PUT", `${path}/default`, {
    ...sidecar("default", { egress: [{ hosts: ["./*", "istio-system/*"] }] }),
    metadata: { name: "default", namespace: NS, resourceVersion: current.metadata.resourceVersion },
  });
  await waitFor("the change", () => (store.get(`Sidecar/${NS}/default`) as Sidecar | undefined)?.spec.egress?.[0]?.hosts.length === 2);

  // Short host names are refused by Istio's validation: reported with the object and field, the rest keeps flowing.
  await api("POST", path, sidecar("bad", { egress: [{ hosts: ["reviews"] }] }));
  await waitFor("the diagnostic", () =>
    source
      ?.diagnostics()
      .find((d) => d.kind === "Sidecar" && d.name === "bad" && d.field === "spec.egress[0].hosts[0]" && /namespace\/dnsName/.test(d.message)),
  );
  assert.equal(store.get(`Sidecar/${NS}/bad`), undefined);
  await api("DELETE", `${path}/bad`);
  await waitFor("the diagnostic gone", () => !source?.diagnostics().some((d) => d.name === "bad"));

  await api("DELETE", `${path}/default`);
  await waitFor("the Sidecar gone", () => store.get(`Sidecar/${NS}/default`) === undefined);
});

/** The VirtualService CRD with v1 no longer served (as an older Istio would have it): only v1beta1 and v1alpha3. */
function vsCrdWithoutV1(): string {
  const doc = fs
    .readFileSync(istioCrdsPath(), "utf8")
    .split(/^---\s*$/m)
    .find((d) => /^\s+name: virtualservices\.networking\.istio\.io$/m.test(d));
  assert.ok(doc);
  const edited = doc.replace(/(- name: v1\n\s+)served: true/, "$1served: false");
  assert.notEqual(edited, doc);
  const file = path.join(kube.dir, "vs-crd-no-v1.yaml");
  fs.writeFileSync(file, edited);
  return file;
}

test("a deleted CRD takes its objects with it; reinstalled serving only older versions, it is watched at v1beta1", { skip }, async () => {
  assert.ok(source);
  await api("DELETE", VS_CRD);
  // The API server deletes every VirtualService before the CRD itself: they arrive as watch deletions.
  await waitFor("the VirtualService gone", () => store.get(`VirtualService/${NS}/reviews-route`) === undefined);
  for (;;) {
    if ((await api("GET", VS_CRD)).status === 404) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await waitFor("the informer noticing", () => source?.status().find((s) => s.resource === "virtualservices")?.state === "not-installed");
  assert.ok(store.get(`Service/${NS}/reviews`), "the rest stays");

  await installIstioCrds(kube, { file: vsCrdWithoutV1() });
  await api("POST", VS_PATH.replace("/v1/", "/v1beta1/"), { ...vs("reviews-route-2"), apiVersion: "networking.istio.io/v1beta1" });
  const route = await waitFor("the new VirtualService", () => store.get(`VirtualService/${NS}/reviews-route-2`) as VirtualService | undefined, 15_000);
  assert.equal(route.apiVersion, "networking.istio.io/v1beta1");
  assert.deepEqual(route.spec.hosts, ["reviews"]);
  assert.equal(source.status().find((s) => s.resource === "virtualservices")?.apiVersion, "networking.istio.io/v1beta1");
  assert.deepEqual(source.ready(), { ready: true });
});
