/**
 * Not-ready endpoints never receive traffic (issue 11, "Show"), with a real
 * Envoy over ADS from `mini-pilot serve --config-dir`.
 *
 * An ingress gateway routes to a service with three real backends: one ready
 * and two not ready (EndpointSlice conditions as Kubernetes writes them for a
 * pod starting up). mini-pilot sends all three, the two as UNHEALTHY, as
 * istiod does, and switches Envoy's panic mode off (healthy_panic_threshold
 * 0). With one host of three healthy, Envoy's default 50% threshold would
 * put the cluster in panic and spread requests over every host; with
 * istiod's 0 every request goes to the ready one. Then the ready pod turns
 * not ready: requests fail with 503 and still none reaches a not-ready pod;
 * a not-ready pod turns ready: it takes all the traffic. A pod shutting down
 * (terminating) is not sent at all.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { freePort, loopbackBootstrapArgs, requireEnvoy, startEnvoy } from "../support/envoy";
import { eventually } from "../support/poll";
import { CLI, startServe } from "../support/serve-process";
import { countBy, HttpClient, startHttpBackend, type HttpBackend } from "../support/http-backends";

type J = any; // admin JSON, walked freely in assertions

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mini-pilot-e2e-not-ready-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const ROUTER = "router~127.0.0.1~istio-ingressgateway-5d9c7b8f6-zz9xk.istio-system~istio-system.svc.cluster.local";
const CLUSTER = "outbound|80||api.default.svc.cluster.local";

type Condition = "ready" | "starting" | "terminating";
const CONDITIONS: Record<Condition, string> = {
  ready: "{ready: true, serving: true, terminating: false}",
  starting: "{ready: false, serving: false, terminating: false}",
  terminating: "{ready: false, serving: true, terminating: true}",
};

/** One EndpointSlice per backend (each has its own port on 127.0.0.1). */
function slices(backends: HttpBackend[], state: Record<string, Condition>): string {
  return backends
    .map(
      (b) => `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ${b.name}, namespace: default, labels: {kubernetes.io/service-name: api}}
addressType: IPv4
ports: [{name: http, port: ${b.port}}]
endpoints:
  - addresses: [127.0.0.1]
    conditions: ${CONDITIONS[state[b.name]!]}
`,
    )
    .join("---\n");
}

function config(gatewayPort: number): string {
  return `apiVersion: v1
kind: Service
metadata: {name: api, namespace: default}
spec:
  clusterIP: 10.96.7.7
  selector: {app: api}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: ${gatewayPort}, name: http, protocol: HTTP}
      bind: 127.0.0.1
      hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: default}
spec:
  hosts: ["api.example.com"]
  gateways: [gw]
  http:
    - route: [{destination: {host: api.default.svc.cluster.local, port: {number: 80}}}]
`;
}

function writeAtomic(file: string, text: string): void {
  const tmpFile = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  fs.writeFileSync(tmpFile, text);
  fs.renameSync(tmpFile, file);
}

test("not-ready endpoints are sent UNHEALTHY and never receive traffic (real Envoy, panic mode off)", { timeout: 120_000 }, async (t) => {
  const bin = requireEnvoy(t);
  if (!bin) return;
  const backends = [await startHttpBackend("api-ready"), await startHttpBackend("api-starting-1"), await startHttpBackend("api-starting-2")];
  const leaving = await startHttpBackend("api-leaving");
  t.after(() => Promise.all([...backends, leaving].map((b) => b.stop())));
  const all = [...backends, leaving];
  const state: Record<string, Condition> = { "api-ready": "ready", "api-starting-1": "starting", "api-starting-2": "starting", "api-leaving": "terminating" };

  const gatewayPort = await freePort();
  const dir = path.join(tmp, "config");
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, "config.yaml"), config(gatewayPort));
  const slicesFile = path.join(dir, "slices.yaml");
  fs.writeFileSync(slicesFile, slices(all, state));
  const serve = await startServe(["--config-dir", dir, "--debounce-after", "20ms"]);
  t.after(() => serve.stop());

  const bootstrap = path.join(tmp, "bootstrap.json");
  const env = { ...process.env, POD_NAME: "istio-ingressgateway-5d9c7b8f6-zz9xk", POD_NAMESPACE: "istio-system", INSTANCE_IP: "127.0.0.1" };
  const r = spawnSync(
    process.execPath,
    [
      CLI,
      "bootstrap",
      "--type",
      "router",
      "--xds-address",
      `127.0.0.1:${serve.xdsPort}`,
      ...(await loopbackBootstrapArgs()),
      "--labels",
      "app=istio-ingressgateway,istio=ingressgateway",
      "--out",
      bootstrap,
    ],
    { env, encoding: "utf8" },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(fs.readFileSync(bootstrap, "utf8")).node.id, ROUTER);
  const envoy = startEnvoy(bin, bootstrap, { logDir: tmp });
  t.after(() => envoy.stop());
  const client = new HttpClient(gatewayPort, "api.example.com");
  t.after(() => client.close());

  /** The cluster's hosts in Envoy: port -> health flags ("healthy" when none). */
  const hosts = async (): Promise<Map<number, string>> => {
    const body = JSON.parse((await envoy.admin("/clusters?format=json")).body) as J;
    const c = (body.cluster_statuses as J[]).find((x) => x.name === CLUSTER);
    const out = new Map<number, string>();
    for (const h of c?.host_statuses ?? []) {
      const flags = Object.entries(h.health_status ?? {})
        .filter(([k, v]) => k !== "eds_health_status" && v === true)
        .map(([k]) => k);
      out.set(Number(h.address.socket_address.port_value), `${h.health_status?.eds_health_status ?? "HEALTHY"}${flags.length ? ` ${flags.join(",")}` : ""}`);
    }
    return out;
  };
  const expectHosts = (want: Record<string, string>) =>
    eventually(
      `Envoy holds ${JSON.stringify(want)}`,
      20_000,
      async () => {
        const got = await hosts();
        const byName = Object.fromEntries(all.filter((b) => got.has(b.port)).map((b) => [b.name, got.get(b.port)!.split(" ")[0]!]));
        return JSON.stringify(byName) === JSON.stringify(want) ? true : undefined;
      },
      async () => `Envoy has: ${JSON.stringify([...(await hosts())])} (ports ${all.map((b) => `${b.name}=${b.port}`).join(" ")})\n${envoy.logTail(10)}`,
      50,
    );
  const send = async (n: number) => {
    for (const b of all) b.reset();
    return countBy(await client.many(n));
  };

  try {
    await envoy.waitReady();
    await eventually(
      "the gateway listener",
      20_000,
      async () => ((await envoy.admin("/listeners")).body.includes(`127.0.0.1:${gatewayPort}`) ? true : undefined),
      undefined,
      50,
    );
    // EDS carries the starting pods as UNHEALTHY; the terminating one is not sent at all.
    await expectHosts({ "api-ready": "HEALTHY", "api-starting-1": "UNHEALTHY", "api-starting-2": "UNHEALTHY" });
    const cds = JSON.parse((await envoy.admin("/config_dump?resource=dynamic_active_clusters")).body) as J;
    const cluster = (cds.configs as J[]).map((c) => c.cluster).find((c) => c.name === CLUSTER);
    assert.deepEqual(cluster.common_lb_config?.healthy_panic_threshold ?? null, {}, "panic mode off (threshold 0)");

    // One healthy host of three: Envoy's default threshold (50%) would panic and use all three. Every request reaches the ready pod.
    let c = await send(300);
    assert.deepEqual(c, { "api-ready": 300 }, `only the ready pod answers: ${JSON.stringify(c)}`);
    for (const b of [...backends.slice(1), leaving]) assert.equal(b.hits, 0, `${b.name} never receives a request`);

    // The ready pod turns not ready too: nothing is healthy, Envoy answers 503 itself, no not-ready pod is tried.
    state["api-ready"] = "starting";
    writeAtomic(slicesFile, slices(all, state));
    await expectHosts({ "api-ready": "UNHEALTHY", "api-starting-1": "UNHEALTHY", "api-starting-2": "UNHEALTHY" });
    c = await send(50);
    assert.deepEqual(c, { "status 503": 50 }, `no healthy host: ${JSON.stringify(c)}`);
    for (const b of all) assert.equal(b.hits, 0, `${b.name} gets nothing while not ready`);

    // One starting pod becomes ready: it takes everything.
    state["api-starting-2"] = "ready";
    writeAtomic(slicesFile, slices(all, state));
    await expectHosts({ "api-ready": "UNHEALTHY", "api-starting-1": "UNHEALTHY", "api-starting-2": "HEALTHY" });
    c = await send(300);
    assert.deepEqual(c, { "api-starting-2": 300 }, `the newly ready pod takes all: ${JSON.stringify(c)}`);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- envoy log ---\n${envoy.logTail(20)}\n--- serve log ---\n${serve.logs.slice(-10).join("\n")}`, { cause: e });
  }
});
