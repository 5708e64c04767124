import { test } from "node:test";
import assert from "node:assert/strict";
import { SnapshotCache } from "../../src/cache/snapshot-cache";
import { makeSnapshot, type Snapshot } from "../../src/cache/snapshot";
import { cluster } from "../support/fixtures";

const snapshotWith = (n: number) => makeSnapshot(Array.from({ length: n }, (_, i) => cluster(`c${i}`)));

test("a group's first watcher gets the snapshot its producer builds in onFirstWatch exactly once", () => {
  const cache: SnapshotCache = new SnapshotCache(() => ({ ok: true, group: "g" }), { onFirstWatch: (g) => cache.set(g, snapshotWith(2)) });
  const seen: Snapshot[] = [];
  cache.watch("g", (s) => seen.push(s));
  assert.equal(seen.length, 1);
});

test("a watcher of a group that already has a snapshot gets it once; a later set with a new version reaches it", () => {
  const cache = new SnapshotCache(() => ({ ok: true, group: "g" }));
  cache.set("g", snapshotWith(1));
  const seen: Snapshot[] = [];
  cache.watch("g", (s) => seen.push(s));
  cache.set("g", snapshotWith(1)); // equal content: same version, not delivered again
  cache.set("g", snapshotWith(3));
  assert.deepEqual(
    seen.map((s) => s.version),
    [snapshotWith(1).version, snapshotWith(3).version],
  );
});

test("onFirstWatch that rebuilds an equal snapshot does not deliver it twice", () => {
  const cache: SnapshotCache = new SnapshotCache(() => ({ ok: true, group: "g" }), { onFirstWatch: (g) => cache.set(g, snapshotWith(1)) });
  cache.set("g", snapshotWith(1));
  const seen: Snapshot[] = [];
  cache.watch("g", (s) => seen.push(s));
  assert.equal(seen.length, 1);
});
