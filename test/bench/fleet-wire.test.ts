/** The fleet's hand-written protobuf reading and writing agrees with the Envoy protos. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { messageType } from "../../src/xds/protos";
import { decodeRequest } from "../../src/server/grpc-server";
import { sotwResponse, deltaResponse } from "../../src/server/responses";
import { CLUSTER, LISTENER } from "../../src/xds/types";
import { cluster, listener } from "../support/fixtures";
import { encodeNode, deltaRequest, listenerRouteNames, readDeltaResponse, readSotwResponse, resourceName, sotwRequest } from "../../bench/fleet/messages";
import { GrpcDeframer, encodeStruct, grpcFrame } from "../../bench/wire";
import { FleetClient } from "../../bench/fleet/client";

test("requests written by hand decode with the Envoy protos", () => {
  const node = encodeNode(
    "sidecar~10.0.0.1~a.ns~ns.svc.cluster.local",
    "a.ns",
    encodeStruct({ NAMESPACE: "ns", LABELS: { app: "a" }, N: 3, B: true, L: ["x"] }),
  );
  const req = messageType("envoy.service.discovery.v3.DiscoveryRequest").toObject(
    messageType("envoy.service.discovery.v3.DiscoveryRequest").decode(
      sotwRequest({ version: "v1", node, names: ["a", "b"], typeUrl: CLUSTER, nonce: "n1", error: "bad" }),
    ),
    { defaults: false },
  ) as Record<string, any>;
  assert.equal(req.version_info, "v1");
  assert.deepEqual(req.resource_names, ["a", "b"]);
  assert.equal(req.type_url, CLUSTER);
  assert.equal(req.response_nonce, "n1");
  assert.equal(req.error_detail.message, "bad");
  assert.equal(req.node.id, "sidecar~10.0.0.1~a.ns~ns.svc.cluster.local");
  // The server's own request decoding sees the node metadata as JSON.
  const seen = decodeRequest("sotw", sotwRequest({ version: "", node, names: [], typeUrl: CLUSTER, nonce: "" }));
  assert.deepEqual(seen.node?.metadata, { NAMESPACE: "ns", LABELS: { app: "a" }, N: 3, B: true, L: ["x"] });
  assert.equal(seen.node?.cluster, "a.ns");

  const d = messageType("envoy.service.discovery.v3.DeltaDiscoveryRequest").toObject(
    messageType("envoy.service.discovery.v3.DeltaDiscoveryRequest").decode(
      deltaRequest({ typeUrl: LISTENER, subscribe: ["x"], unsubscribe: ["y"], nonce: "7" }),
    ),
  ) as Record<string, any>;
  assert.deepEqual([d.type_url, d.resource_names_subscribe, d.resource_names_unsubscribe, d.response_nonce], [LISTENER, ["x"], ["y"], "7"]);
});

test("responses are read at the top level; names and RDS names come from the resource bytes", () => {
  const l = listener("0.0.0.0_9080", 9080, "9080");
  const { bytes: buf, nonce } = sotwResponse(LISTENER, "ver", [l], undefined, () => "p1");
  const r = readSotwResponse(buf);
  assert.deepEqual([r.version, r.typeUrl, r.nonce, r.resources.length], ["ver", LISTENER, nonce, 1]);
  assert.equal(resourceName(buf, r.resources[0]!), "0.0.0.0_9080");
  const routes = new Set<string>();
  listenerRouteNames(buf, r.resources[0]!, routes);
  assert.deepEqual([...routes], ["9080"]);

  const c = cluster("outbound|9080||a");
  const dbuf = deltaResponse(CLUSTER, "sys", [c], ["gone"], "n2");
  const d = readDeltaResponse(dbuf);
  assert.deepEqual([d.systemVersion, d.typeUrl, d.nonce, d.removed], ["sys", CLUSTER, "n2", ["gone"]]);
  assert.deepEqual([d.resources[0]!.name, d.resources[0]!.version], ["outbound|9080||a", c.version]);
  assert.equal(resourceName(dbuf, d.resources[0]!.value!), "outbound|9080||a");
});

test("the gRPC deframer handles split and coalesced messages", () => {
  const got: string[] = [];
  const de = new GrpcDeframer((m) => got.push(m.toString()));
  const stream = Buffer.concat([grpcFrame(Buffer.from("hello")), grpcFrame(Buffer.from("")), grpcFrame(Buffer.from("world!"))]);
  for (let i = 0; i < stream.length; i += 3) de.push(stream.subarray(i, i + 3));
  de.push(Buffer.concat([grpcFrame(Buffer.from("a")), grpcFrame(Buffer.from("b"))]));
  assert.deepEqual(got, ["hello", "", "world!", "a", "b"]);
});

test("a SotW client subscribes EDS to EDS clusters, ACKs, and records an armed change by its marker", () => {
  const sent: Buffer[] = [];
  const counters = { bytes: 0, responses: 0, acks: 0, nacks: 0, disconnects: 0 };
  const client = new FleetClient(0, "sotw", encodeNode("n", "c", Buffer.alloc(0)), (m) => sent.push(m), counters);
  client.start();
  assert.equal(sent.length, 2);
  client.arm({ id: 1, track: "t", markers: { [CLUSTER]: Buffer.from("mk-x") } });
  const response = sotwResponse(CLUSTER, "v1", [cluster("outbound|1||mk-x")], undefined, () => "p1");
  client.onMessage(response.bytes);
  const reqType = messageType("envoy.service.discovery.v3.DiscoveryRequest");
  const decoded = sent.slice(2).map((b) => reqType.toObject(reqType.decode(b)) as Record<string, any>);
  assert.equal(decoded[0]!.response_nonce, response.nonce, "ACK first");
  assert.deepEqual(decoded[1]!.resource_names, ["outbound|1||mk-x"], "then EDS by the cluster's name");
  assert.ok(client.results.has(1));
  assert.equal(counters.acks, 1);
});
