/** Delta (incremental) ADS protocol rules, driven by a raw grpc-js client. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { CLUSTER, ENDPOINT, LISTENER, ROUTE } from "../../src/xds/types";
import { TestDeltaStream, connect } from "../support/ads-client";
import { baseResources, cluster, endpoints, listener, route, startTestServer } from "../support/fixtures";

const quiet = async (s: TestDeltaStream, ms = 150) => assert.deepEqual(await s.inbox.drain(ms), [], "expected no further response");
const names = (r: { resources: { name: string }[] }) => r.resources.map((x) => x.name);

test("delta: wildcard CDS, then only what changed, and removals in removed_resources", async () => {
  const ts = await startTestServer();
  const s = new TestDeltaStream(connect(ts.port));
  s.send({ typeUrl: CLUSTER });
  const r1 = await s.next();
  assert.deepEqual(names(r1), ["a", "b"]);
  assert.deepEqual(r1.removed, []);
  assert.ok(r1.resources.every((r) => r.version.length > 0));
  s.ack(r1);
  await quiet(s);
  ts.set([cluster("a", "5s"), endpoints("a", 8001), listener("l1", 10001, "r1"), route("r1", "a")]);
  const r2 = await s.next();
  assert.deepEqual(names(r2), ["a"], "only the changed cluster");
  assert.deepEqual(r2.removed, ["b"]);
  s.close();
  await ts.stop();
});

test("delta: initial_resource_versions on reconnect: unchanged resources are not resent", async () => {
  const ts = await startTestServer();
  const first = new TestDeltaStream(connect(ts.port));
  first.send({ typeUrl: CLUSTER });
  const r1 = await first.next();
  first.close();
  const have = Object.fromEntries(r1.resources.map((r) => [r.name, r.version]));
  have["gone"] = "old";
  ts.set([cluster("a"), cluster("b", "7s"), endpoints("a", 8001), endpoints("b", 8002), listener("l1", 10001, "r1"), route("r1", "a")]);
  const again = new TestDeltaStream(connect(ts.port));
  again.send({ typeUrl: CLUSTER, initial: have });
  const r2 = await again.next();
  assert.deepEqual(names(r2), ["b"], "a is unchanged, b changed");
  assert.deepEqual(r2.removed, ["gone"]);
  again.close();
  await ts.stop();
});

test("delta: subscriptions are honoured even with a stale nonce; unknown names come back as removed", async () => {
  const ts = await startTestServer();
  const s = new TestDeltaStream(connect(ts.port));
  s.send({ typeUrl: ENDPOINT, subscribe: ["a"] });
  const r1 = await s.next();
  assert.deepEqual(names(r1), ["a"]);
  s.ack(r1);
  ts.set([cluster("a"), cluster("b"), endpoints("a", 8001, 8011), endpoints("b", 8002), listener("l1", 10001, "r1"), route("r1", "a")]);
  const r2 = await s.next();
  // Subscribe to b and to a name that does not exist, quoting the old nonce.
  s.send({ typeUrl: ENDPOINT, subscribe: ["b", "nope"], nonce: r1.nonce });
  const r3 = await s.next();
  assert.deepEqual(names(r3), ["b"]);
  assert.deepEqual(r3.removed, ["nope"], "a subscribed name that does not exist is reported as removed");
  s.ack(r2);
  s.ack(r3);
  // Unsubscribe a: later changes to a are not sent.
  s.send({ typeUrl: ENDPOINT, unsubscribe: ["a"] });
  await quiet(s);
  ts.set([cluster("a"), cluster("b"), endpoints("a", 7001), endpoints("b", 8002), listener("l1", 10001, "r1"), route("r1", "a"), endpoints("nope", 1)]);
  const r4 = await s.next();
  assert.deepEqual(names(r4), ["nope"], "a name asked for before it existed arrives when it appears");
  s.close();
  await ts.stop();
});

test("delta: a NACKed update is recorded and not resent", async () => {
  const ts = await startTestServer();
  const s = new TestDeltaStream(connect(ts.port));
  s.send({ typeUrl: CLUSTER });
  s.ack(await s.next());
  ts.set([cluster("a", "9s"), cluster("b"), endpoints("a", 8001), endpoints("b", 8002), listener("l1", 10001, "r1"), route("r1", "a")]);
  const r2 = await s.next();
  s.ack(r2, "connect_timeout too long");
  await quiet(s, 250);
  const sync = ts.server.syncz() as { types: Record<string, { status: string; lastError: { message: string } }> }[];
  assert.equal(sync[0]!.types.clusters!.status, "ERROR");
  assert.equal(sync[0]!.types.clusters!.lastError.message, "connect_timeout too long");
  s.close();
  await ts.stop();
});

test("delta: make-before-break order, removed clusters last", async () => {
  const ts = await startTestServer();
  const s = new TestDeltaStream(connect(ts.port));
  s.send({ typeUrl: CLUSTER });
  s.ack(await s.next());
  s.send({ typeUrl: ENDPOINT, subscribe: ["a", "b"] });
  s.ack(await s.next());
  s.send({ typeUrl: LISTENER });
  s.ack(await s.next());
  s.send({ typeUrl: ROUTE, subscribe: ["r1"] });
  s.ack(await s.next());
  ts.set([cluster("b"), cluster("c"), endpoints("b", 9002), endpoints("c", 9003), listener("l1", 10002, "r1"), route("r1", "c")]);
  const got = [await s.next(), await s.next(), await s.next(), await s.next()];
  assert.deepEqual(
    got.map((r) => r.typeUrl),
    [CLUSTER, ENDPOINT, LISTENER, ROUTE],
  );
  assert.deepEqual(names(got[0]!), ["c"]);
  assert.deepEqual(got[0]!.removed, [], "a is not removed before routes move off it");
  for (const r of got) s.ack(r);
  const last = await s.next();
  assert.equal(last.typeUrl, CLUSTER);
  assert.deepEqual(last.removed, ["a"]);
  assert.deepEqual(names(last), []);
  s.close();
  await ts.stop();
});

test("delta: the per-type EDS service works without ADS", async () => {
  const ts = await startTestServer(baseResources());
  const s = new TestDeltaStream(connect(ts.port), undefined, {}, "/envoy.service.endpoint.v3.EndpointDiscoveryService/DeltaEndpoints");
  s.send({ typeUrl: ENDPOINT, subscribe: ["b"] });
  assert.deepEqual(names(await s.next()), ["b"]);
  s.close();
  await ts.stop();
});

test("delta: a changed cluster gets its (unchanged) endpoints again; an unchanged one does not", async () => {
  const ts = await startTestServer();
  const s = new TestDeltaStream(connect(ts.port));
  s.send({ typeUrl: CLUSTER });
  s.ack(await s.next());
  s.send({ typeUrl: ENDPOINT, subscribe: ["a", "b"] });
  s.ack(await s.next());
  ts.set([cluster("a", "4s"), cluster("b"), endpoints("a", 8001), endpoints("b", 8002), listener("l1", 10001, "r1"), route("r1", "a")]);
  const cds = await s.next();
  assert.deepEqual([cds.typeUrl, names(cds)], [CLUSTER, ["a"]]);
  const eds = await s.next();
  assert.deepEqual([eds.typeUrl, names(eds)], [ENDPOINT, ["a"]]);
  s.close();
  await ts.stop();
});
