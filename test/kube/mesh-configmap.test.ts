/**
 * The `istio` ConfigMap (`mesh` key, root namespace) through a real
 * kube-apiserver: `serve --kubeconfig` watches it, and each edit reaches the
 * generated config of a connected proxy (outboundTrafficPolicy, tracing);
 * a broken edit is refused with the field named and the last good config
 * kept; `--outbound-traffic-policy` wins over the ConfigMap; deleting the
 * ConfigMap brings back the defaults.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { kubeRequest, startKube, type KubeCluster, kubeUnavailable } from "./cluster";
import { CLUSTER, ENDPOINT, LISTENER, ROUTE } from "../../src/xds/types";
import { TestSotwStream, SotwResponse, connect } from "../support/ads-client";
import { getJson, startServe } from "../support/serve-process";

const EXAMPLES = path.join(__dirname, "..", "..", "..", "examples", "bill-service");
const NODE = "sidecar~172.7.120.13~front-tomcat-6b8d7c5f4-9zq7w.default~default.svc.cluster.local";
const CM = "/api/v1/namespaces/istio-system/configmaps";

const PATHS: Record<string, (ns: string) => string> = {
  Node: () => "/api/v1/nodes",
  Service: (ns) => `/api/v1/namespaces/${ns}/services`,
  Pod: (ns) => `/api/v1/namespaces/${ns}/pods`,
  EndpointSlice: (ns) => `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`,
};

async function create(cluster: KubeCluster, file: string): Promise<void> {
  for (const doc of YAML.parseAllDocuments(fs.readFileSync(path.join(EXAMPLES, file), "utf8"))) {
    const o = doc.toJS() as Record<string, any>;
    if (!o) continue;
    delete o.status;
    if (o.kind === "Pod") for (const c of o.spec.containers) c.image ??= "example/app:1";
    if (o.kind === "Service") delete o.spec.clusterIP;
    const r = await kubeRequest(cluster, "POST", PATHS[o.kind]!(o.metadata.namespace ?? "default"), o);
    assert.equal(r.status, 201, `POST ${o.kind}/${o.metadata.name}: ${r.body}`);
  }
}

/** Create or replace the `istio` ConfigMap with this `mesh` text. */
async function putMesh(cluster: KubeCluster, mesh: string): Promise<void> {
  const body = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "istio", namespace: "istio-system" }, data: { mesh } };
  const current = await kubeRequest(cluster, "GET", `${CM}/istio`);
  if (current.status === 404) {
    const r = await kubeRequest(cluster, "POST", CM, body);
    assert.equal(r.status, 201, r.body);
    return;
  }
  const r = await kubeRequest(cluster, "PUT", `${CM}/istio`, body);
  assert.equal(r.status, 200, r.body);
}

const ackNames = (r: SotwResponse) => (r.typeUrl === ROUTE ? ["8080", "9999"] : r.typeUrl === ENDPOINT ? r.names : []);

/** The newest response of each type seen on a stream. */
type Latest = Map<string, SotwResponse>;

/** Read responses (ACKing each, noting the newest of each type in `latest`) until one of `type` satisfies `want`. */
async function until(
  s: TestSotwStream,
  type: string,
  want: (r: SotwResponse) => boolean,
  latest: Latest = new Map(),
  timeoutMs = 20_000,
): Promise<SotwResponse> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await s.next(Math.max(1, deadline - Date.now()));
    s.ack(r, ackNames(r));
    latest.set(r.typeUrl, r);
    if (r.typeUrl === type && want(r)) return r;
  }
}

const catchAll = (r: SotwResponse) => JSON.stringify(r.resources).match(/"name":"(allow_any|block_all)"/)?.[1];
const sampling = (r: SotwResponse) => /"random_sampling":\{"value":(\d+)/.exec(JSON.stringify(r.resources))?.[1];

function connectProxy(port: number): TestSotwStream {
  const s = new TestSotwStream(connect(port), NODE, { NAMESPACE: "default", LABELS: { app: "front-tomcat" } });
  s.send({ typeUrl: CLUSTER });
  s.send({ typeUrl: LISTENER });
  s.send({ typeUrl: ROUTE, names: ["8080", "9999"] });
  return s;
}

test(
  "the istio ConfigMap's mesh key is watched: edits reach the proxy, a broken edit keeps the last good one",
  { skip: kubeUnavailable("mesh ConfigMap tests") },
  async (t) => {
    const cluster = await startKube({ installCrds: false });
    t.after(() => cluster.stop());
    const ns = await kubeRequest(cluster, "POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "istio-system" } });
    assert.equal(ns.status, 201, ns.body);
    for (const f of ["workloads.yaml", "services.yaml", "endpointslices.yaml"]) await create(cluster, f);
    await putMesh(cluster, "outboundTrafficPolicy:\n  mode: REGISTRY_ONLY\nenableTracing: false\n");

    const serve = await startServe(["--kubeconfig", cluster.kubeconfigPath, "--debounce-after", "20ms"]);
    t.after(() => serve.stop());
    const s = connectProxy(serve.xdsPort);
    t.after(() => s.close());
    // Listeners arrive before routes (push order), so the route wait keeps the newest listener response.
    const latest: Latest = new Map();
    // The first config already has the ConfigMap's policy: serve waits for its first list before the first push.
    assert.equal(catchAll(await until(s, ROUTE, () => true, latest)), "block_all");
    assert.equal(sampling(latest.get(LISTENER)!), undefined, "no tracing yet (enableTracing: false)");

    // An edit: back to ALLOW_ANY, and tracing at 100%.
    await putMesh(cluster, "outboundTrafficPolicy:\n  mode: ALLOW_ANY\nenableTracing: true\ndefaultConfig:\n  tracing:\n    sampling: 100\n");
    assert.equal(catchAll(await until(s, ROUTE, (r) => catchAll(r) === "allow_any", latest)), "allow_any");
    assert.equal(sampling(latest.get(LISTENER)!), "100", "tracing with sampling 100 on the connection managers");

    // A broken edit: refused with the field named, nothing pushed, the last good config stays.
    await putMesh(cluster, "outboundTrafficPolicy:\n  mode: REGISTRY_ONLY\ndefaultConfig:\n  tracing:\n    sampling: 1000\n");
    await serve.waitForLog(/configmap istio-system\/istio key mesh: defaultConfig\.tracing\.sampling: 1000 is out of range \(0 to 100\)/);
    const quiet = await s.inbox.drain(500);
    assert.deepEqual(
      quiet.map((r) => r.typeUrl),
      [],
      "nothing is pushed for a refused mesh config",
    );
    const configz = (await getJson(serve.httpPort, "/debug/configz")) as { meshConfigErrors: string[] };
    assert.deepEqual(configz.meshConfigErrors, ["configmap istio-system/istio key mesh: defaultConfig.tracing.sampling: 1000 is out of range (0 to 100)"]);
    const dump = JSON.stringify(await getJson(serve.httpPort, `/debug/config_dump?proxy=${encodeURIComponent(NODE)}`));
    assert.match(dump, /"allow_any"/, "the last good policy is still served");

    // Fixed: it applies, and the error is gone. Without enableTracing, Istio's default: tracing at 1%.
    await putMesh(cluster, "outboundTrafficPolicy:\n  mode: REGISTRY_ONLY\n");
    assert.equal(catchAll(await until(s, ROUTE, (r) => catchAll(r) === "block_all", latest)), "block_all");
    assert.equal(sampling(latest.get(LISTENER)!), "1", "tracing at Istio's default 1%");
    assert.deepEqual(((await getJson(serve.httpPort, "/debug/configz")) as { meshConfigErrors: string[] }).meshConfigErrors, []);

    // Deleted: Istio's defaults (ALLOW_ANY).
    const del = await kubeRequest(cluster, "DELETE", `${CM}/istio`);
    assert.equal(del.status, 200, del.body);
    assert.equal(catchAll(await until(s, ROUTE, (r) => catchAll(r) === "allow_any")), "allow_any");

    // A flag wins over the ConfigMap.
    await putMesh(cluster, "outboundTrafficPolicy:\n  mode: REGISTRY_ONLY\n");
    const pinned = await startServe(["--kubeconfig", cluster.kubeconfigPath, "--outbound-traffic-policy", "ALLOW_ANY"]);
    t.after(() => pinned.stop());
    const p = connectProxy(pinned.xdsPort);
    t.after(() => p.close());
    assert.equal(catchAll(await until(p, ROUTE, () => true)), "allow_any", "--outbound-traffic-policy overrides the ConfigMap");
  },
);
