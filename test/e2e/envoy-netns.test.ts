/**
 * The seed scenario through a sidecar Envoy's outbound path, reached the way
 * Istio reaches it: the application (front-tomcat, here a client running as
 * `nobody` in a network namespace of its own) calls bill-service's cluster IP
 * 192.168.18.251:9999; istio-init-style iptables rules redirect the connection
 * to Envoy's 15001; virtualOutbound hands it by original destination to
 * 0.0.0.0_9999 (bind_to_port: false), whose routes pick v1 or v2.
 *
 * Once with the config over ADS from `mini-pilot serve --config-dir` (and a
 * live weight edit), once with `mini-pilot static` and no control plane.
 * Skipped, loudly, where namespaces or iptables are not allowed (test/e2e/netns.ts).
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { requireEnvoy } from "../support/envoy";
import { startServe } from "../support/serve-process";
import { BillBackends, startBillBackends, withinBinomial, writeBillService, FRONT_TOMCAT } from "../support/http-backends";
import { APP_UID, PodNetns, podReadableTmp, writeClientScript } from "./netns";
import { cleanups, PodEnvoy, requirePod, spawnPodEnvoy, waitPodEnvoyReady, writePodBootstrap } from "./pod-envoy";
import { buildStatic } from "../../src/translate/static-bootstrap";
import { readManifestDir } from "../../src/cli/translate";
import { serializeBootstrap } from "../../src/bootstrap/check";

type J = any; // admin JSON

const tmp = podReadableTmp("mini-pilot-e2e-netns-");
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const BILL_VIP = "192.168.18.251";
const POD = { name: "front-tomcat-6b8d7c5f4-9zq7w", namespace: "default", labels: "app=front-tomcat,version=v1" };
const tally = { requests: 0 };
after(() => process.stderr.write(`envoy-netns: ${tally.requests} requests through iptables and virtualOutbound\n`));

const startPodEnvoy = (pod: PodNetns, bin: string, config: string): Promise<PodEnvoy> =>
  waitPodEnvoyReady(spawnPodEnvoy(pod, bin, config, tmp), "0.0.0.0_9999");

interface AppResult {
  counts: Record<string, number>;
  minMs: number;
  maxMs: number;
}

/** The application's calls: `n` GETs from inside the pod as `nobody`, with timings. */
async function appRun(pod: PodNetns, client: string, url: string, n: number, headers: Record<string, string> = {}, concurrency = 16): Promise<AppResult> {
  tally.requests += n;
  return JSON.parse(
    await pod.exec("node", [client, url, String(n), String(concurrency), JSON.stringify(headers)], { uid: APP_UID, timeoutMs: 60_000 }),
  ) as AppResult;
}

/** The same, counted by the backend that answered (or `status N`). */
async function appCalls(pod: PodNetns, client: string, url: string, n: number, headers: Record<string, string> = {}): Promise<Record<string, number>> {
  return (await appRun(pod, client, url, n, headers)).counts;
}

/** The routing checks both config sources must pass, plus proof the traffic took the capture path. */
async function seedChecks(pod: PodNetns, envoy: PodEnvoy, b: BillBackends, client: string): Promise<void> {
  const url = `http://${BILL_VIP}:9999/bills`;
  b.reset();
  const split = await appCalls(pod, client, url, 1000);
  assert.equal((split["bill-service-v1"] ?? 0) + (split["bill-service-v2"] ?? 0), 1000, JSON.stringify(split));
  assert.ok(withinBinomial(split["bill-service-v2"] ?? 0, 1000, 0.1), `90/10 through the sidecar: ${JSON.stringify(split)}`);
  // Through Envoy, not around it: the backends saw Envoy's headers, Envoy counted the captured connections.
  assert.ok(
    b.v1.requests.every((r) => r.headers["x-envoy-attempt-count"] !== undefined),
    "every request reached v1 through Envoy",
  );
  // 0.0.0.0_9999 binds no port: its connections can only come from virtualOutbound's original-destination hand-off.
  assert.ok((await envoy.stat("listener.0.0.0.0_9999.downstream_cx_total")) > 0, "connections were handed from 15001 to 0.0.0.0_9999");
  assert.ok((await envoy.stat("http.outbound_0.0.0.0_9999.downstream_rq_total")) >= 1000, "and were handled by its routes");

  const jason = await appCalls(pod, client, url, 100, { "end-user": "jason" });
  assert.deepEqual(jason, { "bill-service-v2": 100 });

  // Not a service: ALLOW_ANY sends it through PassthroughCluster to where the app meant to go.
  const passthrough = async (): Promise<number> =>
    (await envoy.stat("cluster.PassthroughCluster.upstream_cx_total")) + (await envoy.stat("cluster.PassthroughCluster.upstream_rq_total"));
  const before = await passthrough();
  const direct = await appCalls(pod, client, `http://${b.v1.host}:${b.v1.port}/direct`, 5);
  assert.deepEqual(direct, { "bill-service-v1": 5 });
  const afterCount = await passthrough();
  assert.ok(afterCount > before, "the direct call went through PassthroughCluster");
}

test("sidecar path: app in a netns, iptables to 15001, virtualOutbound → 0.0.0.0_9999, config over ADS, live weight edit", { timeout: 120_000 }, async (t) => {
  const defer = cleanups(t);
  const pod = requirePod(t, defer, "the sidecar path", "the gateway and --bind-outbound paths in envoy-static/envoy-ads still run");
  if (!pod) return;
  const bin = requireEnvoy(t)!;
  const rules = pod.rules();
  assert.match(rules, /--uid-owner 0 .*-j RETURN/);
  assert.match(rules, /-j REDIRECT --to-ports 15001/);
  const b = await startBillBackends(pod.hostIp);
  defer(() => b.stop());
  const dir = writeBillService(path.join(tmp, "ads"), ["rules", "canary"], b.vars);
  const serve = await startServe(["--config-dir", dir, "--xds-address", `${pod.hostIp}:0`, "--debounce-after", "20ms"]);
  defer(() => serve.stop());

  const bootstrap = path.join(tmp, "envoy-rev0.json");
  writePodBootstrap(pod, POD, bootstrap, ["--xds-address", `${pod.hostIp}:${serve.xdsPort}`]);
  const envoy = await startPodEnvoy(pod, bin, bootstrap);
  defer(() => envoy.stop());
  const client = writeClientScript(tmp);
  try {
    assert.equal(JSON.parse(await envoy.admin("/server_info")).node.id, `sidecar~${pod.podIp}~${POD.name}.default~default.svc.cluster.local`);
    await seedChecks(pod, envoy, b, client);

    // Edit the weights: the split moves, same Envoy.
    const vsFile = path.join(dir, "canary-virtual-service.yaml");
    const tmpFile = `${path.dirname(vsFile)}/.vs.tmp`;
    fs.writeFileSync(tmpFile, fs.readFileSync(vsFile, "utf8").replace("weight: 90", "weight: 30").replace("weight: 10", "weight: 70"));
    fs.renameSync(tmpFile, vsFile);
    const deadline = Date.now() + 20_000;
    while (!/"weight": 70/.test(await envoy.admin("/config_dump?resource=dynamic_route_configs"))) {
      assert.ok(Date.now() < deadline, "Envoy got the 30/70 weights");
      await new Promise((res) => setTimeout(res, 100));
    }
    const moved = await appCalls(pod, client, `http://${BILL_VIP}:9999/`, 1000);
    assert.ok(withinBinomial(moved["bill-service-v2"] ?? 0, 1000, 0.7), `30/70 after the edit: ${JSON.stringify(moved)}`);
    assert.equal(envoy.child.exitCode, null);
    const rejected = (JSON.parse(await envoy.admin("/stats?format=json")) as { stats: { name?: string; value?: number }[] }).stats.filter(
      (s) => s.name?.endsWith("update_rejected") && s.value,
    );
    assert.deepEqual(rejected, []);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- envoy log ---\n${envoy.logTail()}`, { cause: e });
  }
});

test("sidecar path with `mini-pilot static` and no control plane: same capture, same routes", { timeout: 120_000 }, async (t) => {
  const defer = cleanups(t);
  const pod = requirePod(t, defer, "the sidecar path", "the gateway and --bind-outbound paths in envoy-static/envoy-ads still run");
  if (!pod) return;
  const bin = requireEnvoy(t)!;
  const b = await startBillBackends(pod.hostIp);
  defer(() => b.stop());
  const dir = writeBillService(path.join(tmp, "static"), ["rules", "canary"], b.vars);
  const id = FRONT_TOMCAT.replace("~127.0.0.1~", `~${pod.podIp}~`);
  const res = buildStatic({ files: readManifestDir(dir), nodeId: id, metadata: {} });
  assert.ok(res.ok, res.ok ? "" : res.error);
  const listeners = (res.bootstrap.static_resources as J).listeners as J[];
  assert.equal(listeners.find((l) => l.name === "0.0.0.0_9999").bind_to_port, false, "as in a pod: reached only through virtualOutbound");
  const config = path.join(tmp, "static.json");
  fs.writeFileSync(config, serializeBootstrap(res.bootstrap));
  const envoy = await startPodEnvoy(pod, bin, config);
  defer(() => envoy.stop());
  try {
    await seedChecks(pod, envoy, b, writeClientScript(tmp));
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- envoy log ---\n${envoy.logTail()}`, { cause: e });
  }
});

/**
 * The rest of the seed checks along the sidecar path, each with its own static
 * config in the same pod: no rules, URI prefix, fault abort and delay,
 * retries, per-route timeout.
 */
test("sidecar path (static): no rules, URI prefix, fault abort/delay, retries, timeout", { timeout: 180_000 }, async (t) => {
  const defer = cleanups(t);
  const pod = requirePod(t, defer, "the sidecar path", "the gateway and --bind-outbound paths in envoy-static/envoy-ads still run");
  if (!pod) return;
  const bin = requireEnvoy(t)!;
  const b = await startBillBackends(pod.hostIp);
  defer(() => b.stop());
  const client = writeClientScript(tmp);
  const id = FRONT_TOMCAT.replace("~127.0.0.1~", `~${pod.podIp}~`);
  const url = (p = "/"): string => `http://${BILL_VIP}:9999${p}`;

  const withConfig = async (parts: string[], fn: (envoy: PodEnvoy) => Promise<void>): Promise<void> => {
    const name = `static-${parts.join("+") || "no-rules"}`;
    const dir = writeBillService(path.join(tmp, name), parts, b.vars);
    const res = buildStatic({ files: readManifestDir(dir), nodeId: id, metadata: {} });
    assert.ok(res.ok, res.ok ? "" : res.error);
    const config = path.join(tmp, `${name}.json`);
    fs.writeFileSync(config, serializeBootstrap(res.bootstrap));
    b.reset();
    const envoy = await startPodEnvoy(pod, bin, config);
    try {
      await fn(envoy);
    } catch (e) {
      throw new Error(`${name}: ${(e as Error).message}\n--- envoy log ---\n${envoy.logTail()}`, { cause: e });
    } finally {
      await envoy.stop();
    }
  };

  await withConfig([], async () => {
    const c = await appCalls(pod, client, url(), 400);
    assert.ok((c["bill-service-v1"] ?? 0) > 120 && (c["bill-service-v2"] ?? 0) > 120, `no rules: both versions: ${JSON.stringify(c)}`);
    assert.equal((c["bill-service-v1"] ?? 0) + (c["bill-service-v2"] ?? 0), 400, JSON.stringify(c));
  });
  await withConfig(["rules", "uri-prefix"], async () => {
    assert.deepEqual(await appCalls(pod, client, url("/v2/bills"), 20), { "bill-service-v2": 20 });
    assert.deepEqual(await appCalls(pod, client, url("/v2"), 20), { "bill-service-v1": 20 });
    assert.deepEqual(await appCalls(pod, client, url("/bills"), 20), { "bill-service-v1": 20 });
  });
  await withConfig(["rules", "fault-abort"], async () => {
    const c = await appCalls(pod, client, url(), 600);
    assert.ok(withinBinomial(c["status 503"] ?? 0, 600, 0.5), `abort 50%: ${JSON.stringify(c)}`);
    assert.equal(b.v1.hits, c["bill-service-v1"] ?? 0, "aborted requests never reach the backend");
  });
  await withConfig(["rules", "fault-delay"], async () => {
    const r = await appRun(pod, client, url(), 10, {}, 5);
    assert.deepEqual(r.counts, { "bill-service-v1": 10 });
    // 5ms of slack: the client in the netns times with millisecond resolution.
    assert.ok(r.minMs >= 395, `fixed 400ms delay: fastest ${r.minMs.toFixed(1)}ms`);
  });
  await withConfig(["rules", "retries"], async () => {
    b.v1.reset({ failFirst: 2 });
    assert.deepEqual(await appCalls(pod, client, url(), 1), { "bill-service-v1": 1 });
    assert.equal(b.v1.hits, 3, "two 503s retried, then success");
  });
  await withConfig(["rules", "timeout"], async () => {
    b.v1.reset({ delayMs: 3000 });
    const r = await appRun(pod, client, url(), 2, {}, 2);
    assert.deepEqual(
      r.counts,
      { "status 504": 2 },
      "timeout: 500ms should end the request with 504 (Envoy ignores route.timeout when the route also sets max_stream_duration)",
    );
    assert.ok(r.minMs >= 480 && r.maxMs < 1500, `504 after ~500ms: ${r.minMs.toFixed(0)}-${r.maxMs.toFixed(0)}ms`);
  });
});
