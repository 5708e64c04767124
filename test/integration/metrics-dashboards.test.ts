/**
 * The shipped Grafana dashboard and Prometheus alert rules against a live
 * `mini-pilot serve`: every PromQL expression in dashboards/ is parsed, and
 * every metric it names has samples on /metrics after real traffic (an ADS
 * client that connects, ACKs, NACKs once; config edits that push; endpoint
 * edits). The pilot_* series are also checked for Istio's types, labels and
 * buckets.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import { startServe } from "../support/serve-process";
import { TestSotwStream, SotwResponse, connect } from "../support/ads-client";
import { metricNames, metricTypes, sampledNames } from "../support/promql";
import { CLUSTER, ENDPOINT, LISTENER, ROUTE } from "../../src/xds/types";

const ROOT = path.join(__dirname, "..", "..", "..");
const EXAMPLES = path.join(ROOT, "examples", "bill-service");
const NODE = "sidecar~10.1.0.5~bill-client-1.default~default.svc.cluster.local";

/** Every `expr` in the dashboards and alert rules, with where it came from. */
function shippedQueries(): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  const dir = path.join(ROOT, "dashboards");
  for (const f of fs.readdirSync(dir).sort()) {
    const text = fs.readFileSync(path.join(dir, f), "utf8");
    if (f.endsWith(".json")) {
      const d = JSON.parse(text) as { panels: { title: string; targets?: { expr: string }[] }[] };
      for (const p of d.panels) for (const t of p.targets ?? []) out.push({ where: `${f} "${p.title}"`, expr: t.expr });
    } else if (/\.ya?ml$/.test(f)) {
      const rules = parse(text) as { groups: { rules: { alert?: string; record?: string; expr: string }[] }[] };
      for (const g of rules.groups) for (const r of g.rules) out.push({ where: `${f} ${r.alert ?? r.record}`, expr: String(r.expr) });
    }
  }
  return out;
}

test("the PromQL extractor finds metric names and refuses what it cannot read", () => {
  assert.deepEqual(metricNames('histogram_quantile(0.99, sum(rate(pilot_xds_push_time_bucket{type="cds"}[1m])) by (le, type))'), [
    "pilot_xds_push_time_bucket",
  ]);
  assert.deepEqual(metricNames("sum(pilot_xds) == 0 and sum(pilot_services) > 0"), ["pilot_services", "pilot_xds"]);
  assert.deepEqual(metricNames('max(mini_pilot_config_diagnostics{severity="error"}) > 0'), ["mini_pilot_config_diagnostics"]);
  assert.throws(() => metricNames("sum(rate(x[1m])"), /unbalanced/);
  assert.throws(() => metricNames("sumz(x)"), /unknown PromQL function "sumz"/);
});

async function next(s: TestSotwStream, typeUrl: string): Promise<SotwResponse> {
  for (;;) {
    const r = await s.next(10_000);
    if (r.typeUrl === typeUrl) return r;
    s.ack(r, r.typeUrl === CLUSTER || r.typeUrl === LISTENER ? [] : r.names);
  }
}

test("every metric the dashboard and alerts query has samples on a live /metrics", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mini-pilot-metrics-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.cpSync(EXAMPLES, dir, { recursive: true });
  const serve = await startServe(["--config-dir", dir, "--debounce-after", "10ms"]);
  t.after(() => serve.stop());
  const client = connect(serve.xdsPort);
  t.after(() => client.close());
  const s = new TestSotwStream(client, NODE, { ISTIO_VERSION: "1.24.0" });
  t.after(() => s.close());

  // Connect: CDS, EDS, LDS, RDS, each ACKed.
  s.send({ typeUrl: CLUSTER });
  const cds = await next(s, CLUSTER);
  s.ack(cds);
  s.send({ typeUrl: LISTENER });
  const lds = await next(s, LISTENER);
  s.ack(lds);
  const edsNames = cds.resources.filter((c) => (c as { type?: string }).type === "EDS").map((c) => String((c as { name: string }).name));
  s.send({ typeUrl: ENDPOINT, names: edsNames });
  s.ack(await next(s, ENDPOINT), edsNames);
  s.send({ typeUrl: ROUTE, names: ["8080", "9999"] });
  const rds = await next(s, ROUTE);
  s.ack(rds, ["8080", "9999"]);

  // A config push (VirtualService weights), NACKed: a reject.
  const vs = path.join(dir, "virtual-service.yaml");
  fs.writeFileSync(vs, fs.readFileSync(vs, "utf8").replace("weight: 90", "weight: 80").replace("weight: 10", "weight: 20"));
  const pushed = await next(s, ROUTE);
  s.ack(pushed, ["8080", "9999"], "test: rejecting this one");
  // An endpoint-only push (an EndpointSlice edit): registry events, eds inbound updates, convergence.
  const slices = path.join(dir, "endpointslices.yaml");
  fs.writeFileSync(slices, fs.readFileSync(slices, "utf8").replace("172.7.120.11", "172.7.120.21"));
  s.ack(await next(s, ENDPOINT), edsNames);

  const res = await fetch(`http://127.0.0.1:${serve.httpPort}/metrics`);
  const body = await res.text();
  const sampled = sampledNames(body);
  const missing: string[] = [];
  for (const q of shippedQueries()) for (const name of metricNames(q.expr)) if (!sampled.has(name)) missing.push(`${q.where}: ${name}`);
  assert.deepEqual(missing, [], "metrics queried by dashboards/ but without samples on /metrics");
  assert.ok(shippedQueries().length >= 20, "the dashboard and the alerts have their queries");

  // Istio's definitions: type, labels, buckets.
  const types = metricTypes(body);
  const want: Record<string, string> = {
    pilot_xds: "gauge",
    pilot_xds_pushes: "counter",
    pilot_xds_push_time: "histogram",
    pilot_proxy_convergence_time: "histogram",
    pilot_proxy_queue_time: "histogram",
    pilot_push_triggers: "counter",
    pilot_total_xds_rejects: "counter",
    pilot_xds_send_time: "histogram",
    pilot_k8s_reg_events: "counter",
    pilot_services: "gauge",
    pilot_virt_services: "gauge",
    pilot_debounce_time: "histogram",
    pilot_inbound_updates: "counter",
  };
  for (const [name, type] of Object.entries(want)) assert.equal(types.get(name), type, name);
  const line = (re: RegExp) => assert.match(body, re);
  line(/^pilot_xds\{version="1\.24\.0"\} 1$/m);
  line(/^pilot_xds_pushes\{type="(cds|eds|lds|rds)"\} [1-9]/m);
  line(/^pilot_total_xds_rejects\{type="rds"\} 1$/m);
  line(/^pilot_push_triggers\{type="config"\} [1-9]/m);
  line(/^pilot_push_triggers\{type="endpoint"\} [1-9]/m);
  line(/^pilot_k8s_reg_events\{type="EndpointSlice",event="update"\} [1-9]/m);
  line(/^pilot_inbound_updates\{type="config"\} [1-9]/m);
  line(/^pilot_inbound_updates\{type="eds"\} [1-9]/m);
  line(/^pilot_services 2$/m);
  line(/^pilot_virt_services 1$/m);
  line(/^pilot_proxy_convergence_time_count [1-9]/m);
  // Istio's buckets.
  const buckets = (name: string) => [...body.matchAll(new RegExp(`^${name}_bucket\\{(?:[^}]*,)?le="([^"]+)"`, "gm"))].map((m) => m[1]);
  const uniq = (xs: (string | undefined)[]) => [...new Set(xs)];
  assert.deepEqual(uniq(buckets("pilot_proxy_convergence_time")), ["0.1", "0.5", "1", "3", "5", "10", "20", "30", "+Inf"]);
  assert.deepEqual(uniq(buckets("pilot_xds_push_time")), ["0.01", "0.1", "1", "3", "5", "10", "20", "30", "+Inf"]);
  assert.deepEqual(uniq(buckets("pilot_debounce_time")), ["0.01", "0.1", "1", "3", "5", "10", "20", "30", "+Inf"]);
  // And a connection that goes away is no longer counted.
  s.close();
  const deadline = Date.now() + 5000;
  for (;;) {
    const now = await (await fetch(`http://127.0.0.1:${serve.httpPort}/metrics`)).text();
    if (/^pilot_xds\{version="1\.24\.0"\} 0$/m.test(now)) break;
    assert.ok(Date.now() < deadline, "pilot_xds falls back to 0 after the stream closes");
    await new Promise((r) => setTimeout(r, 100));
  }
});
