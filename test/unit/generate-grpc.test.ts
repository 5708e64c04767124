/**
 * Proxyless gRPC output, checked by the gRPC library itself: every resource
 * of every gRPC golden case is encoded and handed to @grpc/grpc-js-xds's own
 * resource decoders (the code a client runs on each xDS response), which must
 * accept it. Counter-examples show those decoders do refuse what the
 * generator leaves out, so the check can fail.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { objectsFromManifests, ManifestFile } from "../../src/cli/translate";
import { buildMesh, Mesh } from "../../src/model/mesh";
import { parseProxy, ProxyView } from "../../src/model/proxy";
import { generate, generateEndpoints } from "../../src/generate";
import { encodeResource } from "../../src/xds/resource";
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, XdsTypeUrl } from "../../src/xds/types";
import { ClusterResourceType } from "@grpc/grpc-js-xds/build/src/xds-resource-type/cluster-resource-type";
import { EndpointResourceType } from "@grpc/grpc-js-xds/build/src/xds-resource-type/endpoint-resource-type";
import { ListenerResourceType } from "@grpc/grpc-js-xds/build/src/xds-resource-type/listener-resource-type";
import { RouteConfigurationResourceType } from "@grpc/grpc-js-xds/build/src/xds-resource-type/route-config-resource-type";
import { register } from "@grpc/grpc-js-xds";

// What every xDS client does first: it fills the HTTP filter and LB policy registries the decoders consult.
register();

const REPO = path.resolve(__dirname, "../../..");
const GOLDEN = path.join(REPO, "test/golden");

type Json = Record<string, unknown>;
interface Decoder {
  decode(context: unknown, resource: { type_url: string; value: Buffer }): { name: string; value?: unknown; error?: string };
}
const DECODERS: [XdsTypeUrl, keyof ReturnType<typeof generate>, Decoder][] = [
  [LISTENER, "listeners", ListenerResourceType.get() as unknown as Decoder],
  [ROUTE, "routes", RouteConfigurationResourceType.get() as unknown as Decoder],
  [CLUSTER, "clusters", ClusterResourceType.get() as unknown as Decoder],
  [ENDPOINT, "endpoints", EndpointResourceType.get() as unknown as Decoder],
];
/** What the decoders read from the client's context: no certificate providers, some server. */
const CONTEXT = { server: {}, bootstrap: { certificateProviders: {} } };

/** grpc-js-xds's verdict on one resource: undefined when accepted, else its error. */
function grpcVerdict(url: XdsTypeUrl, json: object): string | undefined {
  const decoder = DECODERS.find((d) => d[0] === url)![2];
  const r = decoder.decode(CONTEXT, { type_url: url, value: Buffer.from(encodeResource(url, json).bytes) });
  return r.error;
}

function caseFiles(dir: string): ManifestFile[] {
  const files: ManifestFile[] = [];
  const walk = (p: string): void => {
    if (fs.statSync(p).isDirectory()) for (const n of fs.readdirSync(p).sort()) walk(path.join(p, n));
    else if (/\.ya?ml$/.test(p)) files.push({ file: path.relative(REPO, p), text: fs.readFileSync(p, "utf8") });
  };
  const include = path.join(dir, "include.txt");
  if (fs.existsSync(include)) {
    for (const line of fs
      .readFileSync(include, "utf8")
      .split("\n")
      .map((l) => l.trim()))
      if (line && !line.startsWith("#")) walk(path.join(REPO, line));
  }
  if (fs.existsSync(path.join(dir, "input.yaml"))) walk(path.join(dir, "input.yaml"));
  return files;
}

function loadCase(name: string): { mesh: Mesh; proxy: ProxyView } {
  const dir = path.join(GOLDEN, name);
  const spec = parse(fs.readFileSync(path.join(dir, "proxy.yaml"), "utf8")) as { id: string; metadata: Json };
  const p = parseProxy(spec.id, spec.metadata);
  assert.ok(p.ok);
  return { mesh: buildMesh(objectsFromManifests(caseFiles(dir)).objects).mesh, proxy: p.proxy };
}

const grpcCases = fs
  .readdirSync(GOLDEN)
  .filter((n) => fs.existsSync(path.join(GOLDEN, n, "proxy.yaml")))
  .filter((n) => (parse(fs.readFileSync(path.join(GOLDEN, n, "proxy.yaml"), "utf8")) as { metadata?: Json }).metadata?.GENERATOR === "grpc")
  .sort();

test("there are proxyless gRPC golden cases", () => assert.ok(grpcCases.length >= 3, grpcCases.join(", ")));

for (const name of grpcCases) {
  test(`grpc-js-xds accepts every resource of golden case ${name}`, () => {
    const { mesh, proxy } = loadCase(name);
    const out = generate(mesh, proxy);
    assert.ok(out.listeners.length > 0 && out.routes.length > 0 && out.clusters.length > 0);
    for (const [url, key] of DECODERS) {
      for (const r of out[key] as object[]) {
        const name = String((r as Json).name ?? (r as Json).cluster_name);
        assert.equal(grpcVerdict(url, r), undefined, `${key} ${name}`);
      }
    }
  });
}

test("the gRPC decoders refuse what the generator leaves out (the check above can fail)", () => {
  const { mesh, proxy } = loadCase("grpc-bill-service");
  const out = generate(mesh, proxy);
  const rc = structuredClone(out.routes[0]) as { virtual_hosts: { routes: Json[] }[] };
  rc.virtual_hosts[0]!.routes.unshift({ match: { prefix: "/old" }, redirect: { path_redirect: "/new" } });
  assert.match(grpcVerdict(ROUTE, rc) ?? "", /unsupported action/);

  const cla = structuredClone(out.endpoints.find((e) => (e as Json).endpoints)) as { endpoints: Json[] };
  delete cla.endpoints[0]!.locality;
  assert.match(grpcVerdict(ENDPOINT, cla) ?? "", /locality unset/);

  const cluster = { ...(out.clusters[0] as Json), lb_policy: "LEAST_REQUEST" };
  assert.match(grpcVerdict(CLUSTER, cluster) ?? "", /lb_policy/);
});

test("listeners: FQDN and the short names a client in the same namespace may dial, all to one RDS", () => {
  const { mesh, proxy } = loadCase("grpc-bill-service");
  const listeners = generate(mesh, proxy).listeners as Json[];
  const bill = listeners.filter((l) => String(l.name).startsWith("bill-service"));
  assert.deepEqual(
    bill.map((l) => l.name),
    ["bill-service.default.svc.cluster.local:9999", "bill-service.default.svc:9999", "bill-service.default:9999", "bill-service:9999"],
  );
  const rds = bill.map((l) => (((l.api_listener as Json).api_listener as Json).rds as Json).route_config_name);
  assert.deepEqual(new Set(rds), new Set(["outbound|9999||bill-service.default.svc.cluster.local"]));
  assert.ok(bill.every((l) => !("listener_filters" in l) && !("use_original_dst" in l)));
});

test("listeners: services of other namespaces only by FQDN; TCP ports and wildcard hosts get none", () => {
  const { mesh, proxy } = loadCase("grpc-serviceentry");
  const names = (generate(mesh, proxy).listeners as Json[]).map((l) => l.name);
  assert.ok(names.includes("inventory.shop.svc.cluster.local:7070"));
  assert.ok(!names.some((n) => String(n).startsWith("inventory:") || String(n).startsWith("inventory.shop:")));
  assert.ok(!names.some((n) => String(n).endsWith(":9102") || String(n).includes("*")));
});

test("header matches use the oneof fields old gRPC C-core knows, not string_match", () => {
  const { mesh, proxy } = loadCase("grpc-bill-service");
  const text = JSON.stringify(generate(mesh, proxy).routes);
  assert.ok(text.includes('"exact_match":"jason"'));
  assert.ok(!text.includes("string_match"));
});

test("generateEndpoints for a gRPC client matches generate, optionally only for named clusters", () => {
  const { mesh, proxy } = loadCase("grpc-bill-service");
  const all = generate(mesh, proxy).endpoints;
  assert.deepEqual(generateEndpoints(mesh, proxy), all);
  const v2 = "outbound|9999|v2|bill-service.default.svc.cluster.local";
  assert.deepEqual(
    generateEndpoints(mesh, proxy, [v2, "outbound|1||nope"]).map((e) => (e as Json).cluster_name),
    [v2],
  );
});
