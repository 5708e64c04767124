/**
 * Delta streams in a connect storm: every fresh stream gets the whole
 * selection, so they share one response buffer (one build, one copy held, not
 * one per stream); after that, a stream in sync with a selection gets only
 * what changed, from the diff shared by all such streams, and without
 * removals in the same bytes as the others.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { StreamIO } from "../../src/server/stream";
import { DeltaStream } from "../../src/server/delta-stream";
import { SnapshotCache } from "../../src/cache/snapshot-cache";
import { makeSnapshot } from "../../src/cache/snapshot";
import { createStreamContext } from "../../src/server/context";
import { messageType } from "../../src/xds/protos";
import { CLUSTER } from "../../src/xds/types";
import { cluster } from "../support/fixtures";

const responseType = messageType("envoy.service.discovery.v3.DeltaDiscoveryResponse");
const decoded = (b: Buffer) => responseType.decode(b) as unknown as { nonce: string; resources: { name: string }[]; removed_resources: string[] };
const node = (i: number) => ({ id: `sidecar~10.0.0.${i}~p${i}.default~default.svc.cluster.local`, cluster: "", metadata: {} });

test("delta: fresh streams share one initial response; later pushes carry only what changed", () => {
  const cache = new SnapshotCache(() => ({ ok: true, group: "g" }));
  cache.set("g", makeSnapshot([cluster("a"), cluster("b"), cluster("c")]));
  const ctx = createStreamContext();
  const writes: Buffer[][] = [[], [], []];
  const streams = writes.map((w, i) => {
    const io: StreamIO = { write: (b) => (w.push(b), true), fail: (code, msg) => assert.fail(`stream failed: ${code} ${msg}`) };
    return new DeltaStream(`d${i}`, [CLUSTER], cache, io, ctx);
  });
  streams[0]!.onRequest({ typeUrl: CLUSTER, node: node(0), responseNonce: "", subscribe: [], unsubscribe: [], initialVersions: {} });
  streams[1]!.onRequest({ typeUrl: CLUSTER, node: node(1), responseNonce: "", subscribe: [], unsubscribe: [], initialVersions: {} });
  assert.equal(writes[0]!.length, 1);
  assert.equal(writes[0]![0], writes[1]![0], "the same buffer, not an equal copy");
  const first = decoded(writes[0]![0]!);
  assert.deepEqual(
    first.resources.map((r) => r.name),
    ["a", "b", "c"],
  );
  // A client that says it holds "a" already gets only the rest, in a response of its own.
  const third = streams[2]!;
  const versionOfA = (responseType.decode(writes[0]![0]!) as unknown as { resources: { name: string; version: string }[] }).resources[0]!.version;
  const held = { a: versionOfA };
  third.onRequest({ typeUrl: CLUSTER, node: node(2), responseNonce: "", subscribe: [], unsubscribe: [], initialVersions: held });
  assert.notEqual(writes[2]![0], writes[0]![0]);
  assert.deepEqual(
    decoded(writes[2]![0]!).resources.map((r) => r.name),
    ["b", "c"],
  );
  // ACK, then change b and drop c: each stream gets b and the removal of c, nothing else.
  streams.forEach((s, i) => s.onRequest({ typeUrl: CLUSTER, responseNonce: decoded(writes[i]![0]!).nonce, subscribe: [], unsubscribe: [] }));
  cache.set("g", makeSnapshot([cluster("a"), cluster("b", "2s")]));
  for (const w of writes) {
    assert.equal(w.length, 2);
    const r = decoded(w[1]!);
    assert.deepEqual(
      r.resources.map((x) => x.name),
      ["b"],
    );
    assert.deepEqual(r.removed_resources, ["c"]);
  }
  // Unchanged snapshot content for this type: nothing is sent.
  streams.forEach((s, i) => s.onRequest({ typeUrl: CLUSTER, responseNonce: decoded(writes[i]![1]!).nonce, subscribe: [], unsubscribe: [] }));
  cache.set("g", makeSnapshot([cluster("a"), cluster("b", "2s")]));
  for (const w of writes) assert.equal(w.length, 2);
  // A change without removals (a route edit, say): streams in sync with the same selection share the diff's bytes.
  cache.set("g", makeSnapshot([cluster("a", "3s"), cluster("b", "2s")]));
  for (const w of writes) assert.equal(w.length, 3);
  assert.equal(writes[0]![2], writes[1]![2]);
  assert.equal(writes[0]![2], writes[2]![2]);
  assert.deepEqual(
    decoded(writes[0]![2]!).resources.map((x) => x.name),
    ["a"],
  );
});
