/**
 * `proxy-status`, `proxy-config` and CSDS against real Envoys connected to
 * `mini-pilot serve --config-dir examples/bill-service`, run as a user runs
 * them (the CLI as a child process; CSDS with grpc-js over the loaded protos
 * and with python3-grpcio):
 *
 * - the status table shows both proxies SYNCED, with type, version, server;
 * - `proxy-status web-1.default --envoy-admin` of its own Envoy: everything
 *   matches, exit 0;
 * - the same against the Envoy of a proxy in another namespace (whose routes
 *   differ): "Routes Don't Match" with a diff, exit 1;
 * - unknown proxy, a debug port that does not answer, an admin URL that is not
 *   Envoy: one line on stderr, exit 2;
 * - proxy-config tables and -o json;
 * - CSDS: both nodes, every resource SYNCED/ACKED with its content.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { EnvoyProcess, freePort, requireEnvoy, startEnvoy } from "../support/envoy";
import { CLI, ServeProcess, getJson, startServe } from "../support/serve-process";
import { protoIncludeDirs } from "../../src/xds/protos";

const EXAMPLES = path.join(__dirname, "..", "..", "..", "examples", "bill-service");
const PYTHON = process.env.MINI_PILOT_PYTHON ?? "/usr/bin/python3";
const PY_CSDS = path.join(__dirname, "..", "..", "..", "test", "e2e", "python", "csds_client.py");
const WEB1 = "sidecar~10.0.0.9~web-1.default~default.svc.cluster.local";
const WEB2 = "sidecar~10.0.0.10~web-2.other~other.svc.cluster.local";

let serve: ServeProcess | undefined;
const envoys = new Map<string, EnvoyProcess>();
let tmp = "";
let skip: string | undefined;

function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function bootstrap(id: string, xdsPort: number): Promise<string> {
  const [type, ip, pod, domain] = id.split("~") as [string, string, string, string];
  const [name, ns] = pod.split(".") as [string, string];
  const file = path.join(tmp, `${name}.json`);
  const env = { ...process.env, POD_NAME: name, POD_NAMESPACE: ns, INSTANCE_IP: ip, ISTIO_META_ISTIO_VERSION: "1.24.0" };
  const args = [CLI, "bootstrap", "--type", type, "--domain", domain, "--xds-address", `127.0.0.1:${xdsPort}`, "--bind-address", "127.0.0.1"];
  args.push("--admin-port", String(await freePort()), "--stats-port", String(await freePort()), "--readiness-port", "0", "--out", file);
  const r = spawnSync(process.execPath, args, { env, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return file;
}

async function waitSynced(count: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const s = (await getJson(serve!.httpPort, "/debug/syncz")) as { proxy: string; types: Record<string, { status: string }> }[];
    const synced = s.filter((e) => Object.keys(e.types).length === 4 && Object.values(e.types).every((t) => t.status === "SYNCED"));
    if (synced.length >= count) return;
    if (Date.now() > deadline) throw new Error(`not SYNCED: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

before(async () => {
  const bin = findEnvoyOrSkip();
  if (!bin) return;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mini-pilot-pstatus-"));
  serve = await startServe(["--config-dir", EXAMPLES]);
  for (const id of [WEB1, WEB2]) {
    const e = startEnvoy(bin, await bootstrap(id, serve.xdsPort), { logDir: tmp });
    envoys.set(id, e);
    await e.waitAdmin();
  }
  await waitSynced(2);
});

after(async () => {
  for (const e of envoys.values()) await e.stop();
  await serve?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

function findEnvoyOrSkip(): string | undefined {
  const fake = { skip: (why: string) => (skip = why) } as unknown as Parameters<typeof requireEnvoy>[0];
  return requireEnvoy(fake);
}

const server = () => `http://127.0.0.1:${serve!.httpPort}`;
const admin = (id: string) => `http://127.0.0.1:${envoys.get(id)!.adminPort}`;

test("proxy-status: both proxies, every type SYNCED", (t) => {
  if (skip) return t.skip(skip);
  const r = cli(["proxy-status", "--server", server()]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.match(lines[0]!, /^NAME\s+TYPE\s+CLUSTER\s+CDS\s+LDS\s+EDS\s+RDS\s+SERVER\s+VERSION$/);
  assert.equal(lines.length, 3, r.stdout);
  assert.match(lines[1]!, /^web-1\.default\s+sidecar\s+\S+\s+SYNCED\s+SYNCED\s+SYNCED\s+SYNCED\s+\S+\s+1\.24\.0$/);
  assert.match(lines[2]!, /^web-2\.other\s+sidecar\s+\S+\s+SYNCED\s+SYNCED\s+SYNCED\s+SYNCED\s+\S+\s+1\.24\.0$/);
});

test("proxy-status PROXY --envoy-admin: in sync with its own Envoy (exit 0)", (t) => {
  if (skip) return t.skip(skip);
  for (const arg of ["web-1.default", WEB1]) {
    const r = cli(["proxy-status", arg, "--server", server(), "--envoy-admin", admin(WEB1)]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^Clusters Match\nListeners Match\nRoutes Match \(RDS last loaded at \S+\)\nEndpoints Match\n$/);
  }
});

test("proxy-status PROXY --envoy-admin: an Envoy holding other config is a diff (exit 1)", (t) => {
  if (skip) return t.skip(skip);
  const r = cli(["proxy-status", "web-1.default", "--server", server(), "--envoy-admin", admin(WEB2)]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /^Clusters Match$/m);
  assert.match(r.stdout, /^Routes Don't Match/m);
  // web-2 lives in "other": its Envoy has no short "bill-service" domain, which web-1 in "default" gets.
  assert.match(r.stdout, /^ {2}--- mini-pilot 9999\n {2}\+\+\+ envoy 9999$/m);
  assert.match(r.stdout, /^ {2}- +"bill-service",$/m);
});

test("bad input: one line on stderr, exit 2", async (t) => {
  if (skip) return t.skip(skip);
  const closed = await freePort();
  const cases: [string[], RegExp][] = [
    [["proxy-status", "nobody.nowhere", "--server", server()], /^mini-pilot proxy-status: no connected proxy "nobody\.nowhere" .*\n$/],
    [
      ["proxy-status", "--server", `http://127.0.0.1:${closed}`],
      /^mini-pilot proxy-status: --server http:\/\/127\.0\.0\.1:\d+: cannot reach the mini-pilot debug port: ECONNREFUSED\n$/,
    ],
    [["proxy-config", "clusters", "web-1.default", "--server", `127.0.0.1:${closed}`], /^mini-pilot proxy-config: --server .*ECONNREFUSED\n$/],
    [
      ["proxy-status", "web-1.default", "--server", server(), "--envoy-admin", server()],
      /^mini-pilot proxy-status: --envoy-admin http:\/\/127\.0\.0\.1:\d+: not an Envoy admin .*\n$/,
    ],
    [
      ["proxy-status", "web-1.default", "--server", server(), "--envoy-admin", `127.0.0.1:${closed}`],
      /^mini-pilot proxy-status: --envoy-admin .*ECONNREFUSED\n$/,
    ],
    [["proxy-config", "clusterz", "web-1.default", "--server", server()], /^mini-pilot proxy-config: unknown config type "clusterz".*\n$/],
    [["proxy-config", "routes", "nobody.nowhere", "--server", server()], /^mini-pilot proxy-config: no connected proxy "nobody\.nowhere".*\n$/],
  ];
  for (const [args, want] of cases) {
    const r = cli(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, want, args.join(" "));
    assert.equal(r.stdout, "");
  }
});

test("proxy-config: istioctl's tables and -o json", (t) => {
  if (skip) return t.skip(skip);
  const clusters = cli(["proxy-config", "clusters", "web-1.default", "--server", server()]);
  assert.equal(clusters.code, 0, clusters.stderr);
  assert.match(clusters.stdout, /^SERVICE FQDN\s+PORT\s+SUBSET\s+DIRECTION\s+TYPE\s+DESTINATION RULE$/m);
  assert.match(clusters.stdout, /^bill-service\.default\.svc\.cluster\.local\s+9999\s+v2\s+OUTBOUND\s+EDS\s+bill-service-dr\.default$/m);
  const routes = cli(["proxy-config", "routes", "web-1.default", "--server", server()]);
  assert.match(routes.stdout, /^9999\s+bill-service\.default\.svc\.cluster\.local:9999\s+.*\/\* end-user=jason\s+bill-service-route\.default$/m);
  const listeners = cli(["proxy-config", "listeners", WEB1, "--server", server()]);
  // The HTTP port as istiod writes it: plaintext HTTP (seen by the HTTP inspector) is routed, anything else passes through.
  assert.match(listeners.stdout, /^0\.0\.0\.0\s+9999\s+Trans: raw_buffer; App: http\/1\.1,h2c\s+Route: 9999$/m);
  assert.match(listeners.stdout, /^0\.0\.0\.0\s+9999\s+ALL\s+Cluster: PassthroughCluster$/m);
  const endpoints = cli(["proxy-config", "endpoints", "web-1.default", "--server", server()]);
  assert.match(endpoints.stdout, /^172\.7\.130\.12:8080\s+HEALTHY\s+OK\s+outbound\|9999\|v2\|bill-service\.default\.svc\.cluster\.local$/m);
  const secrets = cli(["proxy-config", "secrets", "web-1.default", "--server", server()]);
  assert.match(secrets.stdout, /^RESOURCE NAME\s+TYPE\s+STATUS\s+VALID CERT\s+SERIAL NUMBER\s+NOT AFTER\s+NOT BEFORE$/m);
  const full = cli(["proxy-config", "clusters", "web-1.default", "--server", server(), "-o", "json"]);
  const section = JSON.parse(full.stdout) as { "@type": string; dynamic_active_clusters: { cluster: { name: string } }[] };
  assert.equal(section["@type"], "type.googleapis.com/envoy.admin.v3.ClustersConfigDump");
  assert.ok(section.dynamic_active_clusters.some((c) => c.cluster.name === "outbound|9999|v2|bill-service.default.svc.cluster.local"));
});

interface CsdsConfig {
  node: { id: string };
  generic_xds_configs: {
    type_url: string;
    name: string;
    config_status: string;
    client_status: string;
    version_info: string;
    xds_config?: { type_url: string };
  }[];
}

function csdsClient(): grpc.Client & Record<string, (...a: unknown[]) => unknown> {
  const def = protoLoader.loadSync("envoy/service/status/v3/csds.proto", { includeDirs: protoIncludeDirs(), keepCase: true, enums: String, defaults: false });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    envoy: { service: { status: { v3: { ClientStatusDiscoveryService: new (addr: string, creds: grpc.ChannelCredentials) => grpc.Client } } } };
  };
  return new pkg.envoy.service.status.v3.ClientStatusDiscoveryService(`127.0.0.1:${serve!.xdsPort}`, grpc.credentials.createInsecure()) as never;
}

test("CSDS (grpc-js): FetchClientStatus and StreamClientStatus name both nodes, every resource SYNCED and ACKED", async (t) => {
  if (skip) return t.skip(skip);
  const client = csdsClient();
  t.after(() => client.close());
  const all = await new Promise<{ config: CsdsConfig[] }>((resolve, reject) =>
    client.FetchClientStatus!({}, (err: Error | null, res: { config: CsdsConfig[] }) => (err ? reject(err) : resolve(res))),
  );
  // Sorted by node id ("10.0.0.10" before "10.0.0.9").
  assert.deepEqual(
    all.config.map((c) => c.node.id),
    [WEB2, WEB1],
  );
  const web1 = all.config[1]!;
  const types = new Set(web1.generic_xds_configs.map((g) => g.type_url.split(".").pop()));
  assert.deepEqual([...types].sort(), ["Cluster", "ClusterLoadAssignment", "Listener", "RouteConfiguration"]);
  for (const g of web1.generic_xds_configs) {
    assert.equal(g.config_status, "SYNCED", `${g.name}`);
    assert.equal(g.client_status, "ACKED", `${g.name}`);
    assert.equal(g.xds_config?.type_url, g.type_url);
    assert.ok(g.version_info);
  }
  assert.ok(web1.generic_xds_configs.some((g) => g.name === "outbound|9999|v2|bill-service.default.svc.cluster.local"));

  // A node matcher and exclude_resource_contents, over the streaming method.
  const call = client.StreamClientStatus!() as grpc.ClientDuplexStream<unknown, { config: CsdsConfig[] }>;
  const got = new Promise<{ config: CsdsConfig[] }>((resolve, reject) => {
    call.once("data", resolve);
    call.once("error", reject);
  });
  call.write({ node_matchers: [{ node_id: { prefix: "sidecar~10.0.0.10~" } }], exclude_resource_contents: true });
  const one = await got;
  call.end();
  assert.deepEqual(
    one.config.map((c) => c.node.id),
    [WEB2],
  );
  assert.ok(one.config[0]!.generic_xds_configs.length > 0);
  assert.ok(one.config[0]!.generic_xds_configs.every((g) => g.xds_config === undefined || g.xds_config === null));
});

test("CSDS (python3-grpcio, C-core): FetchClientStatus lists both nodes SYNCED", async (t) => {
  if (skip) return t.skip(skip);
  try {
    execFileSync(PYTHON, ["-c", "import grpc"], { stdio: "ignore" });
  } catch {
    if (process.env.CI) assert.fail(`${PYTHON} cannot import grpc`);
    return t.skip(`SKIPPED LOUDLY: ${PYTHON} cannot import grpc (apt-get install python3-grpcio)`);
  }
  const out = await new Promise<string>((resolve, reject) =>
    execFile(PYTHON, [PY_CSDS, `127.0.0.1:${serve!.xdsPort}`], { timeout: 30_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
  const nodes = JSON.parse(out) as Record<string, Record<string, number>>;
  assert.deepEqual(Object.keys(nodes).sort(), [WEB1, WEB2].sort());
  // ConfigStatus SYNCED is 1 on the wire; every resource of both nodes has it.
  for (const [id, statuses] of Object.entries(nodes)) assert.deepEqual(Object.keys(statuses), ["1"], `${id}: ${JSON.stringify(statuses)}`);
});
