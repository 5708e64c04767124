/**
 * Real Envoy against generated bootstraps: Envoy's own validator accepts every
 * example and variant, agrees with our PGV checker, and a running Envoy opens
 * the ADS stream we configured (SotW, delta, mutual TLS) with our node identity,
 * serves /stats/prometheus and /healthz/ready, and keeps retrying a dead
 * control plane.
 */
import { after, test, TestContext } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http2 from "node:http2";
import * as os from "node:os";
import * as path from "node:path";
import type { TLSSocket } from "node:tls";
import { spawn } from "node:child_process";
import { BOOTSTRAP_EXAMPLES, BootstrapVariant, configDir, EXAMPLE_CERT_DIR, exampleOptions } from "../../scripts/gen-envoy-configs";
import { renderBootstrap } from "../../src/bootstrap/render";
import { checkBootstrap, serializeBootstrap } from "../../src/bootstrap/check";
import { messageType } from "../../src/xds/protos";
import { freePort, httpGet, makeTestCerts, requireEnvoy, startEnvoy, EnvoyProcess, TestCerts, validateConfig } from "../support/envoy";
import { eventually } from "../support/poll";

type J = any; // rendered JSON and decoded messages, walked freely in assertions

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mini-pilot-e2e-bootstrap-"));
// Failures quote Envoy's log in their message, so the directory can always go.
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const SERVER_NAME = "mini-pilot.test";
let certs: TestCerts | undefined;
const testCerts = (): TestCerts => (certs ??= makeTestCerts(SERVER_NAME, fs.mkdtempSync(path.join(tmp, "certs-"))));

/** Write a config under tmp, with the TLS example's certificate paths pointed at real test certificates. */
function writeConfig(name: string, text: string): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, text.split(EXAMPLE_CERT_DIR).join(testCerts().dir));
  return file;
}

/** Run `fn` over `items`, two at a time (the machine has two cores). */
async function inPairs<T, R>(items: T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all([worker(), worker()]);
  return out;
}

test("envoy --mode validate accepts every file in envoy-configs/", { timeout: 120_000 }, async (t) => {
  const bin = requireEnvoy(t);
  if (!bin) return;
  const files = fs
    .readdirSync(configDir())
    .filter((f) => f.endsWith(".json"))
    .sort();
  assert.ok(files.length >= 4, `expected the example bootstraps in ${configDir()}`);
  const results = await inPairs(files, async (f) => ({
    f,
    r: await validateConfig(bin, writeConfig(`checked-in-${f}`, fs.readFileSync(path.join(configDir(), f), "utf8"))),
  }));
  for (const { f, r } of results) assert.equal(r.code, 0, `${f}:\n${r.output}`);
});

test("envoy --mode validate accepts every bootstrap variant (sotw, delta, tls, router, zipkin)", { timeout: 120_000 }, async (t) => {
  const bin = requireEnvoy(t);
  if (!bin) return;
  const variants = Object.keys(BOOTSTRAP_EXAMPLES) as BootstrapVariant[];
  assert.deepEqual(variants, ["sotw", "delta", "tls", "router", "zipkin"]);
  const results = await inPairs(variants, async (v) => {
    const json = renderBootstrap(exampleOptions(BOOTSTRAP_EXAMPLES[v]));
    return { v, r: await validateConfig(bin, writeConfig(`variant-${v}.json`, serializeBootstrap(json))) };
  });
  for (const { v, r } of results) {
    assert.equal(r.code, 0, `${v}:\n${r.output}`);
    assert.match(r.output, /configuration '.*' OK/);
  }
});

test("Envoy and checkRules agree on what breaks a PGV rule", { timeout: 120_000 }, async (t) => {
  const bin = requireEnvoy(t);
  if (!bin) return;
  const base = (): J => renderBootstrap(exampleOptions(BOOTSTRAP_EXAMPLES.sotw));
  const statsVhost = (b: J): J => b.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0];
  const cases: { name: string; mutate(b: J): void; refused: RegExp | undefined }[] = [
    { name: "route-without-action", mutate: (b) => delete statsVhost(b).routes[0].route, refused: /routes\[0\]\.action: value is required/ },
    {
      name: "zero-connect-timeout",
      mutate: (b) => (b.static_resources.clusters[1].connect_timeout = "0s"),
      refused: /clusters\[1\]\.connect_timeout: value must be greater than 0s/,
    },
    {
      name: "strict-header-name",
      mutate: (b) =>
        (b.static_resources.clusters[0].typed_extension_protocol_options[
          "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
        ].upstream_http_protocol_options = {
          override_auto_sni_header: "a b",
        }),
      refused: /override_auto_sni_header: value must be a valid HTTP header name/,
    },
    // HeaderValue.key is HTTP_HEADER_NAME with strict: false: both let a space through.
    { name: "loose-header-name", mutate: (b) => (statsVhost(b).request_headers_to_add = [{ header: { key: "x y", value: "v" } }]), refused: undefined },
  ];
  const results = await inPairs(cases, async (c) => {
    const b = base();
    c.mutate(b);
    return { c, ours: checkBootstrap(b), envoy: await validateConfig(bin, writeConfig(`pgv-${c.name}.json`, serializeBootstrap(b))) };
  });
  for (const { c, ours, envoy } of results) {
    if (c.refused) {
      assert.equal(ours.length, 1, `${c.name}: ${ours.join("; ")}`);
      assert.match(ours[0]!, c.refused);
      assert.notEqual(envoy.code, 0, `${c.name}: Envoy accepted it`);
      assert.match(envoy.output, /Proto constraint validation failed/, c.name);
    } else {
      assert.deepEqual(ours, [], c.name);
      assert.equal(envoy.code, 0, `${c.name}:\n${envoy.output}`);
    }
  }
});

// ---------------------------------------------------------------- running Envoy

interface Ports {
  admin: number;
  stats: number;
  ready: number;
}

async function ports(): Promise<Ports> {
  return { admin: await freePort(), stats: await freePort(), ready: await freePort() };
}

/** The sotw example re-pointed at loopback ports, plus extra flags. */
function loopbackBootstrap(name: string, p: Ports, xdsPort: number, extra: string[] = []): string {
  const argv = [
    ...BOOTSTRAP_EXAMPLES.sotw.argv,
    "--admin-port",
    String(p.admin),
    "--stats-port",
    String(p.stats),
    "--readiness-port",
    String(p.ready),
    "--bind-address",
    "127.0.0.1",
    "--xds-address",
    `127.0.0.1:${xdsPort}`,
    ...extra,
  ];
  const json = renderBootstrap(exampleOptions({ env: BOOTSTRAP_EXAMPLES.sotw.env, argv }));
  assert.deepEqual(checkBootstrap(json), []);
  return writeConfig(name, serializeBootstrap(json));
}

async function run(t: TestContext, bin: string, config: string): Promise<EnvoyProcess> {
  const envoy = startEnvoy(bin, config, { logDir: tmp });
  t.after(() => envoy.stop());
  return envoy;
}

/** `promise`, or a rejection naming `what` after `ms`; the timer never outlives the race. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_r, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms}ms`)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

test("with a dead control plane Envoy starts, waits in initialization and keeps retrying xds-grpc", { timeout: 60_000 }, async (t) => {
  const bin = requireEnvoy(t);
  if (!bin) return;
  const p = await ports();
  const envoy = await run(t, bin, loopbackBootstrap("dead-cp.json", p, await freePort()));
  await envoy.waitAdmin();
  const ready = await envoy.admin("/ready");
  assert.equal(ready.status, 503, "not ready without LDS/CDS when initial_fetch_timeout is 0s");
  assert.match(ready.body, /INITIALIZING/);
  const info = JSON.parse((await envoy.admin("/server_info")).body) as J;
  assert.equal(info.node.id, "sidecar~10.244.1.17~bill-service-v1-6d4f8b7c9-x2x7q.default~default.svc.cluster.local");
  assert.equal(info.node.cluster, "bill-service.default");
  assert.equal(info.node.metadata.LABELS.version, "v1");
  const fails = await eventually("xds-grpc connect failures", 15_000, async () => {
    const stats = await envoy.stats();
    const n = Number(stats.get("cluster.xds-grpc.upstream_cx_connect_fail") ?? 0);
    return n >= 1 && stats.get("control_plane.connected_state") === 0 ? n : undefined;
  });
  assert.ok(fails >= 1);
  const exit = await envoy.stop();
  assert.deepEqual(exit, { code: 0, signal: null }, "SIGTERM is a clean shutdown");
});

test("with a finite initial-fetch-timeout Envoy goes LIVE alone; stats and readiness listeners answer", { timeout: 60_000 }, async (t) => {
  const bin = requireEnvoy(t);
  if (!bin) return;
  const p = await ports();
  const envoy = await run(t, bin, loopbackBootstrap("live.json", p, await freePort(), ["--initial-fetch-timeout", "0.5s"]));
  await envoy.waitReady();
  const prom = await httpGet(`http://127.0.0.1:${p.stats}/stats/prometheus`);
  assert.equal(prom.status, 200);
  assert.match(prom.body, /^# TYPE envoy_/m);
  assert.match(prom.body, /envoy_control_plane_connected_state\{\} 0/);
  const readiness = await httpGet(`http://127.0.0.1:${p.ready}/healthz/ready`);
  assert.deepEqual([readiness.status, readiness.body.trim()], [200, "LIVE"]);
  const other = await httpGet(`http://127.0.0.1:${p.stats}/quitquitquit`);
  assert.equal(other.status, 404, "only /stats/prometheus of the admin API is exposed");
});

// ---------------------------------------------------------------- the ADS stream

interface FirstRequest {
  path: string;
  message: Buffer;
  sni: string | undefined;
  clientCn: string | undefined;
}

/** An HTTP/2 server that records the first gRPC message of the first stream and never answers. */
async function adsRecorder(t: TestContext, tls?: { key: string; cert: string; ca: string }): Promise<{ port: number; first: Promise<FirstRequest> }> {
  const server = tls
    ? http2.createSecureServer({
        key: fs.readFileSync(tls.key),
        cert: fs.readFileSync(tls.cert),
        ca: fs.readFileSync(tls.ca),
        requestCert: true,
        rejectUnauthorized: true,
      })
    : http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s: http2.ServerHttp2Session) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  const first = new Promise<FirstRequest>((resolve) => {
    server.on("stream", (stream, headers) => {
      let buf = Buffer.alloc(0);
      stream.on("data", (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length < 5 || buf.length < 5 + buf.readUInt32BE(1)) return;
        const socket = stream.session?.socket as TLSSocket | undefined;
        const peer = tls && socket ? socket.getPeerCertificate() : undefined;
        resolve({
          path: String(headers[":path"]),
          message: buf.subarray(5, 5 + buf.readUInt32BE(1)),
          sni: tls && socket ? socket.servername || undefined : undefined,
          clientCn: peer?.subject ? String(peer.subject.CN) : undefined,
        });
      });
      stream.on("error", () => undefined);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(async () => {
    for (const s of sessions) s.destroy();
    await new Promise((r) => server.close(r));
  });
  return { port: (server.address() as { port: number }).port, first };
}

const ADS = "/envoy.service.discovery.v3.AggregatedDiscoveryService";

for (const [api, method, type] of [
  ["sotw", "StreamAggregatedResources", "envoy.service.discovery.v3.DiscoveryRequest"],
  ["delta", "DeltaAggregatedResources", "envoy.service.discovery.v3.DeltaDiscoveryRequest"],
] as const) {
  test(`${api} ADS: Envoy opens ${method} to the xds address with its node identity`, { timeout: 60_000 }, async (t) => {
    const bin = requireEnvoy(t);
    if (!bin) return;
    const cp = await adsRecorder(t);
    await run(t, bin, loopbackBootstrap(`ads-${api}.json`, await ports(), cp.port, ["--xds-api", api]));
    const req = await within(cp.first, 20_000, "the first ADS request");
    assert.equal(req.path, `${ADS}/${method}`);
    const msg = messageType(type).toObject(messageType(type).decode(req.message), { enums: String }) as J;
    assert.equal(msg.node.id, "sidecar~10.244.1.17~bill-service-v1-6d4f8b7c9-x2x7q.default~default.svc.cluster.local");
    assert.equal(msg.node.cluster, "bill-service.default");
    assert.equal(msg.node.metadata.fields.NAMESPACE.stringValue, "default");
    assert.equal(msg.node.metadata.fields.LABELS.structValue.fields.app.stringValue, "bill-service");
    // Envoy subscribes to clusters first, then listeners.
    assert.equal(msg.type_url, "type.googleapis.com/envoy.config.cluster.v3.Cluster");
  });
}

test("mutual TLS to the control plane: SNI sent, server SAN checked, client certificate presented", { timeout: 90_000 }, async (t) => {
  const bin = requireEnvoy(t);
  if (!bin) return;
  const c = testCerts();
  const tlsServer = { key: c.serverKey, cert: c.serverCert, ca: c.caFile };
  const tlsFlags = ["--xds-tls", "--xds-ca", c.caFile, "--xds-cert", c.clientCert, "--xds-key", c.clientKey, "--xds-sni", SERVER_NAME];

  const good = await adsRecorder(t, tlsServer);
  await run(t, bin, loopbackBootstrap("tls-good.json", await ports(), good.port, tlsFlags));
  const req = await within(good.first, 20_000, "the first ADS request over TLS");
  assert.equal(req.path, `${ADS}/StreamAggregatedResources`);
  assert.equal(req.sni, SERVER_NAME);
  assert.equal(req.clientCn, "bill-service");

  // The same server under a SAN Envoy was not told to trust: no stream, a SAN failure counted.
  const wrong = await adsRecorder(t, tlsServer);
  const envoy = await run(t, bin, loopbackBootstrap("tls-wrong-san.json", await ports(), wrong.port, [...tlsFlags, "--xds-san", "someone-else.test"]));
  await envoy.waitAdmin();
  const failures = await eventually("a SAN verification failure", 20_000, async () => {
    const n = Number((await envoy.stats()).get("cluster.xds-grpc.ssl.fail_verify_san") ?? 0);
    return n >= 1 ? n : undefined;
  });
  assert.ok(failures >= 1);
  await assert.rejects(within(wrong.first, 500, "an ADS stream"), /not within/, "no ADS stream reaches a control plane with the wrong SAN");
});

// ---------------------------------------------------------------- mini-pilot agent

const CLI = path.join(__dirname, "..", "..", "src", "cli", "main.js");

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test("mini-pilot agent runs Envoy, restarts it after a crash, and passes SIGTERM on", { timeout: 90_000 }, async (t) => {
  const bin = requireEnvoy(t);
  if (!bin) return;
  const p = await ports();
  const output = path.join(tmp, "agent", "envoy-rev0.json");
  const agent = spawn(
    process.execPath,
    [
      CLI,
      "agent",
      ...BOOTSTRAP_EXAMPLES.sotw.argv,
      "--envoy",
      bin,
      "--out",
      output,
      "--admin-port",
      String(p.admin),
      "--stats-port",
      String(p.stats),
      "--readiness-port",
      String(p.ready),
      "--bind-address",
      "127.0.0.1",
      "--xds-address",
      `127.0.0.1:${await freePort()}`,
      "--initial-fetch-timeout",
      "0.5s",
      "--concurrency",
      "1",
      "--log-level",
      "info",
    ],
    { env: { PATH: process.env.PATH ?? "", ...BOOTSTRAP_EXAMPLES.sotw.env }, stdio: ["ignore", "ignore", "pipe"] },
  );
  let log = "";
  agent.stderr!.on("data", (d: Buffer) => (log += d.toString()));
  const agentExit = new Promise<{ code: number | null; signal: string | null }>((r) => agent.on("exit", (code, signal) => r({ code, signal })));
  const envoyPids = (): number[] => [...log.matchAll(/envoy started \(pid (\d+)\)/g)].map((m) => Number(m[1]));
  t.after(async () => {
    if (agent.exitCode === null && agent.signalCode === null) {
      agent.kill("SIGTERM");
      await within(agentExit, 15_000, "agent exit").catch(() => agent.kill("SIGKILL"));
    }
    for (const pid of envoyPids()) if (alive(pid)) process.kill(pid, "SIGKILL");
  });
  const admin = (q: string) => httpGet(`http://127.0.0.1:${p.admin}${q}`);
  const live = () => eventually(`admin /ready LIVE\n${log.slice(-2000)}`, 20_000, async () => ((await admin("/ready")).status === 200 ? true : undefined));

  await live();
  assert.equal(JSON.parse(fs.readFileSync(output, "utf8")).node.id, "sidecar~10.244.1.17~bill-service-v1-6d4f8b7c9-x2x7q.default~default.svc.cluster.local");
  const [first] = envoyPids();
  assert.ok(first && alive(first), log);

  process.kill(first, "SIGKILL"); // a crash
  await eventually("a restarted Envoy", 20_000, async () => (envoyPids().length === 2 ? true : undefined));
  assert.match(log, /envoy exited \(signal SIGKILL\); restarting in 1000ms/);
  await live();
  const second = envoyPids()[1]!;
  assert.notEqual(second, first);

  agent.kill("SIGTERM");
  const exit = await within(agentExit, 20_000, "agent exit after SIGTERM");
  assert.deepEqual(exit, { code: 0, signal: null }, log.slice(-2000));
  assert.match(log, /envoy stopped after SIGTERM \(exit code 0\)/);
  assert.equal(alive(second), false, "Envoy is gone with the agent");
});
