/**
 * CSDS over a real gRPC connection: a client's per-resource status follows
 * its ACKs and NACKs (REQUESTED -> ACKED, NACKED with error_state), names it
 * asked for that do not exist say DOES_NOT_EXIST, an unsupported matcher is
 * refused, and a private key in served config never leaves through CSDS.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { TestSotwStream, connect } from "../support/ads-client";
import { baseResources, startTestServer } from "../support/fixtures";
import { encodeResource } from "../../src/xds/resource";
import { messageType } from "../../src/xds/protos";
import { CLUSTER, ENDPOINT, LISTENER } from "../../src/xds/types";

const KEY_MARK = "THIS-IS-THE-PRIVATE-KEY";

function tlsListener() {
  return encodeResource(LISTENER, {
    name: "tls",
    address: { socket_address: { address: "127.0.0.1", port_value: 18443 } },
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.tcp_proxy",
            typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "t", cluster: "a" },
          },
        ],
        transport_socket: {
          name: "envoy.transport_sockets.tls",
          typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            common_tls_context: { tls_certificates: [{ certificate_chain: { inline_string: "CHAIN" }, private_key: { inline_string: KEY_MARK } }] },
          },
        },
      },
    ],
  });
}

type Wire = Record<string, any>; // decoded protobuf, walked by the assertions

function fetchStatus(client: grpc.Client, request: Wire = {}): Promise<{ raw: Buffer; decoded: Wire }> {
  const req = messageType("envoy.service.status.v3.ClientStatusRequest");
  const res = messageType("envoy.service.status.v3.ClientStatusResponse");
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      "/envoy.service.status.v3.ClientStatusDiscoveryService/FetchClientStatus",
      (o: Wire) => Buffer.from(req.encode(req.fromObject(o)).finish()),
      (b: Buffer) => b,
      request,
      (err, raw) => (err ? reject(err) : resolve({ raw: raw!, decoded: res.toObject(res.decode(raw!), { enums: String, defaults: false }) as Wire })),
    ),
  );
}

test("CSDS: statuses follow ACK and NACK, missing names, refused matchers, no private key", async (t) => {
  const srv = await startTestServer([...baseResources(), tlsListener()]);
  t.after(() => srv.stop());
  const client = connect(srv.port);
  t.after(() => client.close());
  const s = new TestSotwStream(client, "sidecar~10.0.0.1~csds.default~default.svc.cluster.local");
  t.after(() => s.close());

  s.send({ typeUrl: LISTENER });
  const lds = await s.next();
  const first = await fetchStatus(client);
  let decoded = first.decoded;
  const raw = first.raw;
  const lOf = (d: Wire) => (d.config[0].generic_xds_configs as Wire[]).filter((g) => g.type_url === LISTENER);
  assert.deepEqual(
    lOf(decoded).map((g) => [g.name, g.config_status, g.client_status]),
    [
      ["l1", "STALE", "REQUESTED"],
      ["tls", "STALE", "REQUESTED"],
    ],
  );
  assert.ok(!raw.includes(Buffer.from(KEY_MARK)), "the private key does not leave through CSDS");
  assert.ok(raw.includes(Buffer.from("[redacted]")));

  s.ack(lds);
  s.send({ typeUrl: CLUSTER });
  const cds = await s.next();
  s.ack(cds, [], "bad cluster");
  s.send({ typeUrl: ENDPOINT, names: ["a", "nope"] });
  await s.next();
  await new Promise((r) => setTimeout(r, 100));
  ({ decoded } = await fetchStatus(client));
  const all = decoded.config[0].generic_xds_configs as Wire[];
  assert.ok(lOf(decoded).every((g) => g.config_status === "SYNCED" && g.client_status === "ACKED"));
  const clusters = all.filter((g) => g.type_url === CLUSTER);
  assert.ok(
    clusters.length === 2 && clusters.every((g) => g.config_status === "ERROR" && g.client_status === "NACKED" && g.error_state.details === "bad cluster"),
  );
  assert.deepEqual(
    all.filter((g) => g.type_url === ENDPOINT).map((g) => [g.name, g.client_status]),
    [
      ["a", "REQUESTED"],
      ["nope", "DOES_NOT_EXIST"],
    ],
  );
  assert.equal(decoded.config[0].node.id, "sidecar~10.0.0.1~csds.default~default.svc.cluster.local");

  const none = await fetchStatus(client, { node_matchers: [{ node_id: { exact: "someone-else" } }] });
  assert.deepEqual(none.decoded.config ?? [], []);
  await assert.rejects(fetchStatus(client, { node_matchers: [{ node_id: { safe_regex: { regex: ".*" } } }] }), (e: grpc.ServiceError) => {
    assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
    assert.match(e.details, /only exact, prefix, suffix and contains/);
    return true;
  });
});
