/**
 * One stream's big request must not hold the others: a delta subscribe (or a
 * SotW request) of many names is decided, keyed and answered in steps, over
 * several turns of the event loop (XdsStream's work queue; the slice length is
 * the context's sliceMs, 0 here so every step is a turn). Before, such a
 * request was handled in one go: 100,000 names held every client ~400 ms
 * (bench/greedy-client.ts).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { CLUSTER, ENDPOINT, PUSH_ORDER } from "../../src/xds/types";
import { SnapshotCache } from "../../src/cache/snapshot-cache";
import { makeSnapshot } from "../../src/cache/snapshot";
import { StreamIO, XdsRequest, XdsStream } from "../../src/server/stream";
import { SotwStream } from "../../src/server/sotw-stream";
import { DeltaStream } from "../../src/server/delta-stream";
import { createStreamContext } from "../../src/server/context";
import { decodeRequest, decodeRequestInSteps } from "../../src/server/decode";
import { messageType } from "../../src/xds/protos";
import { cluster, endpoints } from "../support/fixtures";

const node = (i: number) => ({ id: `sidecar~10.0.0.${i}~p${i}.default~default.svc.cluster.local`, cluster: "c", metadata: {} });
// No rate or time budget in the way: these tests are about slicing (the time budget has its own, stream-time-budget).
const LIMITS = {
  subscribedNamesPerSecond: 1e9,
  subscribedNamesBurst: 1e9,
  maxNamesPerRequest: 1e6,
  maxSubscribedNamesPerStream: 1e7,
  requestCpuMsPerSecond: 1e9,
  requestCpuBurstMs: 1e9,
};
const turn = () => new Promise((r) => setImmediate(r));

function setup(sliceMs: number) {
  const cache = new SnapshotCache(() => ({ ok: true, group: "g" }));
  cache.set("g", makeSnapshot([cluster("a"), cluster("b"), endpoints("a", 80), endpoints("b", 81)]));
  const ctx = createStreamContext(LIMITS, Date.now, sliceMs);
  const open = (kind: "sotw" | "delta", id: string) => {
    const log: string[] = [];
    // Digests, not the bytes: a failed comparison of multi-megabyte strings takes minutes to print.
    const io: StreamIO = { write: (b) => (log.push(createHash("sha256").update(b).digest("hex")), true), fail: (c, m) => log.push(`fail ${c} ${m}`) };
    const s: XdsStream = kind === "sotw" ? new SotwStream(id, PUSH_ORDER, cache, io, ctx) : new DeltaStream(id, PUSH_ORDER, cache, io, ctx);
    return { s, log };
  };
  return { cache, open };
}

const names = Array.from({ length: 20_000 }, (_, i) => `unknown-${i}`);

async function settle(log: string[], n: number): Promise<number> {
  let turns = 0;
  while (log.length < n && turns < 10_000) {
    await turn();
    turns++;
  }
  return turns;
}

test("a delta subscribe of 20,000 names is handled over many turns while another stream is answered at once", async () => {
  const { open } = setup(0);
  const greedy = open("delta", "greedy");
  greedy.s.onRequest({ typeUrl: ENDPOINT, node: node(1), responseNonce: "", subscribe: ["a", ...names], unsubscribe: [], initialVersions: {} });
  assert.equal(greedy.log.length, 0, "not answered in the same turn");
  // Another proxy's request in the meantime: answered synchronously, not queued behind the big one.
  const other = open("sotw", "other");
  other.s.onRequest({ typeUrl: CLUSTER, node: node(2), responseNonce: "", names: [] });
  assert.equal(other.log.length, 1);
  // The same stream's next request waits for the big one, then is handled in order.
  greedy.s.onRequest({ typeUrl: ENDPOINT, responseNonce: "", subscribe: [], unsubscribe: names.slice(0, 10) });
  const turns = await settle(greedy.log, 1);
  assert.ok(turns >= 10, `answered after ${turns} turns`);
  assert.equal(greedy.log.length, 1);
  assert.ok(!greedy.log[0]!.startsWith("fail"), greedy.log[0]);
});

test("a sliced request gets the same responses as one handled in one go", async () => {
  const run = async (sliceMs: number, kind: "sotw" | "delta") => {
    const { open, cache } = setup(sliceMs);
    const { s, log } = open(kind, "s");
    const requests: XdsRequest[] =
      kind === "delta"
        ? [
            { typeUrl: ENDPOINT, node: node(1), responseNonce: "", subscribe: ["b", ...names], unsubscribe: [], initialVersions: { a: "x", "unknown-7": "y" } },
            { typeUrl: ENDPOINT, responseNonce: "", subscribe: ["a", ...names.slice(5000)], unsubscribe: names.slice(0, 3000) },
          ]
        : [
            { typeUrl: ENDPOINT, node: node(1), responseNonce: "", names: ["b", ...names] },
            { typeUrl: ENDPOINT, responseNonce: "p1", names: ["a", ...names.slice(4000)] },
          ];
    for (const r of requests) s.onRequest(r);
    await settle(log, 2);
    cache.set("g", makeSnapshot([cluster("a"), endpoints("a", 90), endpoints("b", 91)]));
    await settle(log, 3);
    for (let i = 0; i < 50; i++) await turn();
    return log;
  };
  for (const kind of ["delta", "sotw"] as const) {
    const whole = await run(Infinity, kind);
    assert.ok(whole.length >= 2, `${kind}: ${whole.length} responses`);
    assert.deepEqual(await run(0, kind), whole, kind);
  }
});

test("names decoded in steps give the request decodeRequest gives, in several steps", () => {
  const encode = (type: string, o: object) => {
    const t = messageType(type);
    return Buffer.from(t.encode(t.fromObject(o)).finish());
  };
  const NODE = { id: "sidecar~10.0.0.1~a.default~default.svc.cluster.local", cluster: "c", metadata: { fields: { NAMESPACE: { string_value: "default" } } } };
  const many = [...names, "ünïcode-name", "*"];
  const cases: ["sotw" | "delta", Buffer][] = [
    [
      "sotw",
      encode("envoy.service.discovery.v3.DiscoveryRequest", { version_info: "v1", node: NODE, resource_names: many, type_url: ENDPOINT, response_nonce: "p1" }),
    ],
    [
      "delta",
      encode("envoy.service.discovery.v3.DeltaDiscoveryRequest", {
        node: NODE,
        type_url: ENDPOINT,
        resource_names_subscribe: many,
        resource_names_unsubscribe: ["x", "y"],
        initial_resource_versions: { a: "1", b: "", ü: "2" },
        response_nonce: "p2",
        error_detail: { code: 3, message: "bad" },
      }),
    ],
  ];
  for (const [mode, bytes] of cases) {
    for (const withNode of [true, false]) {
      const { request, names: steps } = decodeRequestInSteps(mode, bytes, withNode);
      let yields = 0;
      while (!steps.next().done) yields++;
      assert.ok(yields >= 5, `${mode}: ${yields} steps`);
      assert.deepEqual(request, decodeRequest(mode, bytes, withNode), mode);
    }
  }
  // A fixed-size field at the top level (unknown to the message) is kept out of the names and decoded like the rest.
  const withFixed = Buffer.concat([cases[1]![1], Buffer.from([0x98, 0x06, 5]) /* field 99, varint 5 */]);
  const split = decodeRequestInSteps("delta", withFixed);
  while (!split.names.next().done);
  assert.deepEqual(split.request, decodeRequest("delta", withFixed));
});
