/**
 * Flow control of one stream, without sockets: a slow client (full transport
 * buffer, or no ACKs) gets the latest config when it catches up, never a queue
 * of every intermediate version.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { StreamIO } from "../../src/server/stream";
import { SotwStream } from "../../src/server/sotw-stream";
import { SnapshotCache } from "../../src/cache/snapshot-cache";
import { makeSnapshot } from "../../src/cache/snapshot";
import { messageType } from "../../src/xds/protos";
import { CLUSTER } from "../../src/xds/types";
import { cluster } from "../support/fixtures";

const node = { id: "sidecar~10.0.0.1~a.default~default.svc.cluster.local", cluster: "", metadata: {} };
const responseType = messageType("envoy.service.discovery.v3.DiscoveryResponse");

function harness() {
  const cache = new SnapshotCache(() => ({ ok: true, group: "g" }));
  const writes: { nonce: string; version: string; count: number }[] = [];
  let accept = true;
  const io: StreamIO = {
    write: (b) => {
      const m = responseType.decode(b) as unknown as { nonce: string; version_info: string; resources: unknown[] };
      writes.push({ nonce: m.nonce, version: m.version_info, count: m.resources.length });
      return accept;
    },
    fail: (code, msg) => assert.fail(`stream failed: ${code} ${msg}`),
  };
  const stream = new SotwStream("s1", [CLUSTER], cache, io);
  return { cache, stream, writes, setAccept: (v: boolean) => (accept = v) };
}

const snapshotWith = (n: number) => makeSnapshot(Array.from({ length: n }, (_, i) => cluster(`c${i}`)));

test("a full transport buffer pauses the stream; on drain only the latest version is written", () => {
  const { cache, stream, writes, setAccept } = harness();
  cache.set("g", snapshotWith(1));
  stream.onRequest({ typeUrl: CLUSTER, node, responseNonce: "", names: [] });
  assert.equal(writes.length, 1);
  stream.onRequest({ typeUrl: CLUSTER, responseNonce: writes[0]!.nonce, names: [] }); // ACK
  setAccept(false);
  cache.set("g", snapshotWith(2)); // written, but the buffer is now full
  assert.equal(writes.length, 2);
  stream.onRequest({ typeUrl: CLUSTER, responseNonce: writes[1]!.nonce, names: [] }); // ACK arrives while blocked
  for (let n = 3; n <= 50; n++) cache.set("g", snapshotWith(n));
  assert.equal(writes.length, 2, "nothing more is written while the buffer is full");
  setAccept(true);
  stream.onDrain();
  assert.equal(writes.length, 3);
  assert.equal(writes[2]!.count, 50, "the latest content, not the 48 in between");
});

test("a client that does not ACK has at most one response in flight per type", () => {
  const { cache, stream, writes } = harness();
  cache.set("g", snapshotWith(1));
  stream.onRequest({ typeUrl: CLUSTER, node, responseNonce: "", names: [] });
  for (let n = 2; n <= 20; n++) cache.set("g", snapshotWith(n));
  assert.equal(writes.length, 1, "waits for the ACK of the first response");
  stream.onRequest({ typeUrl: CLUSTER, responseNonce: writes[0]!.nonce, names: [] });
  assert.equal(writes.length, 2);
  assert.equal(writes[1]!.count, 20);
});
