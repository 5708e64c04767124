/**
 * pilot_services and pilot_virt_services must not cost a pass over the whole
 * store per change set: a big file reaches the store as 64 shards, and the old
 * count (store.list(), sorted, after every change set) was most of the CPU of
 * reading a 100,000-object file and held /healthz for seconds. They are now
 * counted from the change sets.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as prom from "prom-client";
import { ConfigStore } from "../../src/store";
import { validateObject } from "../../src/model/validate";
import type { MeshObject } from "../../src/model/types";
import { IstioMetrics } from "../../src/debug/istio-metrics";

function service(i: number): MeshObject {
  const r = validateObject(
    { apiVersion: "v1", kind: "Service", metadata: { name: `s${i}`, namespace: "ns" }, spec: { ports: [{ name: "http", port: 80 }] } },
    { file: "x.yaml", line: 1 },
  );
  assert.ok(r.ok);
  return r.object;
}

test("pilot_services and pilot_virt_services follow the change sets without reading the store", async () => {
  const store = new ConfigStore();
  let reads = 0;
  for (const m of ["list", "unsorted"] as const) {
    const orig = store[m].bind(store);
    (store as unknown as Record<string, () => MeshObject[]>)[m] = () => (reads++, orig());
  }
  const registry = new prom.Registry();
  const metrics = new IstioMetrics(registry);
  const stop = metrics.watchStore(store);
  reads = 0; // the one count of what the store held when watching started
  for (let shard = 0; shard < 64; shard++) store.replaceSource(`big#${shard}`, [service(shard)]);
  assert.equal(reads, 0, "no pass over the store per change set");
  let text = await registry.metrics();
  assert.match(text, /^pilot_services 64$/m);
  assert.match(text, /^pilot_virt_services 0$/m);
  assert.equal(reads, 0);
  // ServiceEntry hosts count as services, also when an update changes them; deletes count down.
  const entry = (hosts: string[]) => {
    const r = validateObject(
      {
        apiVersion: "networking.istio.io/v1",
        kind: "ServiceEntry",
        metadata: { name: "ext", namespace: "ns" },
        spec: { hosts, ports: [{ number: 443, name: "tls", protocol: "TLS" }], resolution: "DNS" },
      },
      { file: "x.yaml", line: 1 },
    );
    assert.ok(r.ok, JSON.stringify(!r.ok && r.diagnostics));
    return r.object;
  };
  store.apply([entry(["a.example.com", "b.example.com"])]);
  assert.match(await registry.metrics(), /^pilot_services 66$/m);
  store.apply([entry(["a.example.com"])]);
  assert.match(await registry.metrics(), /^pilot_services 65$/m);
  store.replaceSource("big#0", []);
  store.delete(["ServiceEntry/ns/ext"]);
  text = await registry.metrics();
  assert.match(text, /^pilot_services 63$/m);
  assert.equal(reads, 0);
  stop();
  // Counted from the store as it is when watching starts.
  const again = new prom.Registry();
  new IstioMetrics(again).watchStore(store);
  assert.match(await again.metrics(), /^pilot_services 63$/m);
});
