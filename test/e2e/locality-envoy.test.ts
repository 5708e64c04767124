/**
 * Locality failover with a real Envoy over ADS, the way a user runs it:
 * `mini-pilot serve --config-dir` with Nodes in three localities, an ingress
 * gateway Envoy bootstrapped by `mini-pilot bootstrap --locality r1/r1-a`,
 * HTTP backends on 127.0.0.x (zone A: two, zone B: one, region r2: one), and
 * a DestinationRule that sets outlier detection (locality load balancing is
 * on by the mesh default). Traffic stays in zone A; kill zone A's backends
 * and it moves to zone B (the next priority), never to r2; kill zone B too
 * and it moves to r2. A second run with `enabled: false` shows the
 * difference: all four backends share the traffic from the start.
 */
import { test, TestContext } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { freePort, loopbackBootstrapArgs, requireEnvoy, startEnvoy } from "../support/envoy";
import { eventually } from "../support/poll";
import { CLI, startServe } from "../support/serve-process";
import { HttpBackend, HttpClient, countBy, startHttpBackend } from "../support/http-backends";

type J = any; // admin JSON, walked freely in assertions

const HOST = "api.default.svc.cluster.local";
const CLUSTER = `outbound|80||${HOST}`;
const PROXY_LOCALITY = "r1/r1-a";
const OUTLIER_INTERVAL_MS = 1000;

/** Backend name → [address, node]: the pod's locality is its node's. */
const BACKENDS: Record<string, [string, string]> = {
  "zone-a-1": ["127.0.0.11", "node-a"],
  "zone-a-2": ["127.0.0.12", "node-a"],
  "zone-b-1": ["127.0.0.21", "node-b"],
  "region-2-1": ["127.0.0.31", "node-r2"],
};

function config(backends: Record<string, HttpBackend>, gatewayPort: number, localityLbSetting?: object): string {
  const docs: object[] = [
    { apiVersion: "v1", kind: "Node", metadata: { name: "node-a", labels: { "topology.kubernetes.io/region": "r1", "topology.kubernetes.io/zone": "r1-a" } } },
    { apiVersion: "v1", kind: "Node", metadata: { name: "node-b", labels: { "topology.kubernetes.io/region": "r1", "topology.kubernetes.io/zone": "r1-b" } } },
    { apiVersion: "v1", kind: "Node", metadata: { name: "node-r2", labels: { "topology.kubernetes.io/region": "r2", "topology.kubernetes.io/zone": "r2-a" } } },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "api", namespace: "default" },
      spec: { clusterIP: "10.96.50.1", selector: { app: "api" }, ports: [{ name: "http", port: 80, targetPort: "http" }] },
    },
  ];
  for (const [name, [ip, nodeName]] of Object.entries(BACKENDS)) {
    docs.push({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: `api-${name}`, namespace: "default", labels: { app: "api" } },
      spec: { nodeName, containers: [{ name: "api", ports: [{ name: "http", containerPort: backends[name]!.port }] }] },
      status: { phase: "Running", podIP: ip },
    });
    // One slice per backend: each listens on its own ephemeral port.
    docs.push({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: `api-${name}`, namespace: "default", labels: { "kubernetes.io/service-name": "api" } },
      addressType: "IPv4",
      ports: [{ name: "http", port: backends[name]!.port }],
      endpoints: [{ addresses: [ip], nodeName, conditions: { ready: true }, targetRef: { kind: "Pod", name: `api-${name}`, namespace: "default" } }],
    });
  }
  docs.push(
    {
      apiVersion: "networking.istio.io/v1",
      kind: "Gateway",
      metadata: { name: "gw", namespace: "default" },
      spec: {
        selector: { istio: "ingressgateway" },
        servers: [{ port: { number: gatewayPort, name: "http", protocol: "HTTP" }, bind: "127.0.0.1", hosts: ["*"] }],
      },
    },
    {
      apiVersion: "networking.istio.io/v1",
      kind: "VirtualService",
      metadata: { name: "api", namespace: "default" },
      spec: { hosts: ["*"], gateways: ["gw"], http: [{ route: [{ destination: { host: HOST, port: { number: 80 } } }] }] },
    },
    {
      apiVersion: "networking.istio.io/v1",
      kind: "DestinationRule",
      metadata: { name: "api", namespace: "default" },
      spec: {
        host: HOST,
        trafficPolicy: {
          // One failure ejects a host for long enough to outlast the test; every host may be ejected.
          outlierDetection: { consecutive5xxErrors: 1, interval: `${OUTLIER_INTERVAL_MS}ms`, baseEjectionTime: "300s", maxEjectionPercent: 100 },
          ...(localityLbSetting ? { loadBalancer: { localityLbSetting } } : {}),
        },
      },
    },
  );
  return docs.map((d) => JSON.stringify(d)).join("\n---\n") + "\n";
}

interface Setup {
  backends: Record<string, HttpBackend>;
  envoy: ReturnType<typeof startEnvoy>;
  client: HttpClient;
  /** Host address → the priority Envoy placed it at (admin /clusters). */
  priorities(): Promise<Map<string, number>>;
  /** Hosts outlier detection holds ejected now. */
  ejected(): Promise<number>;
  /**
   * Wait out one outlier detection interval: Envoy applies a second ejection
   * to load balancing at its next sweep (envoyproxy/envoy#28304), so until
   * then an ejected host can still be picked (retries hide most of it).
   */
  settle(): Promise<void>;
  /** `n` requests, counted by backend (or `status <code>`). */
  send(n: number): Promise<Record<string, number>>;
}

async function setUp(t: TestContext, bin: string, localityLbSetting?: object): Promise<Setup> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mini-pilot-locality-"));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const backends: Record<string, HttpBackend> = {};
  for (const [name, [ip]] of Object.entries(BACKENDS)) backends[name] = await startHttpBackend(name, { host: ip });
  t.after(() => Promise.all(Object.values(backends).map((b) => b.stop())));
  const gatewayPort = await freePort();
  const dir = path.join(tmp, "config");
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, "api.yaml"), config(backends, gatewayPort, localityLbSetting));
  const serve = await startServe(["--config-dir", dir]);
  t.after(() => serve.stop());

  const file = path.join(tmp, "bootstrap.json");
  const args = [CLI, "bootstrap", "--type", "router", "--pod-name", "ingress-1", "--namespace", "default", "--ip", "127.0.0.1"];
  args.push("--labels", "istio=ingressgateway", "--locality", PROXY_LOCALITY, "--xds-address", `127.0.0.1:${serve.xdsPort}`);
  args.push(...(await loopbackBootstrapArgs()), "--out", file);
  const r = spawnSync(process.execPath, args, { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual((JSON.parse(fs.readFileSync(file, "utf8")) as J).node.locality, { region: "r1", zone: "r1-a" }, "the bootstrap carries the locality");

  const envoy = startEnvoy(bin, file, { logDir: tmp });
  t.after(() => envoy.stop());
  await envoy.waitReady();
  const client = new HttpClient(gatewayPort, HOST);
  t.after(() => client.close());

  const priorities = async (): Promise<Map<string, number>> => {
    const body = JSON.parse((await envoy.admin("/clusters?format=json")).body) as J;
    const c = (body.cluster_statuses as J[]).find((s) => s.name === CLUSTER);
    return new Map(((c?.host_statuses ?? []) as J[]).map((h) => [h.address.socket_address.address as string, (h.priority as number | undefined) ?? 0]));
  };
  const hosts = localityLbSetting && "distribute" in localityLbSetting ? 3 : 4;
  await eventually(`Envoy holds the ${hosts} api hosts`, 20_000, async () => ((await priorities()).size === hosts ? true : undefined));
  await eventually("the gateway routes", 20_000, async () => ((await client.get("/")).status === 200 ? true : undefined));
  const send = async (n: number): Promise<Record<string, number>> => {
    const replies = await client.many(n, "/", {}, 8);
    return countBy(replies);
  };
  const ejected = async (): Promise<number> => Number((await envoy.stats()).get(`cluster.${CLUSTER}.outlier_detection.ejections_active`) ?? 0);
  const settle = () => new Promise<void>((r) => setTimeout(r, 2 * OUTLIER_INTERVAL_MS + 500));
  return { backends, envoy, client, priorities, send, ejected, settle };
}

test("locality failover through a real Envoy: zone A, then zone B when zone A dies, then the other region", { timeout: 120_000 }, async (t) => {
  const bin = requireEnvoy(t);
  if (!bin) return;
  const s = await setUp(t, bin);
  try {
    // EDS as Envoy holds it: zone A priority 0, zone B 1, region r2 2.
    assert.deepEqual(
      Object.fromEntries(await s.priorities()),
      { "127.0.0.11": 0, "127.0.0.12": 0, "127.0.0.21": 1, "127.0.0.31": 2 },
      "priorities relative to the proxy's locality",
    );
    const before = await s.send(200);
    assert.equal((before["zone-a-1"] ?? 0) + (before["zone-a-2"] ?? 0), 200, `all traffic stays in zone A: ${JSON.stringify(before)}`);
    assert.ok((before["zone-a-1"] ?? 0) > 0 && (before["zone-a-2"] ?? 0) > 0, `both zone-A hosts serve: ${JSON.stringify(before)}`);

    // Kill zone A. Outlier detection ejects each host after its first failure (retries hide some failures from
    // clients meanwhile); once both are out, priority 0 has no healthy host and zone B takes over.
    await Promise.all([s.backends["zone-a-1"]!.stop(), s.backends["zone-a-2"]!.stop()]);
    await eventually("Envoy ejects both zone-A hosts", 30_000, async () => {
      await s.send(20);
      return (await s.ejected()) === 2 ? true : undefined;
    });
    await s.settle();
    const afterA = await s.send(200);
    assert.deepEqual(afterA, { "zone-b-1": 200 }, "zone B (the next priority) takes all traffic; region r2 none");

    // Kill zone B as well: the other region is next.
    await s.backends["zone-b-1"]!.stop();
    await eventually("Envoy ejects the zone-B host", 30_000, async () => {
      await s.send(20);
      return (await s.ejected()) === 3 ? true : undefined;
    });
    await s.settle();
    assert.deepEqual(await s.send(100), { "region-2-1": 100 });
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- envoy log ---\n${s.envoy.logTail(30)}`, { cause: e });
  }
});

test("locality load balancing off (enabled: false): one priority, every locality gets traffic", { timeout: 120_000 }, async (t) => {
  const bin = requireEnvoy(t);
  if (!bin) return;
  const s = await setUp(t, bin, { enabled: false });
  assert.deepEqual(Object.fromEntries(await s.priorities()), { "127.0.0.11": 0, "127.0.0.12": 0, "127.0.0.21": 0, "127.0.0.31": 0 });
  const c = await s.send(400);
  for (const name of Object.keys(BACKENDS)) assert.ok((c[name] ?? 0) > 40, `${name} gets a share: ${JSON.stringify(c)}`);
});

test("distribute: the proxy's locality sends 80% to zone A and 20% to zone B, none to r2", { timeout: 120_000 }, async (t) => {
  const bin = requireEnvoy(t);
  if (!bin) return;
  const s = await setUp(t, bin, { distribute: [{ from: "r1/r1-a/*", to: { "r1/r1-a": 80, "r1/r1-b": 20 } }] });
  const c = await s.send(1000);
  const zoneA = (c["zone-a-1"] ?? 0) + (c["zone-a-2"] ?? 0);
  assert.equal(c["region-2-1"] ?? 0, 0, `r2 is not named: ${JSON.stringify(c)}`);
  assert.equal(zoneA + (c["zone-b-1"] ?? 0), 1000, JSON.stringify(c));
  // 80/20 within 4.5 standard deviations (sd ≈ 12.6 of 1000).
  assert.ok(Math.abs(zoneA - 800) <= 60, `about 80% to zone A: ${JSON.stringify(c)}`);
});
