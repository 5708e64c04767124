/**
 * `mini-pilot static` with the real Envoy and no control plane.
 *
 * 1. `envoy --mode validate` accepts the static config of every golden case
 *    (built by buildStatic, the code behind `mini-pilot static`), as generated
 *    and with --bind-outbound, and every file in envoy-configs/.
 * 2. The seed scenario routes real traffic through a static config, answered
 *    by two HTTP backends on loopback that the fixtures' EndpointSlices point
 *    at, along two paths (see `Path`): front-tomcat's sidecar with
 *    --bind-outbound, and the ingress gateway with a Gateway on port 80.
 */
import { after, before, test, TestContext } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { parse } from "yaml";
import { buildStatic, StaticRequest } from "../../src/translate/static-bootstrap";
import { ManifestFile } from "../../src/cli/translate";
import { boundListeners } from "../../src/bootstrap/static";
import { checkBootstrap, serializeBootstrap } from "../../src/bootstrap/check";
import { configDir, EXAMPLE_CERT_DIR, FRONT_TOMCAT_NODE } from "../../scripts/gen-envoy-configs";
import { freePort, makeTestCerts, requireEnvoy, startEnvoy, EnvoyProcess, TestCerts, validateConfig } from "../support/envoy";
import { BillBackends, countBy, FRONT_TOMCAT, HttpClient, INGRESS, startBillBackends, withinBinomial, writeBillService } from "../support/http-backends";
import { readManifestDir } from "../../src/cli/translate";
import { formatDiagnostic } from "../../src/model/types";

const REPO = path.resolve(__dirname, "../../..");
const GOLDEN = path.join(REPO, "test/golden");
const CERTS = path.join(GOLDEN, "_fixtures/certs");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mini-pilot-e2e-static-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let certs: TestCerts | undefined;
/** Real certificates for the TLS example's paths (root-cert.pem, cert-chain.pem, key.pem). */
const testCerts = (): TestCerts => (certs ??= makeTestCerts("mini-pilot.istio-system.svc", fs.mkdtempSync(path.join(tmp, "certs-"))));

/** What was checked, printed at the end for docs/ENVOY.md and the report. */
const tally = { validated: 0, requests: 0, warnings: new Set<string>() };
after(() => {
  process.stderr.write(`envoy-static: ${tally.validated} configs validated, ${tally.requests} requests checked\n`);
  for (const w of tally.warnings) process.stderr.write(`envoy warning: ${w}\n`);
});

// ---------------------------------------------------------------- helpers

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

/** Envoy's warning lines (deprecations and the like), without timestamps. */
function noteWarnings(output: string): void {
  for (const line of output.split("\n")) {
    const m = /\[(warning|critical)\]\[[^\]]*\] (?:\[[^\]]*\] )?(.*)$/.exec(line);
    if (m) tally.warnings.add(m[2]!.trim());
  }
}

function collect(p: string): ManifestFile[] {
  if (fs.statSync(p).isDirectory())
    return fs
      .readdirSync(p)
      .sort()
      .flatMap((n) => collect(path.join(p, n)));
  return /\.(ya?ml|json)$/.test(p) ? [{ file: path.relative(REPO, p), text: fs.readFileSync(p, "utf8") }] : [];
}

/** A golden case's inputs, as test/golden/golden.test.ts reads them. */
function goldenRequest(name: string): StaticRequest {
  const dir = path.join(GOLDEN, name);
  const files: ManifestFile[] = [];
  const includes = path.join(dir, "include.txt");
  if (fs.existsSync(includes)) {
    for (const line of fs
      .readFileSync(includes, "utf8")
      .split("\n")
      .map((l) => l.trim())) {
      if (line !== "" && !line.startsWith("#")) files.push(...collect(path.join(REPO, line)));
    }
  }
  if (fs.existsSync(path.join(dir, "input.yaml"))) files.push({ file: "input.yaml", text: fs.readFileSync(path.join(dir, "input.yaml"), "utf8") });
  const proxy = parse(fs.readFileSync(path.join(dir, "proxy.yaml"), "utf8")) as {
    id: string;
    metadata?: Record<string, unknown>;
    mesh?: StaticRequest["mesh"];
  };
  return { files, nodeId: proxy.id, metadata: proxy.metadata ?? {}, ...(proxy.mesh ? { mesh: proxy.mesh } : {}) };
}

const allGoldenCases = fs
  .readdirSync(GOLDEN, { withFileTypes: true })
  .filter((e) => e.isDirectory() && fs.existsSync(path.join(GOLDEN, e.name, "proxy.yaml")))
  .map((e) => e.name)
  .sort();
/** Proxyless gRPC clients (GENERATOR=grpc) read xDS from a control plane; there is no Envoy bootstrap to make for them. */
const isGrpc = (name: string): boolean => goldenRequest(name).metadata.GENERATOR === "grpc";
const goldenCases = allGoldenCases.filter((n) => !isGrpc(n));

/** Is every listener's port free on the address it binds, right now? (Checked there, so a check never listens on 0.0.0.0 for a loopback listener.) */
async function portsFree(listeners: { address: string; port: number }[]): Promise<boolean> {
  for (const { address, port } of listeners) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once("error", () => resolve(false));
      s.listen(port, address, () => s.close(() => resolve(true)));
    });
    if (!ok) return false;
  }
  return true;
}

/** A port offset that puts every listener this config binds on a free port. */
async function freeOffset(req: StaticRequest): Promise<number> {
  const probe = buildStatic({ ...req, portOffset: 0 });
  assert.ok(probe.ok, probe.ok ? "" : probe.error);
  const listeners = boundListeners(probe.bootstrap);
  const ports = listeners.map((l) => l.port);
  // Below Linux's ephemeral range (32768+), where a client socket could take the port any moment.
  const top = 32_000 - Math.max(...ports);
  for (let i = 0; i < 50; i++) {
    const offset = 1_000 + Math.floor(Math.random() * (top - 1_000));
    if (await portsFree(listeners.map((l) => ({ address: l.address, port: l.port + offset })))) return offset;
  }
  throw new Error(`no free port offset for ${ports.join(",")}`);
}

// ---------------------------------------------------------------- Envoy's verdict on every config

test("envoy --mode validate accepts the static config of every golden case, plain and with --bind-outbound", { timeout: 300_000 }, async (t) => {
  const bin = requireEnvoy(t);
  if (!bin) return;
  assert.ok(goldenCases.length >= 30, `expected the golden corpus, found ${goldenCases.length} cases`);
  for (const name of allGoldenCases.filter(isGrpc)) {
    const r = buildStatic(goldenRequest(name));
    assert.ok(!r.ok && /proxyless gRPC/.test(r.error), `${name}: a proxyless gRPC node gets a clear refusal`);
  }
  const jobs = goldenCases.flatMap((name) => [
    { name, variant: "plain", req: goldenRequest(name) },
    { name, variant: "bind-outbound", req: { ...goldenRequest(name), bindOutbound: "127.0.0.1", portOffset: 10_000 } },
  ]);
  const results = await inPairs(jobs, async ({ name, variant, req }) => {
    const r = buildStatic(req);
    if (!r.ok) return { name, variant, error: r.error };
    // Certificate paths in the goldens point at /etc/certs; the fixtures hold real PEM files.
    const file = path.join(tmp, `golden-${name}-${variant}.json`);
    fs.writeFileSync(file, serializeBootstrap(r.bootstrap).replaceAll("/etc/certs/", `${CERTS}/`));
    const v = await validateConfig(bin, file);
    noteWarnings(v.output);
    return { name, variant, error: v.code === 0 ? undefined : `envoy exited ${v.code}:\n${v.output}` };
  });
  const failed = results.filter((r) => r.error !== undefined);
  tally.validated += results.length - failed.length;
  assert.deepEqual(failed, [], "Envoy refused these static configs");
});

test("envoy --mode validate accepts every file in envoy-configs/", { timeout: 120_000 }, async (t) => {
  const bin = requireEnvoy(t);
  if (!bin) return;
  const files = fs
    .readdirSync(configDir())
    .filter((f) => f.endsWith(".json"))
    .sort();
  assert.ok(
    files.some((f) => f.startsWith("static-")),
    "envoy-configs/ should hold static configs for the bundled examples",
  );
  const results = await inPairs(files, async (f) => {
    const file = path.join(tmp, `checked-in-${f}`);
    fs.writeFileSync(file, fs.readFileSync(path.join(configDir(), f), "utf8").replaceAll(EXAMPLE_CERT_DIR, testCerts().dir));
    const v = await validateConfig(bin, file);
    noteWarnings(v.output);
    return { f, code: v.code, output: v.output };
  });
  for (const r of results) assert.equal(r.code, 0, `${r.f}:\n${r.output}`);
  tally.validated += results.length;
});

// ---------------------------------------------------------------- the command itself

const CLI = path.join(REPO, "dist/src/cli/main.js");
const cli = (...args: string[]): { status: number | null; stdout: string; stderr: string } => {
  const r = spawnSync(process.execPath, [CLI, "static", ...args], { encoding: "utf8", cwd: REPO });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};

test("mini-pilot static: writes a bootstrap `envoy -c` runs; clear errors for a bad folder, node id or flag", { timeout: 60_000 }, async (t) => {
  const out = path.join(tmp, "cli", "front-tomcat.json");
  const ok = cli("--config-dir", "examples/bill-service", "--proxy", FRONT_TOMCAT_NODE, "--admin-port", String(await freePort()), "--out", out);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stderr, /labels from Pod default\/front-tomcat-6b8d7c5f4-9zq7w/);
  assert.match(ok.stderr, /wrote .*front-tomcat\.json .*: 4 listeners, 8 clusters; run: envoy -c/);
  const written = JSON.parse(fs.readFileSync(out, "utf8")) as Record<string, any>;
  assert.equal(written.admin.address.socket_address.address, "127.0.0.1");
  assert.equal(JSON.stringify(written).includes('"ads"'), false, "nothing points at a control plane");
  assert.equal(JSON.stringify(written).includes('"rds"'), false, "routes are inline");
  assert.equal(JSON.stringify(written).includes('"EDS"'), false, "endpoints are inline");
  assert.deepEqual(checkBootstrap(written), []);
  const stdout = cli("--config-dir", "examples/bill-service", "--proxy", FRONT_TOMCAT_NODE);
  assert.equal(stdout.status, 0, stdout.stderr);
  assert.equal(JSON.parse(stdout.stdout).node.id, FRONT_TOMCAT_NODE, "-o - (the default) prints the bootstrap");

  const errors: [string[], RegExp][] = [
    [["--config-dir", "no/such/dir", "--proxy", FRONT_TOMCAT_NODE], /--config-dir "no\/such\/dir" does not exist/],
    [["--config-dir", "examples/bill-service"], /--proxy NODE_ID is required/],
    [["--config-dir", "examples/bill-service", "--proxy", "front-tomcat"], /node id "front-tomcat" has 1 "~"-separated parts; want 4/],
    [["--config-dir", "examples/bill-service", "--proxy", "gateway~1.2.3.4~a.b~b.svc.cluster.local"], /proxy type "gateway" is not one of sidecar, router/],
    [["--config-dir", "examples/bill-service", "--proxy", FRONT_TOMCAT_NODE, "--port-offset", "x"], /--port-offset wants an integer 0-65535, got "x"/],
    [
      ["--config-dir", "examples/bill-service", "--proxy", FRONT_TOMCAT_NODE, "--bind-outbound", "--port-offset", "60000"],
      /listener 0\.0\.0\.0_\d+: port \d+ \+ offset 60000 is above 65535/,
    ],
    [["--config-dir", "examples/bill-service", "--proxy", FRONT_TOMCAT_NODE, "--bind-address", "0.0.0.0"], /--bind-address only applies with --bind-outbound/],
    [
      ["--config-dir", "examples/bill-service", "--proxy", "sidecar~1.2.3.4~c.default~default.svc.cluster.local", "--labels", "GENERATOR"],
      /--labels wants k=v pairs/,
    ],
  ];
  for (const [args, want] of errors) {
    const r = cli(...args);
    assert.equal(r.status, 2, `${args.join(" ")}: exit 2, got ${r.status}\n${r.stderr}`);
    assert.match(r.stderr, want);
  }

  const bin = requireEnvoy(t);
  if (!bin) return;
  const envoy = startEnvoy(bin, out);
  try {
    await envoy.waitReady();
    const clusters = (await envoy.admin("/clusters")).body;
    assert.match(clusters, /outbound\|9999\|v2\|bill-service\.default\.svc\.cluster\.local::172\.7\.130\.12:8080::/, "the v2 subset cluster holds the v2 pod");
  } finally {
    await envoy.stop();
  }
});

// ---------------------------------------------------------------- the seed scenario, routed by a static config

let backends: BillBackends | undefined;
before(async () => {
  backends = await startBillBackends();
});
after(async () => {
  await backends?.stop();
});

/**
 * How requests reach the routes. No iptables here (docs/ENVOY.md), so either
 * - sidecar: front-tomcat's config with --bind-outbound, requests to the bound
 *   0.0.0.0_9999 listener with `Host: bill-service`; or
 * - gateway: the ingress gateway (router) with the fixtures' Gateway on port
 *   80, requests with `Host: bill-service.default.svc.cluster.local`.
 * Both move their ports with --port-offset.
 */
type Path = "sidecar" | "gateway";
const PATHS: Path[] = ["sidecar", "gateway"];

interface Routed {
  envoy: EnvoyProcess;
  client: HttpClient;
  b: BillBackends;
  /** A counter or gauge by full name (fails when Envoy has no such stat). */
  stat(name: string): Promise<number>;
}

function pathRequest(p: Path, dir: string, adminPort: number): StaticRequest {
  const files = readManifestDir(dir);
  if (p === "sidecar") return { files, nodeId: FRONT_TOMCAT, metadata: {}, adminPort, bindOutbound: "127.0.0.1" };
  return { files, nodeId: INGRESS, metadata: { LABELS: { app: "istio-ingressgateway", istio: "ingressgateway" } }, adminPort };
}

/** Render base + `parts` for `p` with buildStatic (the code of `mini-pilot static`), run Envoy on it, hand `fn` a client. */
async function routed(t: TestContext, p: Path, parts: string[], fn: (r: Routed) => Promise<void>): Promise<void> {
  const bin = requireEnvoy(t);
  if (!bin) return;
  const b = backends!;
  b.reset();
  const all = p === "gateway" ? [...parts, "gateway", ...(parts.length === 0 ? ["gateway-default"] : [])] : parts;
  const name = `${p}-${parts.join("+") || "no-rules"}`;
  const dir = writeBillService(path.join(tmp, name), all, { ...b.vars, GATEWAY_PORT: 80, GATEWAY_BIND: "127.0.0.1" });
  const req = pathRequest(p, dir, await freePort());
  let envoy: EnvoyProcess | undefined;
  let port = 0;
  // A port can be taken between the check and Envoy's bind (other tests run too): try another offset.
  for (let attempt = 1; ; attempt++) {
    const portOffset = await freeOffset(req);
    const r = buildStatic({ ...req, portOffset });
    assert.ok(r.ok, r.ok ? "" : r.error);
    assert.deepEqual(r.diagnostics.map(formatDiagnostic), [], "the fixtures should translate without diagnostics");
    if (p === "sidecar") assert.deepEqual(r.proxy.labels, { app: "front-tomcat", version: "v1" }, "labels come from front-tomcat's Pod");
    const file = path.join(tmp, `${name}.json`);
    fs.writeFileSync(file, serializeBootstrap(r.bootstrap));
    envoy = startEnvoy(bin, file);
    port = (p === "sidecar" ? 9999 : 80) + portOffset;
    try {
      await envoy.waitReady();
      break;
    } catch (e) {
      await envoy.stop();
      if (attempt >= 3 || !/cannot bind/.test(envoy.logTail(60))) throw e;
    }
  }
  const client = new HttpClient(port, p === "sidecar" ? "bill-service" : "bill-service.default.svc.cluster.local");
  try {
    const listeners = (await envoy.admin("/listeners")).body;
    const bound = p === "sidecar" ? "0\\.0\\.0\\.0_9999::127\\.0\\.0\\.1" : "127\\.0\\.0\\.1_80::127\\.0\\.0\\.1";
    assert.match(listeners, new RegExp(`${bound}:${port}\\b`), listeners);
    await fn({
      envoy,
      client,
      b,
      stat: async (stat) => {
        const v = (await envoy!.stats()).get(stat);
        assert.equal(typeof v, "number", `no stat ${stat}`);
        return v as number;
      },
    });
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- envoy log ---\n${envoy.logTail(40)}`, { cause: e });
  } finally {
    client.close();
    await envoy.stop();
    noteWarnings(fs.existsSync(envoy.logPath) ? fs.readFileSync(envoy.logPath, "utf8") : "");
  }
}

const V1 = "outbound|9999|v1|bill-service.default.svc.cluster.local";

for (const p of PATHS) {
  test(`${p}: without rules, bill-service traffic spreads across v1 and v2`, { timeout: 60_000 }, (t) =>
    routed(t, p, [], async ({ client, b }) => {
      const replies = await client.many(400);
      tally.requests += replies.length;
      const c = countBy(replies);
      assert.equal((c["bill-service-v1"] ?? 0) + (c["bill-service-v2"] ?? 0), 400, JSON.stringify(c));
      assert.ok(c["bill-service-v1"]! > 120 && c["bill-service-v2"]! > 120, `both versions should get a fair share: ${JSON.stringify(c)}`);
      assert.equal(b.v1.hits + b.v2.hits, 400, "one backend hit per request");
    }),
  );

  test(`${p}: DestinationRule + 90/10 VirtualService: 1,000 requests split 90/10; end-user: jason goes to v2 only`, { timeout: 90_000 }, (t) =>
    routed(t, p, ["rules", "canary"], async ({ client }) => {
      const replies = await client.many(1000);
      tally.requests += replies.length;
      const c = countBy(replies);
      const v2 = c["bill-service-v2"] ?? 0;
      assert.equal((c["bill-service-v1"] ?? 0) + v2, 1000, JSON.stringify(c));
      assert.ok(withinBinomial(v2, 1000, 0.1), `v2 got ${v2}/1000; 10% ± 4.5 sd is 100 ± 43: ${JSON.stringify(c)}`);

      const jason = await client.many(200, "/", { "end-user": "jason" });
      tally.requests += jason.length;
      assert.deepEqual(countBy(jason), { "bill-service-v2": 200 });
      const notJason = await client.many(200, "/", { "end-user": "jasonx" });
      tally.requests += notJason.length;
      assert.ok((countBy(notJason)["bill-service-v1"] ?? 0) > 140, `exact match only: ${JSON.stringify(countBy(notJason))}`);
    }),
  );

  test(`${p}: URI prefix routing: /v2/ goes to v2, everything else to v1`, { timeout: 60_000 }, (t) =>
    routed(t, p, ["rules", "uri-prefix"], async ({ client }) => {
      const cases: [string, string][] = [
        ["/v2/bills", "bill-service-v2"],
        ["/v2/", "bill-service-v2"],
        ["/v2", "bill-service-v1"],
        ["/v2x/bills", "bill-service-v1"],
        ["/bills/v2/", "bill-service-v1"],
        ["/", "bill-service-v1"],
      ];
      for (const [path, want] of cases) {
        const replies = await client.many(20, path);
        tally.requests += replies.length;
        assert.deepEqual(countBy(replies), { [want]: 20 }, path);
      }
    }),
  );

  test(`${p}: fault injection: abort 503 at 50% fails about half the requests, without reaching the backend`, { timeout: 60_000 }, (t) =>
    routed(t, p, ["rules", "fault-abort"], async ({ client, b }) => {
      const replies = await client.many(600);
      tally.requests += replies.length;
      const c = countBy(replies);
      const aborted = c["status 503"] ?? 0;
      assert.equal(aborted + (c["bill-service-v1"] ?? 0), 600, JSON.stringify(c));
      assert.ok(withinBinomial(aborted, 600, 0.5), `503s: ${aborted}/600, want 300 ± 55`);
      assert.equal(b.v1.hits, 600 - aborted, "aborted requests never reach the backend");
      assert.ok(
        replies.filter((r) => r.status === 503).every((r) => r.body === "fault filter abort"),
        "the 503s come from the fault filter",
      );
    }),
  );

  test(`${p}: fault injection: a fixed 400ms delay shows in the measured latency`, { timeout: 60_000 }, (t) =>
    routed(t, p, ["rules", "fault-delay"], async ({ client, b }) => {
      const replies = await client.many(20, "/", {}, 10);
      tally.requests += replies.length;
      assert.deepEqual(countBy(replies), { "bill-service-v1": 20 });
      const fastest = Math.min(...replies.map((r) => r.ms));
      // 5ms of slack for timer and clock resolution.
      assert.ok(fastest >= 395, `every request is delayed by 400ms; the fastest took ${fastest.toFixed(1)}ms`);
      assert.equal(b.v1.hits, 20);
    }),
  );

  test(`${p}: retries: 5xx retried up to 3 times against a flaky backend`, { timeout: 60_000 }, (t) =>
    routed(t, p, ["rules", "retries"], async ({ client, b, stat }) => {
      b.v1.reset({ failFirst: 2 });
      const ok = await client.get("/");
      assert.equal(ok.status, 200, ok.body);
      assert.equal(ok.backend, "bill-service-v1");
      assert.equal(b.v1.hits, 3, "two failed attempts, then the one that answered");
      assert.equal(await stat(`cluster.${V1}.upstream_rq_retry`), 2);

      b.v1.reset({ failFirst: 10 });
      const failed = await client.get("/");
      assert.equal(failed.status, 503, "after 1 + 3 attempts the last 503 reaches the client");
      assert.equal(b.v1.hits, 4, "attempts: 3 → one try and three retries");

      b.v1.reset({ failFirst: 0 });
      const plain = await client.many(50);
      assert.deepEqual(countBy(plain), { "bill-service-v1": 50 });
      assert.equal(b.v1.hits, 50, "a healthy backend is asked once per request");
      tally.requests += 2 + plain.length;
    }),
  );

  test(`${p}: per-route timeout: a slow backend gets a 504 after about 500ms`, { timeout: 60_000 }, (t) =>
    routed(t, p, ["rules", "timeout"], async ({ client, b, stat }) => {
      b.v1.reset({ delayMs: 3000 });
      const replies = await Promise.all([client.get("/"), client.get("/"), client.get("/")]);
      tally.requests += replies.length;
      for (const r of replies) {
        assert.equal(
          r.status,
          504,
          `timeout: 500ms should end the request with 504, got ${r.status} after ${r.ms.toFixed(0)}ms. ` +
            "Envoy ignores route.timeout when the route also sets max_stream_duration (router.cc finalTimeout: " +
            "usingNewTimeouts), so Istio sets max_grpc_timeout for Envoy proxies instead (route.go setTimeout).",
        );
        assert.equal(r.body, "upstream request timeout");
        assert.ok(r.ms >= 480 && r.ms < 1500, `timed out after ${r.ms.toFixed(0)}ms, want ~500ms`);
      }
      assert.equal(b.v1.hits, 3, "attempts: 0 → no retry after the timeout");
      assert.equal(await stat(`cluster.${V1}.upstream_rq_timeout`), 3);

      b.v1.reset({ delayMs: 100 });
      const fast = await client.get("/");
      tally.requests += 1;
      assert.equal(fast.status, 200, "a backend within the timeout answers normally");
    }),
  );
}
