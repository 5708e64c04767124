/**
 * The first view of a big mesh is built in slices too: what it shares with
 * other views (clusters, assignments, virtual hosts; generate/shared.ts) is
 * built a few specs at a time before generate() runs (warmSidecarSteps), and
 * the snapshot is the same as one built in one go. (What remains one step:
 * generate() assembling the units, encoding one big route config, sorting a
 * type snapshot; a 30,000-Service sidecar view still stalls the loop for
 * seconds on a loaded 2-core machine, mostly encoding its 30,000-virtual-host
 * route config, one resource.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigStore } from "../../src/store";
import type { MeshObject, Service } from "../../src/model/types";
import { PushPipeline, PushReport } from "../../src/push/pipeline";

function services(n: number): MeshObject[] {
  const out: MeshObject[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      kind: "Service",
      apiVersion: "v1",
      metadata: { name: `svc-${i}`, namespace: `ns-${i % 50}` },
      spec: {
        clusterIP: `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`,
        selector: { app: `svc-${i}` },
        ports: [
          { name: "http", port: 80, targetPort: 8080 },
          { name: "grpc", port: 9090, targetPort: 9090 },
        ],
      },
    } as Service);
  }
  return out;
}

async function firstSnapshot(n: number, sliceAboveObjects: number): Promise<{ version: string; clusters: number; report: PushReport }> {
  const store = new ConfigStore();
  const reports: PushReport[] = [];
  const pipeline = new PushPipeline(store, { debounceAfterMs: 1, onPush: (r) => reports.push(r), sliceAboveObjects });
  const node = { id: "sidecar~10.0.0.1~app-1.ns-1~ns-1.svc.cluster.local", cluster: "app", metadata: { LABELS: { app: "app" }, SDS: "true" } };
  const r = pipeline.cache.resolve(node);
  assert.ok(r.ok);
  const got: string[] = [];
  pipeline.cache.watch(r.group, (s) => got.push(s.version), node.id);
  store.apply(services(n));
  pipeline.flush();
  await pipeline.settled();
  pipeline.stop();
  assert.equal(reports.length, 1);
  const snapshot = pipeline.snapshotForNode(node.id)!;
  assert.equal(got.at(-1), snapshot.version);
  return { version: snapshot.version, clusters: snapshot.types["type.googleapis.com/envoy.config.cluster.v3.Cluster"].resources.size, report: reports[0]! };
}

test("a sidecar's first snapshot of a big mesh: shared parts built in slices first, the same snapshot as in one go", async () => {
  const sliced = await firstSnapshot(3000, 1000);
  const whole = await firstSnapshot(3000, Infinity);
  assert.equal(whole.report.slices, 0);
  // Model, warm-up (128 specs a step) and encoding (64 resources a step) return to the event loop.
  assert.ok(sliced.report.slices > 10, `slices: ${sliced.report.slices}`);
  assert.equal(sliced.clusters, 6003);
  assert.equal(sliced.version, whole.version, "warming the shared resources first changes nothing in the output");
});
