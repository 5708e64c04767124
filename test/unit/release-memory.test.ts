/**
 * After a big file goes away the memory comes back: the store, source and
 * pipeline keep nothing of it, and one full GC (release-memory.ts) runs once
 * the mesh has dropped, because an idle V8 heap is otherwise never collected
 * (measured before: ~300 MiB used 10 s after 100,000 Services were deleted,
 * against 42 MiB before they came).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ConfigStore } from "../../src/store";
import { DirSource } from "../../src/sources/file/dir-source";
import { PushPipeline } from "../../src/push/pipeline";
import { MemoryReleaser, isBigDrop } from "../../src/push/release-memory";

function bigFile(services: number): string {
  const parts: string[] = [];
  for (let i = 0; i < services; i++) {
    parts.push(
      `apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-${i}\n  namespace: ns-${i % 50}\n  labels: {app: svc-${i}, team: t${i % 7}}\n  annotations: {note: "padding padding padding padding padding padding padding padding padding"}\nspec:\n  selector: {app: svc-${i}}\n  ports:\n    - {name: http, port: 80, targetPort: 8080}\n    - {name: grpc, port: 9090}\n`,
    );
  }
  return parts.join("---\n");
}

const heapMiB = () => process.memoryUsage().heapUsed / 1024 / 1024;

test("a big drop is 10,000+ objects and at least half of them", () => {
  assert.equal(isBigDrop(100_001, 1), true);
  assert.equal(isBigDrop(20_000, 10_000), true);
  assert.equal(isBigDrop(20_000, 10_001), false);
  assert.equal(isBigDrop(9_999, 0), false);
  assert.equal(isBigDrop(1, 100_000), false);
});

test("once a big file is deleted the heap goes back near where it was before it came", { timeout: 120_000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mp-release-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, "seed.yaml"), bigFile(1).replace(/svc-0/g, "seed"));
  const store = new ConfigStore();
  const infos: object[] = [];
  const quiet = () => undefined;
  const pipeline = new PushPipeline(store, {
    debounceAfterMs: 10,
    releaseMemoryAfterDrops: true,
    log: { info: (o) => infos.push(o), warn: quiet, error: quiet },
  });
  const source = new DirSource({ dirs: [dir], store, pollMs: 0, limits: { maxObjects: 100_000, maxFileBytes: 256 * 1024 * 1024 } });
  t.after(() => {
    source.stop();
    pipeline.stop();
  });
  await source.start();
  const baseline = heapMiB();

  fs.writeFileSync(path.join(dir, "big.yaml"), bigFile(30_000));
  await source.scan();
  await new Promise((r) => setTimeout(r, 100));
  await pipeline.settled();
  assert.equal(store.size, 30_001);
  const loaded = heapMiB();

  fs.rmSync(path.join(dir, "big.yaml"));
  await source.scan();
  await new Promise((r) => setTimeout(r, 100));
  await pipeline.settled();
  assert.equal(store.size, 1);
  const start = Date.now();
  while (!infos.some((o) => "gcMs" in o) && Date.now() - start < 10_000) await new Promise((r) => setTimeout(r, 100));
  const after = heapMiB();
  console.log(`heap used: ${baseline.toFixed(0)} MiB before, ${loaded.toFixed(0)} MiB loaded, ${after.toFixed(0)} MiB after the delete`);
  assert.ok(loaded - baseline > 40, `precondition: the file took memory (${loaded.toFixed(0)} vs ${baseline.toFixed(0)} MiB)`);
  // Without the GC the heap stayed at the loaded level; the margin is for the test runner's own objects.
  assert.ok(
    after - baseline < (loaded - baseline) / 4,
    `heap after the delete: ${after.toFixed(0)} MiB (baseline ${baseline.toFixed(0)}, loaded ${loaded.toFixed(0)})`,
  );
});

test("the releaser runs at most once per interval and only after big drops", async () => {
  const r = new MemoryReleaser({ delayMs: 1, minIntervalMs: 60_000 });
  r.shrank(100, 0);
  await new Promise((res) => setTimeout(res, 20));
  assert.equal(r.runs, 0, "a small drop does nothing");
  r.shrank(50_000, 10);
  await new Promise((res) => setTimeout(res, 50));
  assert.equal(r.runs, 1);
  r.shrank(50_000, 10);
  await new Promise((res) => setTimeout(res, 50));
  assert.equal(r.runs, 1, "not again within the interval");
  r.stop();
});
