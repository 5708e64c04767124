/**
 * `mini-pilot serve --kubeconfig` against a real kube-apiserver, watched by an
 * xDS client: objects created with API calls become config, the 90/10
 * VirtualService arrives as routes, endpoint edits push EDS only, and an API
 * server restart loses no proxy's config.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { kubeRequest, startKube, type KubeCluster, kubeUnavailable } from "./cluster";
import { CLUSTER, ENDPOINT, LISTENER, ROUTE } from "../../src/xds/types";
import { TestSotwStream, SotwResponse, connect } from "../support/ads-client";
import { startServe, getJson } from "../support/serve-process";
import { readConfigDump } from "../support/config-dump";

const EXAMPLES = path.join(__dirname, "..", "..", "..", "examples", "bill-service");
const BILL = "outbound|9999||bill-service.default.svc.cluster.local";
const V2 = "outbound|9999|v2|bill-service.default.svc.cluster.local";
const NODE = "sidecar~172.7.120.13~front-tomcat-6b8d7c5f4-9zq7w.default~default.svc.cluster.local";

const PATHS: Record<string, (ns: string) => string> = {
  Node: () => "/api/v1/nodes",
  Service: (ns) => `/api/v1/namespaces/${ns}/services`,
  Pod: (ns) => `/api/v1/namespaces/${ns}/pods`,
  EndpointSlice: (ns) => `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`,
  VirtualService: (ns) => `/apis/networking.istio.io/v1/namespaces/${ns}/virtualservices`,
  DestinationRule: (ns) => `/apis/networking.istio.io/v1/namespaces/${ns}/destinationrules`,
};

/** Create or replace every object of a manifest file, like `kubectl apply`. */
async function apply(cluster: KubeCluster, file: string, edit: (o: Record<string, any>) => void = () => undefined): Promise<void> {
  for (const doc of YAML.parseAllDocuments(fs.readFileSync(path.join(EXAMPLES, file), "utf8"))) {
    const o = doc.toJS() as Record<string, any>;
    if (!o) continue;
    delete o.status;
    if (o.kind === "Pod") for (const c of o.spec.containers) c.image ??= "example/app:1";
    // The test API server's service range is 10.96.0.0/16: let it allocate.
    if (o.kind === "Service") delete o.spec.clusterIP;
    edit(o);
    const base = PATHS[o.kind]!(o.metadata.namespace ?? "default");
    const created = await kubeRequest(cluster, "POST", base, o);
    if (created.status === 201) continue;
    assert.equal(created.status, 409, `POST ${o.kind}/${o.metadata.name}: ${created.status} ${created.body}`);
    const current = JSON.parse((await kubeRequest(cluster, "GET", `${base}/${o.metadata.name}`)).body) as { metadata: { resourceVersion: string } };
    o.metadata.resourceVersion = current.metadata.resourceVersion;
    const put = await kubeRequest(cluster, "PUT", `${base}/${o.metadata.name}`, o);
    assert.equal(put.status, 200, `PUT ${o.kind}/${o.metadata.name}: ${put.status} ${put.body}`);
  }
}

const ackNames = (r: SotwResponse) => (r.typeUrl === ROUTE ? ["8080", "9999"] : r.typeUrl === ENDPOINT ? [BILL, V2] : []);

/** Read responses (ACKing each) until one of `type` satisfies `want`. */
async function until(
  s: TestSotwStream,
  type: string,
  want: (r: SotwResponse) => boolean,
  timeoutMs = 20_000,
): Promise<{ hit: SotwResponse; seen: SotwResponse[] }> {
  const seen: SotwResponse[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await s.next(Math.max(1, deadline - Date.now()));
    s.ack(r, ackNames(r));
    seen.push(r);
    if (r.typeUrl === type && want(r)) return { hit: r, seen };
  }
}

test(
  "serve --kubeconfig: API objects become xDS, routes and endpoints follow edits, an API server restart loses nothing",
  { skip: kubeUnavailable("serve --kubeconfig tests") },
  async (t) => {
    const cluster = await startKube();
    t.after(() => cluster.stop());
    for (const f of ["workloads.yaml", "services.yaml", "endpointslices.yaml"]) await apply(cluster, f);

    const serve = await startServe(["--kubeconfig", cluster.kubeconfigPath, "--debounce-after", "20ms"]);
    t.after(() => serve.stop());
    const ready = await fetch(`http://127.0.0.1:${serve.httpPort}/ready`);
    assert.equal(ready.status, 200);

    const s = new TestSotwStream(connect(serve.xdsPort), NODE, { NAMESPACE: "default", LABELS: { app: "front-tomcat" } });
    t.after(() => s.close());
    s.send({ typeUrl: CLUSTER });
    s.send({ typeUrl: LISTENER });
    s.send({ typeUrl: ROUTE, names: ["8080", "9999"] });
    s.send({ typeUrl: ENDPOINT, names: [BILL, V2] });
    const first = await until(s, ROUTE, () => true);
    const cds = first.seen.find((r) => r.typeUrl === CLUSTER) ?? (await until(s, CLUSTER, () => true)).hit;
    assert.ok(cds.names.includes(BILL));

    // The 90/10 VirtualService and its DestinationRule, created through the API.
    await apply(cluster, "destination-rule.yaml");
    await apply(cluster, "virtual-service.yaml");
    const weighted = (r: SotwResponse) => JSON.stringify(r.resources).includes('"weight":90');
    await until(s, ROUTE, weighted);

    // Scale bill-service v2 out: a third endpoint in the slice. Only EDS moves.
    await s.inbox.drain(300).then((rest) => rest.forEach((r) => s.ack(r, ackNames(r))));
    await apply(cluster, "endpointslices.yaml", (o) => {
      if (o.metadata.name === "bill-service-abc12")
        o.endpoints.push({
          addresses: ["172.7.130.99"],
          conditions: { ready: true },
          targetRef: { kind: "Pod", name: "bill-service-v2-7c6d8f9b5d-x2kpl", namespace: "default" },
        });
    });
    const scaled = await until(s, ENDPOINT, (r) => JSON.stringify(r.resources).includes("172.7.130.99"));
    assert.deepEqual(
      scaled.seen.map((r) => r.typeUrl).filter((u) => u !== ENDPOINT),
      [],
      "an endpoint change pushes EDS only",
    );
    assert.deepEqual(
      (await s.inbox.drain(300)).filter((r) => r.typeUrl !== ENDPOINT),
      [],
    );

    // Restart the API server: no push while it is down, config kept, changes after it arrive.
    await cluster.restartApiServer();
    const during = await s.inbox.drain(500);
    assert.deepEqual(
      during.map((r) => r.typeUrl),
      [],
      "nothing is withdrawn during the outage",
    );
    const dump = await getJson(serve.httpPort, `/debug/config_dump?proxy=${encodeURIComponent(NODE)}`);
    assert.ok(readConfigDump(dump).types.clusters!.has(V2), "config kept across the restart");
    const svc = await kubeRequest(cluster, "POST", "/api/v1/namespaces/default/services", {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "after-restart", namespace: "default" },
      spec: { ports: [{ name: "http", port: 7070 }], selector: { app: "after" } },
    });
    assert.equal(svc.status, 201, svc.body);
    await until(s, CLUSTER, (r) => r.names.includes("outbound|7070||after-restart.default.svc.cluster.local"), 30_000);

    // Delete the VirtualService: the default route comes back.
    const del = await kubeRequest(cluster, "DELETE", "/apis/networking.istio.io/v1/namespaces/default/virtualservices/bill-service-route");
    assert.equal(del.status, 200, del.body);
    await until(s, ROUTE, (r) => !weighted(r));
  },
);
