/**
 * `mini-pilot canary --config-dir` on a folder that a running
 * `mini-pilot serve --config-dir` reads: after every step `validate` accepts
 * the folder and serve pushes the new split (read back from what the
 * connected proxy is served); comments and unrelated documents survive;
 * start → abort leaves the objects as they were, and created files go away.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readConfigDump } from "../support/config-dump";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import * as YAML from "yaml";
import { CLI, getJson, startServe } from "../support/serve-process";
import { TestSotwStream, connect } from "../support/ads-client";
import { CLUSTER, ROUTE } from "../../src/xds/types";

const EXAMPLES = path.join(__dirname, "..", "..", "..", "examples", "bill-service");
const NODE = "sidecar~172.7.120.13~front-tomcat-6b8d7c5f4-9zq7w.default~default.svc.cluster.local";
const HOST = "bill-service.default.svc.cluster.local";
const cluster = (subset: string) => `outbound|9999|${subset}|${HOST}`;

const RULES = `# bill-service: the rules a canary edits
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: bill-service-dr
  namespace: default
spec:
  host: bill-service
  subsets:
    - name: v1
      labels:
        version: v1
---
# everything to v1
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: bill-service-route
  namespace: default
spec:
  hosts: [bill-service]
  http:
    - name: main
      route:
        - destination: {host: bill-service, subset: v1}
`;

/** The bill-service example with only v1 running (its v2 pod and endpoint removed). */
function fixture(dir: string, rules: boolean): void {
  fs.copyFileSync(path.join(EXAMPLES, "services.yaml"), path.join(dir, "services.yaml"));
  const docs = (file: string) => fs.readFileSync(path.join(EXAMPLES, file), "utf8");
  fs.writeFileSync(
    path.join(dir, "workloads.yaml"),
    docs("workloads.yaml")
      .split(/^---$/m)
      .filter((d) => !d.includes("bill-service-v2"))
      .join("---"),
  );
  fs.writeFileSync(
    path.join(dir, "endpointslices.yaml"),
    docs("endpointslices.yaml").replace(/ {2}- addresses: \["172\.7\.130\.12"\][\s\S]*?namespace: default}\n/, ""),
  );
  if (rules) fs.writeFileSync(path.join(dir, "rules.yaml"), RULES);
}

function mp(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function validates(dir: string): void {
  const v = mp("validate", "-f", dir);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  assert.match(v.stdout, /0 errors/);
}

type RouteConfig = {
  virtual_hosts: {
    name: string;
    routes: { name?: string; route?: { cluster?: string; weighted_clusters?: { clusters: { name: string; weight: number }[] } } }[];
  }[];
};

/** What the connected proxy is served for bill-service's route `name`: one cluster, or weighted ones. */
async function served(port: number, name: string): Promise<string> {
  const routes = readConfigDump(await getJson(port, `/debug/config_dump?proxy=${encodeURIComponent(NODE)}`)).types.routes!;
  const vh = ([...routes.values()] as unknown as RouteConfig[]).flatMap((r) => r.virtual_hosts).find((v) => v.name === `${HOST}:9999`);
  const r = vh?.routes.find((x) => x.name === name)?.route;
  if (!r) return "none";
  return r.cluster ?? r.weighted_clusters!.clusters.map((c) => `${c.name} ${c.weight}`).join(", ");
}

async function eventually(port: number, name: string, want: string): Promise<void> {
  let last = "";
  for (let i = 0; i < 100; i++) {
    // A pooled keep-alive connection the server closes at the same moment fails the fetch; ask again.
    last = await served(port, name).catch((e: Error) => `error: ${e.message}`);
    if (last === want) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(last, want, "serve did not pick up the step");
}

const objects = (dir: string) =>
  fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .flatMap((f) => YAML.parseAllDocuments(fs.readFileSync(path.join(dir, f), "utf8")).map((d) => [f, d.toJS()]));

test("canary --config-dir: start → weight → promote and start → abort, each step valid and served", { timeout: 120_000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mp-canary-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fixture(dir, true);
  const serve = await startServe(["--config-dir", dir, "--debounce-after", "20ms"]);
  t.after(() => serve.stop());
  const s = new TestSotwStream(connect(serve.xdsPort), NODE, { NAMESPACE: "default", LABELS: { app: "front-tomcat" } });
  t.after(() => s.close());
  s.send({ typeUrl: CLUSTER });
  s.ack(await s.next(5000));
  s.send({ typeUrl: ROUTE, names: ["9999"] });
  s.ack(await s.next(5000), ["9999"]);
  await eventually(serve.httpPort, "main", cluster("v1"));
  const port = serve.httpPort;

  const start = mp("canary", "start", "bill-service", "--version", "v2", "--config-dir", dir);
  assert.equal(start.code, 0, start.stderr);
  assert.match(start.stdout, /updated DestinationRule bill-service-dr\n\s+updated VirtualService bill-service-route/);
  assert.match(start.stdout, /http\[0\] main: v1 100%, v2 0%/);
  validates(dir);
  // Like istiod, a weight-0 destination is left out of the weighted clusters; the route is now a weighted one.
  await eventually(port, "main", `${cluster("v1")} 100`);
  const text = fs.readFileSync(path.join(dir, "rules.yaml"), "utf8");
  assert.match(text, /^# bill-service: the rules a canary edits$/m, "comments are kept");
  assert.match(text, /^# everything to v1$/m);

  // The user deploys v2 (folder mode leaves workloads to them): a pod and its endpoint.
  const v2Pod = fs
    .readFileSync(path.join(EXAMPLES, "workloads.yaml"), "utf8")
    .split(/^---$/m)
    .find((d) => d.includes("bill-service-v2"))!;
  fs.appendFileSync(path.join(dir, "workloads.yaml"), `---${v2Pod}`);
  const v2Endpoint = /( {2}- addresses: \["172\.7\.130\.12"\][\s\S]*?namespace: default}\n)/.exec(
    fs.readFileSync(path.join(EXAMPLES, "endpointslices.yaml"), "utf8"),
  )![1]!;
  const slices = path.join(dir, "endpointslices.yaml");
  fs.writeFileSync(slices, fs.readFileSync(slices, "utf8").replace(/(name: bill-service-abc12[\s\S]*?endpoints:\n)/, `$1${v2Endpoint}`));

  const refused = mp("canary", "start", "bill-service", "--version", "v3", "--config-dir", dir);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /refused: a canary of bill-service to v2 is in progress/);

  assert.equal(mp("canary", "weight", "bill-service", "40", "--config-dir", dir).code, 0);
  validates(dir);
  await eventually(port, "main", `${cluster("v1")} 60, ${cluster("v2")} 40`);
  const st = mp("canary", "status", "bill-service", "--config-dir", dir);
  assert.match(
    st.stdout,
    /canary v2 in progress, stable v1\n\s+VirtualService bill-service-route http\[0\] main: v1 60%, v2 40%\n\s+ready endpoints: v1 1, v2 1/,
  );

  const promote = mp("canary", "promote", "bill-service", "--config-dir", dir);

  assert.equal(promote.code, 0, promote.stderr);
  validates(dir);
  await eventually(port, "main", cluster("v2"));
  const rules = YAML.parseAllDocuments(fs.readFileSync(path.join(dir, "rules.yaml"), "utf8")).map((d) => d.toJS());
  assert.deepEqual(rules[0].spec.subsets, [{ name: "v2", labels: { version: "v2" } }]);
  assert.deepEqual(rules[1].spec.http, [{ name: "main", route: [{ destination: { host: "bill-service", subset: "v2" } }] }]);
  assert.equal(rules[1].metadata.annotations, undefined, "no canary record left");

  // The user retires v1's pod; then start → abort leaves the objects as they were.
  fs.writeFileSync(
    path.join(dir, "workloads.yaml"),
    fs
      .readFileSync(path.join(dir, "workloads.yaml"), "utf8")
      .split(/^---$/m)
      .filter((d) => !d.includes("bill-service-v1"))
      .join("---"),
  );
  const before = objects(dir);
  assert.equal(mp("canary", "start", "bill-service", "--version", "v3", "--config-dir", dir).code, 0);
  validates(dir);
  await eventually(port, "main", `${cluster("v2")} 100`);
  assert.equal(mp("canary", "abort", "bill-service", "--config-dir", dir).code, 0);
  validates(dir);
  assert.deepEqual(objects(dir), before);
  await eventually(port, "main", cluster("v2"));
});

test("canary --config-dir with no rules: start creates the DestinationRule and VirtualService files, abort removes them", { timeout: 60_000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mp-canary-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fixture(dir, false);
  const before = fs.readdirSync(dir).sort();
  const start = mp("canary", "start", "bill-service", "--version", "v2", "--config-dir", dir);
  assert.equal(start.code, 0, start.stderr);
  assert.match(start.stdout, /created DestinationRule bill-service\n\s+created VirtualService bill-service/);
  assert.deepEqual(fs.readdirSync(dir).sort(), [...before, "bill-service-destinationrule.yaml", "bill-service-virtualservice.yaml"].sort());
  validates(dir);
  const abort = mp("canary", "abort", "bill-service", "--config-dir", dir);
  assert.equal(abort.code, 0, abort.stderr);
  assert.match(abort.stdout, /deleted VirtualService bill-service\n\s+deleted DestinationRule bill-service/);
  assert.deepEqual(fs.readdirSync(dir).sort(), before);

  // Bad input: one line, exit 2.
  for (const args of [
    ["start", "bill-service", "--config-dir", dir],
    ["weight", "bill-service", "abc", "--config-dir", dir],
    ["launch", "bill-service"],
    ["start", "Bill_Service", "--version", "v2"],
    ["status", "bill-service", "--bogus"],
  ]) {
    const r = mp("canary", ...args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split("\n").length <= 2, true, r.stderr);
    assert.match(r.stderr, /^mini-pilot canary: /);
  }
  // Another canary at work on the folder (its lock file): refused, nothing written.
  fs.writeFileSync(path.join(dir, ".mini-pilot-canary.lock"), "12345\n");
  const locked = mp("canary", "start", "bill-service", "--version", "v2", "--config-dir", dir);
  assert.equal(locked.code, 1);
  assert.match(locked.stderr, /refused: another mini-pilot canary is working on .*\.mini-pilot-canary\.lock exists/);
  fs.rmSync(path.join(dir, ".mini-pilot-canary.lock"));
  // A file that does not parse could hide a rule: refused until it is fixed.
  fs.writeFileSync(path.join(dir, "broken.yaml"), "kind: DestinationRule\nmetadata: {name: [oops\n");
  const broken = mp("canary", "start", "bill-service", "--version", "v2", "--config-dir", dir);
  assert.equal(broken.code, 1);
  assert.match(broken.stderr, /refused: .*broken\.yaml does not parse .*; fix the folder first/);
  fs.rmSync(path.join(dir, "broken.yaml"));
  assert.deepEqual(fs.readdirSync(dir).sort(), before, "no lock or temp file left behind");

  // No Service: refused, nothing written.
  const none = mp("canary", "start", "nosuch", "--version", "v2", "--config-dir", dir);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /refused: no Service nosuch in namespace default/);
  assert.deepEqual(fs.readdirSync(dir).sort(), before);
});
