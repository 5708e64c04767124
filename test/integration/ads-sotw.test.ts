/** State-of-the-world ADS protocol rules, driven by a raw grpc-js client. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { CLUSTER, ENDPOINT, LISTENER, ROUTE } from "../../src/xds/types";
import { messageType } from "../../src/xds/protos";
import { ALL_TYPES, messageName } from "../../src/xds/types";
import { TestSotwStream, connect } from "../support/ads-client";
import { baseResources, cluster, endpoints, listener, route, startTestServer } from "../support/fixtures";

const quiet = async (s: TestSotwStream, ms = 150) => assert.deepEqual(await s.inbox.drain(ms), [], "expected no further response");

test("initial wildcard CDS gets every cluster; an ACK gets no response; syncz shows SYNCED", async () => {
  const ts = await startTestServer();
  const s = new TestSotwStream(connect(ts.port));
  s.send({ typeUrl: CLUSTER });
  const r = await s.next();
  assert.equal(r.typeUrl, CLUSTER);
  assert.deepEqual(r.names, ["a", "b"]);
  assert.ok(r.version && r.nonce);
  s.ack(r);
  await quiet(s);
  const sync = ts.server.syncz() as { types: Record<string, { status: string; ackedVersion: string }> }[];
  assert.equal(sync[0]!.types.clusters!.status, "SYNCED");
  assert.equal(sync[0]!.types.clusters!.ackedVersion, r.version);
  s.close();
  await ts.stop();
});

test("same content gives the same version; changed content a new one", async () => {
  const ts = await startTestServer();
  const s = new TestSotwStream(connect(ts.port));
  s.send({ typeUrl: CLUSTER });
  const r1 = await s.next();
  s.ack(r1);
  ts.set(baseResources()); // equal content rebuilt: nothing to send
  await quiet(s);
  ts.set([...baseResources(), cluster("c"), endpoints("c", 8003)]);
  const r2 = await s.next();
  assert.deepEqual(r2.names, ["a", "b", "c"]);
  assert.notEqual(r2.version, r1.version);
  s.close();
  await ts.stop();
});

test("NACK is decided by error_detail: recorded as ERROR, the rejected version is not resent, a new one is", async () => {
  const ts = await startTestServer();
  const s = new TestSotwStream(connect(ts.port));
  s.send({ typeUrl: CLUSTER });
  const r1 = await s.next();
  // NACK carrying the same version string as the response: still a NACK.
  s.ack(r1, [], "cluster a: bad connect_timeout");
  await quiet(s, 250);
  const sync = ts.server.syncz() as { types: Record<string, { status: string; lastError: { message: string } }> }[];
  assert.equal(sync[0]!.types.clusters!.status, "ERROR");
  assert.equal(sync[0]!.types.clusters!.lastError.message, "cluster a: bad connect_timeout");
  ts.set([cluster("a", "2s"), cluster("b"), endpoints("a", 8001), endpoints("b", 8002), listener("l1", 10001, "r1"), route("r1", "a")]);
  const r2 = await s.next();
  assert.notEqual(r2.version, r1.version);
  assert.equal(r2.resources.find((c) => c.name === "a")!.connect_timeout, "2s");
  s.close();
  await ts.stop();
});

test("a stale nonce is ignored, but a subscription change it carries is not lost", async () => {
  const ts = await startTestServer();
  const s = new TestSotwStream(connect(ts.port));
  s.send({ typeUrl: ENDPOINT, names: ["a"] });
  const r1 = await s.next();
  assert.deepEqual(r1.names, ["a"]);
  // The server moves on: a new response (nonce 2) is in flight after r1's ACK.
  s.ack(r1, ["a"]);
  ts.set([cluster("a"), cluster("b"), endpoints("a", 8001, 8011), endpoints("b", 8002), listener("l1", 10001, "r1"), route("r1", "a")]);
  const r2 = await s.next();
  assert.notEqual(r2.nonce, r1.nonce);
  // A request still carrying r1's nonce, same names: stale, ignored.
  s.send({ typeUrl: ENDPOINT, names: ["a"], nonce: r1.nonce, version: r1.version });
  await quiet(s);
  // Stale again, but now asking for b as well: b must arrive.
  s.send({ typeUrl: ENDPOINT, names: ["a", "b"], nonce: r1.nonce, version: r1.version });
  const r3 = await s.next();
  assert.deepEqual(r3.names, ["a", "b"]);
  s.close();
  await ts.stop();
});

test("legacy wildcard: empty names mean wildcard only until names were given; '*' is explicit wildcard", async () => {
  const ts = await startTestServer();
  const s = new TestSotwStream(connect(ts.port));
  s.send({ typeUrl: CLUSTER });
  const r1 = await s.next();
  assert.deepEqual(r1.names, ["a", "b"]);
  s.ack(r1, ["a"]); // names given: a only
  const r2 = await s.next();
  assert.deepEqual(r2.names, ["a"]);
  s.ack(r2, []); // empty after names were given: not wildcard any more
  const r3 = await s.next();
  assert.deepEqual(r3.names, []);
  s.ack(r3, ["*", "a"]); // explicit wildcard again
  const r4 = await s.next();
  assert.deepEqual(r4.names, ["a", "b"]);
  s.close();
  await ts.stop();
});

test("RDS/EDS carry what was asked; names asked before they exist are sent when they appear", async () => {
  const ts = await startTestServer();
  const s = new TestSotwStream(connect(ts.port));
  s.send({ typeUrl: ENDPOINT, names: ["b", "later"] });
  const r1 = await s.next();
  assert.deepEqual(r1.names, ["b"]);
  s.ack(r1, ["b", "later"]);
  await quiet(s);
  ts.set([...baseResources(), endpoints("later", 9000)]);
  const r2 = await s.next();
  // EDS is not full-state: the push carries what the client lacks, under the new version.
  assert.deepEqual(r2.names, ["later"]);
  assert.notEqual(r2.version, r1.version);
  s.close();
  await ts.stop();
});

test("make-before-break: CDS, EDS, LDS, RDS in order; a removed cluster leaves CDS last", async () => {
  const ts = await startTestServer();
  const s = new TestSotwStream(connect(ts.port));
  // Subscribe like Envoy: CDS, EDS for the clusters, LDS, RDS for the listener's route.
  s.send({ typeUrl: CLUSTER });
  const c1 = await s.next();
  s.ack(c1);
  s.send({ typeUrl: ENDPOINT, names: ["a", "b"] });
  s.ack(await s.next(), ["a", "b"]);
  s.send({ typeUrl: LISTENER });
  s.ack(await s.next());
  s.send({ typeUrl: ROUTE, names: ["r1"] });
  s.ack(await s.next(), ["r1"]);
  await quiet(s);
  // Move the route from a to c (new), drop a, change b's endpoints and the listener.
  ts.set([cluster("b"), cluster("c"), endpoints("b", 9002), endpoints("c", 9003), listener("l1", 10002, "r1"), route("r1", "c")]);
  const order: string[] = [];
  const first = await s.next();
  order.push(first.typeUrl);
  assert.equal(first.typeUrl, CLUSTER);
  assert.deepEqual(first.names, ["a", "b", "c"], "the removed cluster is still there while routes use it");
  const eds = await s.next();
  order.push(eds.typeUrl);
  const lds = await s.next();
  order.push(lds.typeUrl);
  const rds = await s.next();
  order.push(rds.typeUrl);
  assert.deepEqual(order, [CLUSTER, ENDPOINT, LISTENER, ROUTE]);
  s.ack(eds, ["a", "b"]);
  s.ack(lds);
  s.ack(rds, ["r1"]);
  s.ack(first);
  const last = await s.next();
  assert.equal(last.typeUrl, CLUSTER);
  assert.deepEqual(last.names, ["b", "c"]);
  s.close();
  await ts.stop();
});

test("each resource is encoded once, however many streams receive it", async () => {
  const ts = await startTestServer();
  const client = connect(ts.port);
  const streams = Array.from({ length: 20 }, (_, i) => new TestSotwStream(client, `sidecar~10.0.0.${i}~p${i}.default~default.svc.cluster.local`));
  for (const s of streams) s.send({ typeUrl: CLUSTER });
  for (const s of streams) s.ack(await s.next());
  // Count every encode of a resource message in this process, server included.
  const encodes = countResourceEncodes();
  const next = [cluster("a", "3s"), cluster("b"), endpoints("a", 8001), endpoints("b", 8002), listener("l1", 10001, "r1"), route("r1", "a")];
  assert.equal(encodes.count, next.length, "fixtures encode each resource once");
  ts.set(next);
  const got = await Promise.all(streams.map((s) => s.next()));
  assert.ok(got.every((r) => r.resources.find((c) => c.name === "a")!.connect_timeout === "3s"));
  assert.equal(encodes.count, next.length, "serving 20 streams encoded nothing more");
  encodes.stop();
  for (const s of streams) s.close();
  await ts.stop();
});

test("malformed requests end only their own stream with a clear gRPC error", async () => {
  const ts = await startTestServer();
  const client = connect(ts.port);
  const good = new TestSotwStream(client);
  good.send({ typeUrl: CLUSTER });
  const g1 = await good.next();

  const noNode = new TestSotwStream(client);
  noNode.send({ typeUrl: CLUSTER, noNode: true });
  let end = await noNode.inbox.whenEnded(2000);
  assert.equal(end.code, grpc.status.INVALID_ARGUMENT);
  assert.match(end.details, /first request on a stream must carry node\.id/);

  const badType = new TestSotwStream(client);
  badType.send({ typeUrl: "type.googleapis.com/envoy.nope.Nope" });
  end = await badType.inbox.whenEnded(2000);
  assert.equal(end.code, grpc.status.INVALID_ARGUMENT);
  assert.match(end.details, /unknown or unsupported type_url "type.googleapis.com\/envoy.nope.Nope"/);

  const badName = new TestSotwStream(client);
  badName.send({ typeUrl: ENDPOINT, names: ["ok", "bad\u0001name"] });
  end = await badName.inbox.whenEnded(2000);
  assert.match(end.details, /invalid resource name/);

  const badNode = new TestSotwStream(client, "bad~node");
  badNode.send({ typeUrl: CLUSTER });
  end = await badNode.inbox.whenEnded(2000);
  assert.match(end.details, /cannot serve node "bad~node": bad node id/);

  // The good stream still works.
  good.ack(g1);
  ts.set([...baseResources(), cluster("z"), endpoints("z", 1)]);
  assert.deepEqual((await good.next()).names, ["a", "b", "z"]);
  good.close();
  await ts.stop();
});

test("per-type services (CDS) serve clients that do not use ADS", async () => {
  const ts = await startTestServer();
  const s = new TestSotwStream(connect(ts.port), undefined, {}, "/envoy.service.cluster.v3.ClusterDiscoveryService/StreamClusters");
  s.send({ typeUrl: CLUSTER });
  assert.deepEqual((await s.next()).names, ["a", "b"]);
  const wrong = new TestSotwStream(connect(ts.port), undefined, {}, "/envoy.service.cluster.v3.ClusterDiscoveryService/StreamClusters");
  wrong.send({ typeUrl: LISTENER });
  assert.match((await wrong.inbox.whenEnded(2000)).details, /unknown or unsupported type_url/);
  s.close();
  await ts.stop();
});

test("a changed cluster gets its (unchanged) endpoints again, so Envoy can finish warming it", async () => {
  const ts = await startTestServer();
  const s = new TestSotwStream(connect(ts.port));
  s.send({ typeUrl: CLUSTER });
  s.ack(await s.next());
  s.send({ typeUrl: ENDPOINT, names: ["a", "b"] });
  s.ack(await s.next(), ["a", "b"]);
  await quiet(s);
  ts.set([cluster("a", "4s"), cluster("b"), endpoints("a", 8001), endpoints("b", 8002), listener("l1", 10001, "r1"), route("r1", "a")]);
  const cds = await s.next();
  assert.equal(cds.typeUrl, CLUSTER);
  const eds = await s.next();
  assert.equal(eds.typeUrl, ENDPOINT);
  assert.deepEqual(eds.names, ["a", "b"]);
  s.close();
  await ts.stop();
});

test("SotW EDS/RDS pushes carry only what changed; a new request gets everything asked", async () => {
  const ts = await startTestServer();
  const s = new TestSotwStream(connect(ts.port));
  s.send({ typeUrl: ENDPOINT, names: ["a", "b"] });
  const r1 = await s.next();
  assert.deepEqual(r1.names, ["a", "b"]);
  s.ack(r1, ["a", "b"]);
  ts.set([cluster("a"), cluster("b"), endpoints("a", 8001), endpoints("b", 7777), listener("l1", 10001, "r1"), route("r1", "a")]);
  const r2 = await s.next();
  assert.deepEqual(r2.names, ["b"], "only the changed assignment");
  s.ack(r2, ["a", "b"]);
  s.send({ typeUrl: ENDPOINT, names: ["a", "b"] }); // empty nonce: a re-request
  assert.deepEqual((await s.next()).names, ["a", "b"]);
  s.close();
  await ts.stop();
});

/** Wraps `encode` of the four resource message types to count calls, until `stop`. */
function countResourceEncodes(): { count: number; stop(): void } {
  const counter = { count: 0, stop: () => undefined as void };
  const restore: (() => void)[] = [];
  for (const t of ALL_TYPES) {
    const type = messageType(messageName(t));
    const original = type.encode;
    type.encode = function (this: typeof type, ...args: Parameters<typeof original>) {
      counter.count++;
      return original.apply(this, args);
    } as typeof original;
    restore.push(() => (type.encode = original));
  }
  counter.stop = () => restore.forEach((r) => r());
  return counter;
}
