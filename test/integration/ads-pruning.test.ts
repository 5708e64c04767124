/**
 * State for proxies that are gone is released: a group's view and snapshot go
 * with its last stream, a node id with its last stream, through real sockets
 * and the real push pipeline.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigStore } from "../../src/store";
import { PushPipeline } from "../../src/push/pipeline";
import { XdsServer } from "../../src/server/grpc-server";
import { CLUSTER } from "../../src/xds/types";
import { TestSotwStream, connect } from "../support/ads-client";

async function serve() {
  const pipeline = new PushPipeline(new ConfigStore());
  const server = new XdsServer(pipeline.cache);
  const port = await server.listen("127.0.0.1:0");
  return {
    pipeline,
    server,
    port,
    stop: async () => {
      pipeline.stop();
      await server.shutdown(200);
    },
  };
}

const nodeId = (i: number) => `sidecar~10.0.${Math.floor(i / 250)}.${i % 250}~pod-${i}.default~default.svc.cluster.local`;

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("pruning: the last stream of a group takes its view and snapshot with it", async () => {
  const ts = await serve();
  const client = connect(ts.port);
  const streams = Array.from({ length: 30 }, (_, i) => new TestSotwStream(client, nodeId(i), { NAMESPACE: "default", LABELS: { app: `app-${i}` } }));
  for (const s of streams) s.send({ typeUrl: CLUSTER });
  for (const s of streams) await s.next();
  assert.equal(ts.pipeline.groupCount(), 30, "distinct labels, distinct groups");
  assert.equal(ts.pipeline.cache.snapshotCount, 30);
  assert.ok(ts.pipeline.snapshotForNode(nodeId(7)), "a connected proxy's config can be dumped");
  for (const s of streams) s.close();
  await until(() => ts.server.streamCount === 0, "streams to close");
  assert.equal(ts.pipeline.groupCount(), 0, "no group views left");
  assert.equal(ts.pipeline.cache.snapshotCount, 0, "no group snapshots left");
  assert.equal(ts.pipeline.cache.nodeCount, 0, "no node ids left");
  assert.equal(ts.pipeline.snapshotForNode(nodeId(7)), undefined);
  await ts.stop();
});

test("pruning: node ids that come and go in a group that stays are forgotten", async () => {
  const ts = await serve();
  const client = connect(ts.port);
  const meta = { NAMESPACE: "default", LABELS: { app: "web" } };
  const stay = new TestSotwStream(client, nodeId(0), meta);
  stay.send({ typeUrl: CLUSTER });
  await stay.next();
  for (let round = 0; round < 5; round++) {
    const batch = Array.from({ length: 20 }, (_, i) => new TestSotwStream(client, nodeId(1 + round * 20 + i), meta));
    for (const s of batch) s.send({ typeUrl: CLUSTER });
    for (const s of batch) await s.next();
    for (const s of batch) s.close();
  }
  await until(() => ts.server.streamCount === 1, "the batches to close");
  assert.equal(ts.pipeline.cache.nodeCount, 1, "only the proxy still connected is remembered");
  assert.equal(ts.pipeline.snapshotForNode(nodeId(5)), undefined, "a gone proxy has no config to dump");
  assert.ok(ts.pipeline.snapshotForNode(nodeId(0)));
  assert.equal(ts.pipeline.groupCount(), 1);
  stay.close();
  await ts.stop();
});

test("pruning: a node with two streams stays until both are closed", async () => {
  const ts = await serve();
  const client = connect(ts.port);
  const a = new TestSotwStream(client, nodeId(1));
  const b = new TestSotwStream(client, nodeId(1));
  for (const s of [a, b]) s.send({ typeUrl: CLUSTER });
  await a.next();
  await b.next();
  a.close();
  await until(() => ts.server.streamCount === 1, "one stream to close");
  assert.ok(ts.pipeline.snapshotForNode(nodeId(1)), "still connected on its other stream");
  b.close();
  await until(() => ts.pipeline.cache.nodeCount === 0, "the node to be forgotten");
  await ts.stop();
});
