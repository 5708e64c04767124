/**
 * A client whose requests are each allowed (within the names and request
 * budgets) but expensive must not take an unbounded share of the process: the
 * event-loop time its requests take is charged to its connection
 * (`requestCpuMsPerSecond`, `requestCpuBurstMs`), and once that is spent its
 * next request waits for the budget to refill, while other connections'
 * requests are answered at once. Before, a greedy delta client re-subscribing
 * 100,000 names within its names budget cost ~0.6 s of CPU every 2–4 s, and
 * everyone else's push latency doubled (bench/greedy-client.ts).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { CLUSTER, ENDPOINT, PUSH_ORDER } from "../../src/xds/types";
import { SnapshotCache } from "../../src/cache/snapshot-cache";
import { makeSnapshot } from "../../src/cache/snapshot";
import { StreamIO, XdsStream } from "../../src/server/stream";
import { SotwStream } from "../../src/server/sotw-stream";
import { DeltaStream } from "../../src/server/delta-stream";
import { createStreamContext } from "../../src/server/context";
import { newRateBudget, ServerLimits } from "../../src/server/limits";
import { messageType } from "../../src/xds/protos";
import { cluster, endpoints } from "../support/fixtures";

const SOTW_RESPONSE = messageType("envoy.service.discovery.v3.DiscoveryResponse");

const node = (i: number) => ({ id: `sidecar~10.0.0.${i}~p${i}.default~default.svc.cluster.local`, cluster: "c", metadata: {} });
const names = (prefix: string) => Array.from({ length: 20_000 }, (_, i) => `${prefix}-${i}`);
const BIG = { subscribedNamesPerSecond: 1e9, subscribedNamesBurst: 1e9, maxNamesPerRequest: 1e6, maxSubscribedNamesPerStream: 1e7 };

function setup(limits: Partial<ServerLimits>) {
  const cache = new SnapshotCache(() => ({ ok: true, group: "g" }));
  cache.set("g", makeSnapshot([cluster("a"), cluster("b"), endpoints("a", 80), endpoints("b", 81)]));
  const ctx = createStreamContext({ ...BIG, ...limits });
  // One rate budget per connection, as XdsServer keeps them by peer.
  const connection = () => newRateBudget(ctx.limits, ctx.now);
  const open = (kind: "sotw" | "delta", id: string, rate = connection()) => {
    const log: { at: number; what: string }[] = [];
    const nonces: string[] = [];
    const io: StreamIO = {
      write: (b) => {
        if (kind === "sotw") nonces.push((SOTW_RESPONSE.decode(b) as unknown as { nonce: string }).nonce);
        log.push({ at: performance.now(), what: "response" });
        return true;
      },
      fail: (c, m) => log.push({ at: performance.now(), what: `fail ${c} ${m}` }),
    };
    const s: XdsStream = kind === "sotw" ? new SotwStream(id, PUSH_ORDER, cache, io, ctx, rate) : new DeltaStream(id, PUSH_ORDER, cache, io, ctx, rate);
    return { s, log, rate, nonces };
  };
  return { cache, open, connection };
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) return false;
    await new Promise((r) => setTimeout(r, 1));
  }
  return true;
}

test("a connection that spent its request time waits for it to refill; another connection is answered at once", async () => {
  // 20 ms a second, no burst to speak of: each 20,000-name subscribe (tens of ms) overdraws it.
  const { open } = setup({ requestCpuMsPerSecond: 20, requestCpuBurstMs: 1 });
  const greedy = open("delta", "greedy");
  greedy.s.onRequest({ typeUrl: ENDPOINT, node: node(1), responseNonce: "", subscribe: ["a", ...names("one")], unsubscribe: [], initialVersions: {} });
  assert.ok(await until(() => greedy.log.length === 1, 10_000), "the first request is served from the burst");
  assert.equal(greedy.log[0]!.what, "response");
  const overdrawn = -greedy.rate.cpu.peek();
  assert.ok(overdrawn > 1, `the request's time was charged (${overdrawn.toFixed(1)} ms over)`);

  // Its next request is accepted (not refused) but waits ~overdrawn/20 s.
  const asked = performance.now();
  greedy.s.onRequest({ typeUrl: ENDPOINT, responseNonce: "", subscribe: names("two"), unsubscribe: [] });
  // Meanwhile another proxy on another connection: answered in the same turn.
  const other = open("sotw", "other");
  other.s.onRequest({ typeUrl: CLUSTER, node: node(2), responseNonce: "", names: [] });
  assert.equal(other.log.length, 1);
  assert.equal(greedy.log.length, 1, "the greedy connection's request waits");
  const waitMs = (overdrawn / 20) * 1000;
  assert.ok(await until(() => greedy.log.length === 2, waitMs + 10_000), "and is served once the budget refilled");
  assert.equal(greedy.log[1]!.what, "response");
  const waited = greedy.log[1]!.at - asked;
  assert.ok(waited >= waitMs * 0.9, `waited ${waited.toFixed(0)} ms for a deficit of ${overdrawn.toFixed(1)} ms at 20 ms/s`);
  greedy.s.close();
  other.s.close();
});

test("streams of one connection share its request time; pushes the server starts are not charged", async () => {
  const { open, cache, connection } = setup({ requestCpuMsPerSecond: 1000, requestCpuBurstMs: 1000 });
  const shared = connection();
  const a = open("sotw", "a", shared);
  const b = open("sotw", "b", shared);
  a.s.onRequest({ typeUrl: CLUSTER, node: node(1), responseNonce: "", names: [] });
  b.s.onRequest({ typeUrl: CLUSTER, node: node(2), responseNonce: "", names: [] });
  assert.deepEqual([a.log.length, b.log.length], [1, 1], "answered from the burst");
  for (const x of [a, b]) x.s.onRequest({ typeUrl: CLUSTER, responseNonce: x.nonces[0]!, names: [] }); // ACKs

  // The connection is 300 ms in debt (as after an expensive request).
  shared.cpu.charge(shared.cpu.peek() + 300);
  const since = performance.now();
  // A new snapshot reaches both streams at once: pushes are not charged.
  cache.set("g", makeSnapshot([cluster("a"), cluster("c"), endpoints("a", 90), endpoints("b", 91)]));
  assert.deepEqual([a.log.length, b.log.length], [2, 2], "pushed in the same turn");
  // A stream the client opens anew on that connection inherits the debt: it cannot reset its budget by reopening.
  const c = open("sotw", "c", shared);
  c.s.onRequest({ typeUrl: CLUSTER, node: node(3), responseNonce: "", names: [] });
  // Another connection is not affected.
  const d = open("sotw", "d");
  d.s.onRequest({ typeUrl: CLUSTER, node: node(4), responseNonce: "", names: [] });
  assert.deepEqual([c.log.length, d.log.length], [0, 1]);
  assert.ok(await until(() => c.log.length === 1, 5000));
  const waited = c.log[0]!.at - since;
  assert.ok(waited >= 250, `answered after ${waited.toFixed(0)} ms, once the 300 ms debt was repaid at 1000 ms/s`);
  for (const x of [a, b, c, d]) x.s.close();
});
