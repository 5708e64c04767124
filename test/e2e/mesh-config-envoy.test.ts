/**
 * Mesh config edits reach a real sidecar Envoy, and its spans reach a Zipkin
 * collector (issue 10: mesh config and tracing).
 *
 * The app runs in a network namespace with the istio-iptables rules (as in
 * envoy-netns.test.ts); its Envoy is bootstrapped by `mini-pilot bootstrap
 * --mesh-config mesh.yaml`, the same file `serve --mesh-config` watches, so
 * the xDS address (defaultConfig.discoveryAddress) and the Zipkin collector
 * cluster (defaultConfig.tracing.zipkin.address) come from it. Then, without
 * restarting anything:
 *  1. ALLOW_ANY, tracing off (`enableTracing: false`; Istio's default is on): the app's direct call to an unknown address
 *     passes through, and no span is sent;
 *  2. edit mesh.yaml (REGISTRY_ONLY, enableTracing, sampling 100): Envoy gets
 *     both; the direct call is now refused; every call to bill-service yields
 *     a Zipkin JSON v2 span at the collector, naming front-tomcat's service,
 *     the bill-service route (its decorator) and the cluster that served it;
 *  3. break mesh.yaml (a bad number and a bad duration): serve names the
 *     fields, keeps serving, and Envoy keeps the last good config.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { requireEnvoy } from "../support/envoy";
import { getJson, startServe } from "../support/serve-process";
import { startBillBackends, writeBillService } from "../support/http-backends";
import { startZipkinCollector } from "../support/zipkin-collector";
import { APP_UID, podReadableTmp, writeClientScript } from "./netns";
import { cleanups, requirePod, spawnPodEnvoy, writePodBootstrap } from "./pod-envoy";

const tmp = podReadableTmp("mini-pilot-e2e-mesh-config-");
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const BILL_VIP = "192.168.18.251";
const POD = { name: "front-tomcat-6b8d7c5f4-9zq7w", namespace: "default", labels: "app=front-tomcat,version=v1" };

/** Replace a watched file in one step. */
function writeAtomic(file: string, text: string): void {
  const tmpFile = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  fs.writeFileSync(tmpFile, text);
  fs.renameSync(tmpFile, file);
}

async function until(what: string, timeoutMs: number, probe: () => Promise<boolean>, detail: () => string | Promise<string> = () => ""): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await probe()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs}ms\n${await detail()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("mesh config edits (REGISTRY_ONLY, tracing sampling 100) reach a real Envoy; its spans reach a Zipkin collector", { timeout: 150_000 }, async (t) => {
  const defer = cleanups(t);
  const pod = requirePod(t, defer);
  if (!pod) return;
  const bin = requireEnvoy(t)!;
  const collector = await startZipkinCollector(pod.hostIp);
  defer(() => collector.stop());
  const b = await startBillBackends(pod.hostIp);
  defer(() => b.stop());
  const dir = writeBillService(path.join(tmp, "config"), ["rules", "canary"], b.vars);
  const meshDir = path.join(tmp, "mesh");
  fs.mkdirSync(meshDir);
  const meshFile = path.join(meshDir, "mesh.yaml");
  const proxyPart = (xds: string) => `defaultConfig:\n  ${xds}tracing:\n    zipkin:\n      address: ${pod.hostIp}:${collector.port}\n`;
  // Tracing is on by default, as in Istio: this test starts with it explicitly off.
  writeAtomic(meshFile, `enableTracing: false\n${proxyPart("")}`);
  const serve = await startServe(["--config-dir", dir, "--mesh-config", meshFile, "--xds-address", `${pod.hostIp}:0`, "--debounce-after", "20ms"]);
  defer(() => serve.stop());
  // The agent side reads the same file: the control plane's address goes in now that serve has a port.
  const base = proxyPart(`discoveryAddress: ${pod.hostIp}:${serve.xdsPort}\n  `);
  writeAtomic(meshFile, `enableTracing: false\n${base}`);

  const bootstrap = path.join(tmp, "envoy-rev0.json");
  writePodBootstrap(pod, POD, bootstrap, ["--mesh-config", meshFile]);
  const written = fs.readFileSync(bootstrap, "utf8");
  assert.match(written, new RegExp(`"address": "${pod.hostIp}",\\s*"port_value": ${serve.xdsPort}`), "xds-grpc from defaultConfig.discoveryAddress");
  assert.match(written, new RegExp(`"port_value": ${collector.port}`), "the zipkin cluster from defaultConfig.tracing.zipkin.address");

  const envoy = spawnPodEnvoy(pod, bin, bootstrap, tmp);
  defer(() => envoy.stop());
  const client = writeClientScript(tmp);
  const calls = async (url: string, n: number): Promise<Record<string, number>> =>
    (JSON.parse(await pod.exec("node", [client, url, String(n), "4", "{}"], { uid: APP_UID, timeoutMs: 60_000 })) as { counts: Record<string, number> }).counts;
  const dump = (resource: string) => envoy.admin(`/config_dump?resource=${resource}`);
  const direct = `http://${b.v1.host}:${b.v1.port}/direct`;
  const vip = `http://${BILL_VIP}:9999/bills`;
  try {
    await until("Envoy ready with 0.0.0.0_9999", 20_000, async () => (await envoy.admin("/listeners")).includes("0.0.0.0_9999"), envoy.logTail);

    // 1. ALLOW_ANY, tracing off (enableTracing: false).
    assert.deepEqual(await calls(direct, 5), { "bill-service-v1": 5 }, "ALLOW_ANY: an unknown destination passes through");
    const before = await calls(vip, 20);
    assert.equal((before["bill-service-v1"] ?? 0) + (before["bill-service-v2"] ?? 0), 20, JSON.stringify(before));
    assert.doesNotMatch(await dump("dynamic_listeners"), /random_sampling/, "no tracing before the edit");

    // 2. The edit.
    writeAtomic(meshFile, `${base}    sampling: 100\nenableTracing: true\noutboundTrafficPolicy:\n  mode: REGISTRY_ONLY\n`);
    await until(
      "Envoy holds tracing (sampling 100) and the block_all route",
      20_000,
      async () => /"random_sampling": \{\s*"value": 100/.test(await dump("dynamic_listeners")) && /"block_all"/.test(await dump("dynamic_route_configs")),
      async () =>
        `${/"random_sampling"[^}]*\}/.exec(await dump("dynamic_listeners"))?.[0]} ${/"(allow_any|block_all)"/.exec(await dump("dynamic_route_configs"))?.[0]}`,
    );
    await serve.waitForLog(/mesh config changed; pushing to every proxy/);
    const v1Before = b.v1.hits;
    const refused = await calls(direct, 3);
    assert.equal(refused["bill-service-v1"] ?? 0, 0, `REGISTRY_ONLY: the unknown destination is refused: ${JSON.stringify(refused)}`);
    assert.equal(b.v1.hits, v1Before, "nothing reached the backend directly");

    const traced = await calls(vip, 20);
    assert.equal((traced["bill-service-v1"] ?? 0) + (traced["bill-service-v2"] ?? 0), 20, JSON.stringify(traced));
    const spans = await collector.waitForSpans(20, 20_000, (s) => (s.tags?.upstream_cluster ?? "").includes("bill-service"));
    assert.deepEqual(collector.protocolErrors, []);
    for (const s of spans) {
      assert.equal(s.localEndpoint?.serviceName, "front-tomcat.default", "the span names the proxy's service cluster");
      assert.equal(s.kind, "CLIENT", "an outbound (egress) span");
      // The canary route splits 90/10, so Istio's decorator names the VirtualService: `<vs name>:<port>/*`.
      assert.equal(s.name, "bill-service-route:9999/*", "the route's decorator names the operation");
      assert.match(s.tags!.upstream_cluster!, /^outbound\|9999\|v[12]\|bill-service\.default\.svc\.cluster\.local$/);
      assert.match(s.tags!["http.url"] ?? "", /\/bills$/);
      assert.equal(s.tags!["istio.namespace"], "default", "the istio.* custom tags");
      assert.equal(s.tags!["istio.canonical_revision"], "latest");
      assert.match(s.traceId, /^[0-9a-f]{32}$/, "128-bit trace ids, as Istio asks");
    }
    assert.equal(new Set(spans.map((s) => s.traceId)).size, spans.length, "one trace per request");

    // 3. A broken edit: refused with the fields named; Envoy keeps the last good config.
    writeAtomic(meshFile, `${base}    sampling: lots\nenableTracing: true\nconnectTimeout: 5 parsecs\n`);
    await serve.waitForLog(/mesh\.yaml: defaultConfig\.tracing\.sampling: want a number, got string \\?"lots\\?"/);
    await serve.waitForLog(/mesh\.yaml: connectTimeout: bad duration/);
    await serve.waitForLog(/mesh config refused; the last good one stays in force/);
    const configz = (await getJson(serve.httpPort, "/debug/configz")) as { meshConfigErrors: string[] };
    assert.equal(configz.meshConfigErrors.length, 2, JSON.stringify(configz.meshConfigErrors));
    assert.equal(serve.child.exitCode, null, "serve survives");
    assert.match(await dump("dynamic_listeners"), /"random_sampling": \{\s*"value": 100/);
    assert.match(await dump("dynamic_route_configs"), /"block_all"/);
    assert.equal((await calls(direct, 2))["bill-service-v1"] ?? 0, 0, "still REGISTRY_ONLY");
    const rejected = (JSON.parse(await envoy.admin("/stats?format=json")) as { stats: { name?: string; value?: number }[] }).stats.filter(
      (s) => s.name?.endsWith("update_rejected") && s.value,
    );
    assert.deepEqual(rejected, [], "Envoy accepted every push");
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- envoy log ---\n${envoy.logTail()}\n--- serve log ---\n${serve.logs.slice(-30).join("\n")}`, { cause: e });
  }
});
