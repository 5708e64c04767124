/**
 * `mini-pilot serve --config-dir`: YAML edits reach a connected xDS client as
 * Istio would translate them; endpoint edits push EDS only; a broken file
 * changes nothing and is reported with file:line.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CLUSTER, ENDPOINT, LISTENER, ROUTE } from "../../src/xds/types";
import { TestSotwStream, SotwResponse, connect } from "../support/ads-client";
import { startServe, getJson } from "../support/serve-process";
import { readConfigDump } from "../support/config-dump";

const EXAMPLES = path.join(__dirname, "..", "..", "..", "examples", "bill-service");
const BILL = "outbound|9999||bill-service.default.svc.cluster.local";
const NODE = "sidecar~172.7.120.13~front-tomcat-6b8d7c5f4-9zq7w.default~default.svc.cluster.local";
const META = { NAMESPACE: "default", LABELS: { app: "front-tomcat" } };

type Route = {
  virtual_hosts: {
    name: string;
    routes: { match: object; route?: { cluster?: string; weighted_clusters?: { clusters: { name: string; weight: number }[] } } }[];
  }[];
};

function billRoutes(r: SotwResponse) {
  const rc = r.resources[0] as unknown as Route;
  return rc.virtual_hosts.find((v) => v.name === "bill-service.default.svc.cluster.local:9999")!.routes;
}

test("serve --config-dir: edits become pushes, endpoint edits push EDS only, broken files change nothing", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mp-serve-"));
  for (const f of ["services.yaml", "endpointslices.yaml", "workloads.yaml"]) fs.copyFileSync(path.join(EXAMPLES, f), path.join(dir, f));
  const serve = await startServe(["--config-dir", dir, "--debounce-after", "20ms"]);
  t.after(() => serve.stop());
  const s = new TestSotwStream(connect(serve.xdsPort), NODE, META);
  t.after(() => s.close());

  s.send({ typeUrl: CLUSTER });
  const c1 = await s.next();
  assert.ok(c1.names.includes(BILL), `clusters: ${c1.names.join(", ")}`);
  s.ack(c1);
  s.send({ typeUrl: ENDPOINT, names: [BILL] });
  const e1 = await s.next();
  s.ack(e1, [BILL]);
  s.send({ typeUrl: LISTENER });
  const l1 = await s.next();
  assert.ok(l1.names.includes("0.0.0.0_9999"));
  s.ack(l1);
  s.send({ typeUrl: ROUTE, names: ["9999"] });
  const r1 = await s.next();
  s.ack(r1, ["9999"]);
  assert.equal(billRoutes(r1)[0]!.route!.cluster, BILL, "no rules: one cluster with both pods");
  const lbEndpoints = (e: SotwResponse) =>
    (e.resources[0] as { endpoints: { lb_endpoints: unknown[] }[] }).endpoints.reduce((n, l) => n + l.lb_endpoints.length, 0);
  assert.equal(lbEndpoints(e1), 2);

  // Apply the DestinationRule and the 90/10 VirtualService.
  fs.copyFileSync(path.join(EXAMPLES, "destination-rule.yaml"), path.join(dir, "destination-rule.yaml"));
  fs.copyFileSync(path.join(EXAMPLES, "virtual-service.yaml"), path.join(dir, "virtual-service.yaml"));
  const got: SotwResponse[] = [];
  while (!got.some((r) => r.typeUrl === ROUTE)) {
    const r = await s.next(5000);
    got.push(r);
    s.ack(r, r.typeUrl === ROUTE ? ["9999"] : r.typeUrl === ENDPOINT ? [BILL] : []);
  }
  const cds = got.find((r) => r.typeUrl === CLUSTER)!;
  assert.ok(cds.names.includes("outbound|9999|v1|bill-service.default.svc.cluster.local"));
  assert.ok(cds.names.includes("outbound|9999|v2|bill-service.default.svc.cluster.local"));
  const routes = billRoutes(got.find((r) => r.typeUrl === ROUTE)!);
  const weighted = routes.find((r) => r.route?.weighted_clusters)!.route!.weighted_clusters!.clusters;
  assert.deepEqual(
    weighted.map((c) => [c.name, c.weight]),
    [
      ["outbound|9999|v1|bill-service.default.svc.cluster.local", 90],
      ["outbound|9999|v2|bill-service.default.svc.cluster.local", 10],
    ],
  );
  await s.inbox.drain(300).then((rest) => rest.forEach((r) => s.ack(r, r.typeUrl === ROUTE ? ["9999"] : r.typeUrl === ENDPOINT ? [BILL] : [])));

  // Endpoint-only change: drop the v2 pod's address. Only EDS moves.
  const slices = fs.readFileSync(path.join(dir, "endpointslices.yaml"), "utf8");
  const withoutV2 = slices.replace(/ {2}- addresses: \["172\.7\.130\.12"\][\s\S]*?namespace: default}\n/, "");
  assert.notEqual(withoutV2, slices);
  fs.writeFileSync(path.join(dir, "endpointslices.yaml"), withoutV2);
  const e2 = await s.next(5000);
  assert.equal(e2.typeUrl, ENDPOINT);
  assert.equal(lbEndpoints(e2), 1);
  s.ack(e2, [BILL]);
  assert.deepEqual(await s.inbox.drain(400), [], "no CDS/LDS/RDS for an endpoint change");

  // A broken file: nothing is pushed, the error names file:line.
  fs.writeFileSync(path.join(dir, "virtual-service.yaml"), "kind: VirtualService\nmetadata: {name: [broken\n");
  assert.deepEqual(await s.inbox.drain(500), [], "a broken file changes nothing");
  const configz = (await getJson(serve.httpPort, "/debug/configz")) as { diagnostics: string[] };
  assert.ok(
    configz.diagnostics.some((d) => d.startsWith(`${path.join(dir, "virtual-service.yaml")}:`)),
    configz.diagnostics.join("\n"),
  );

  // Deleting the VirtualService file returns the default route.
  fs.rmSync(path.join(dir, "virtual-service.yaml"));
  let rds: SotwResponse | undefined;
  while (!rds) {
    const r = await s.next(5000);
    s.ack(r, r.typeUrl === ROUTE ? ["9999"] : r.typeUrl === ENDPOINT ? [BILL] : []);
    if (r.typeUrl === ROUTE) rds = r;
  }
  assert.equal(billRoutes(rds)[0]!.route!.cluster, BILL);

  // The debug port shows this proxy synced and its config.
  const dump = await getJson(serve.httpPort, `/debug/config_dump?proxy=${encodeURIComponent(NODE)}`);
  assert.ok(readConfigDump(dump).types.clusters!.has(BILL));
});
