/**
 * The work of all streams in one event-loop turn is bounded together
 * (TurnBudget): a push to many streams, or many requests arriving at once, no
 * longer runs back to back in one turn; what is over the budget runs on later
 * turns, in order, and every stream still gets its response.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { StreamIO } from "../../src/server/stream";
import { SotwStream } from "../../src/server/sotw-stream";
import { SnapshotCache } from "../../src/cache/snapshot-cache";
import { makeSnapshot } from "../../src/cache/snapshot";
import { createStreamContext, STREAM_SLICE_MS } from "../../src/server/context";
import { CLUSTER } from "../../src/xds/types";
import { cluster } from "../support/fixtures";

const nextTurn = () => new Promise<void>((r) => setImmediate(r));
const snapshotWith = (n: number) => makeSnapshot(Array.from({ length: n }, (_, i) => cluster(`c${i}`)));

function fleet(turnBudgetMs: number, n: number) {
  const cache = new SnapshotCache(() => ({ ok: true, group: "g" }));
  cache.set("g", snapshotWith(1));
  const ctx = createStreamContext({}, Date.now, STREAM_SLICE_MS, turnBudgetMs);
  const writes: number[] = [];
  const streams = Array.from({ length: n }, (_, i) => {
    const io: StreamIO = { write: () => (writes.push(i), true), fail: (code, msg) => assert.fail(`stream failed: ${code} ${msg}`) };
    return new SotwStream(`s${i}`, [CLUSTER], cache, io, ctx);
  });
  return { cache, streams, writes };
}

const node = (i: number) => ({ id: `sidecar~10.0.0.${i}~p${i}.default~default.svc.cluster.local`, cluster: "", metadata: {} });

test("turn budget: a push to many streams runs over several turns, in order; without a budget in one", async () => {
  const budget = fleet(0, 5);
  budget.streams.forEach((s, i) => s.onRequest({ typeUrl: CLUSTER, node: node(i), responseNonce: "", names: [] }));
  assert.equal(budget.writes.length, 1, "the first request of the turn is answered at once, the others wait");
  for (let t = 0; t < 10 && budget.writes.length < 5; t++) await nextTurn();
  assert.deepEqual(budget.writes, [0, 1, 2, 3, 4], "every stream answered, in the order the requests came");
  // ACK, then a push to all five: one stream's work per turn with a budget of 0.
  budget.streams.forEach((s) => s.onRequest({ typeUrl: CLUSTER, responseNonce: s.syncState()[0]!.sync.sentNonce!, names: [] }));
  for (let t = 0; t < 10; t++) await nextTurn();
  budget.writes.length = 0;
  budget.cache.set("g", snapshotWith(2));
  assert.equal(budget.writes.length, 1, "the push continues on later turns");
  for (let t = 0; t < 10 && budget.writes.length < 5; t++) await nextTurn();
  assert.deepEqual(budget.writes, [0, 1, 2, 3, 4]);

  const unbounded = fleet(Infinity, 5);
  unbounded.streams.forEach((s, i) => s.onRequest({ typeUrl: CLUSTER, node: node(i), responseNonce: "", names: [] }));
  assert.equal(unbounded.writes.length, 5, "no budget: all in the same turn, as before");
});
