import { test } from "node:test";
import assert from "node:assert/strict";
import { fromJson, toJson, ProtoJsonError, parseDuration, formatDuration } from "../../src/xds/json";
import { messageType } from "../../src/xds/protos";
import { encodeResource, resourceToJson } from "../../src/xds/resource";
import { CLUSTER, LISTENER, ROUTE } from "../../src/xds/types";

const roundTrip = (typeName: string, json: unknown) => {
  const t = messageType(typeName);
  const bytes = t.encode(fromJson(t, json)).finish();
  return toJson(t, t.decode(bytes) as unknown as Record<string, unknown>);
};

test("durations parse and format in proto3 JSON form", () => {
  assert.deepEqual(parseDuration("0.25s", "x"), { seconds: 0, nanos: 250_000_000 });
  assert.deepEqual(parseDuration("10s", "x"), { seconds: 10, nanos: 0 });
  assert.equal(formatDuration(0, 250_000_000), "0.250s");
  assert.equal(formatDuration(1, 1000), "1.000001s");
  assert.equal(formatDuration(3, 0), "3s");
  assert.throws(() => parseDuration("5", "a.b"), /a\.b: expected a duration/);
  assert.throws(() => parseDuration("1m", "a"), ProtoJsonError);
});

test("wrapper types are plain values in both directions (weight: 80 reaches the wire as 80)", () => {
  const json = {
    clusters: [
      { name: "a", weight: 80 },
      { name: "b", weight: 20 },
    ],
    total_weight: 100,
  };
  const t = messageType("envoy.config.route.v3.WeightedCluster");
  const wire = fromJson(t, json) as { clusters: { weight: { value: number } }[] };
  assert.equal(wire.clusters[0]!.weight.value, 80);
  const decoded = t.decode(t.encode(wire).finish()) as unknown as { clusters: { weight: { value: number } }[] };
  assert.equal(decoded.clusters[0]!.weight.value, 80);
  assert.deepEqual(roundTrip("envoy.config.route.v3.WeightedCluster", json), json);
});

test("enums by name, Any with @type, Struct as a plain object, durations round-trip", () => {
  const cluster = {
    name: "outbound|9999||bill-service.default.svc.cluster.local",
    type: "EDS",
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: "V3" }, service_name: "x" },
    connect_timeout: "0.250s",
    lb_policy: "LEAST_REQUEST",
    circuit_breakers: { thresholds: [{ max_connections: 4294967295, max_retries: 3 }] },
    typed_extension_protocol_options: {
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        explicit_http_config: { http2_protocol_options: {} },
      },
    },
    metadata: { filter_metadata: { istio: { services: [{ host: "h", port: 1, ok: true }], s: "x" } } },
  };
  assert.deepEqual(roundTrip("envoy.config.cluster.v3.Cluster", cluster), cluster);
});

test("64-bit integers are accepted as numbers or strings and printed as strings", () => {
  const t = "envoy.config.route.v3.RouteAction.MaxStreamDuration";
  assert.ok(messageType(t));
  const json = { max_stream_duration: "5s" };
  assert.deepEqual(roundTrip(t, json), json);
  const fp = "envoy.type.v3.FractionalPercent";
  assert.deepEqual(roundTrip(fp, { numerator: 50, denominator: "TEN_THOUSAND" }), { numerator: 50, denominator: "TEN_THOUSAND" });
});

test("unknown keys are refused with the field path instead of silently dropped", () => {
  const bad = { name: "l", filter_chains: [{ filters: [{ name: "f", typo_config: {} }] }] };
  assert.throws(
    () => encodeResource(LISTENER, bad),
    (e: unknown) =>
      e instanceof ProtoJsonError && e.message === 'filter_chains[0].filters[0].typo_config: unknown field "typo_config" in envoy.config.listener.v3.Filter',
  );
  assert.throws(() => encodeResource(CLUSTER, { name: "c", lb_policy: "NOPE" }), /lb_policy: expected one of ROUND_ROBIN/);
  assert.throws(() => encodeResource(CLUSTER, { name: "c", connect_timeout: 5 }), /connect_timeout: expected a duration/);
  assert.throws(() => encodeResource(CLUSTER, { name: "c", per_connection_buffer_limit_bytes: -1 }), /out of range for uint32/);
  assert.throws(
    () => encodeResource(CLUSTER, { name: "c", typed_extension_protocol_options: { x: { "@type": "type.googleapis.com/nope.Nope" } } }),
    /typed_extension_protocol_options\.x\.@type: unknown type type\.googleapis\.com\/nope\.Nope/,
  );
});

test("two members of one oneof are refused", () => {
  const route = { name: "r", virtual_hosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/", path: "/x" }, route: { cluster: "c" } }] }] };
  assert.throws(() => encodeResource(ROUTE, route), /only one of oneof "path_specifier"/);
});

test("lowerCamelCase keys are accepted on input and printed back in snake_case", () => {
  const r = encodeResource(CLUSTER, { name: "c", connectTimeout: "1s" });
  assert.deepEqual(resourceToJson(r), { name: "c", connect_timeout: "1s" });
});

test("map and Struct keys are sorted, so equal input gives equal bytes", () => {
  const a = encodeResource(CLUSTER, { name: "c", metadata: { filter_metadata: { b: { y: 1, x: 2 }, a: {} } } });
  const b = encodeResource(CLUSTER, { name: "c", metadata: { filter_metadata: { a: {}, b: { x: 2, y: 1 } } } });
  assert.equal(a.version, b.version);
  assert.deepEqual(Buffer.from(a.bytes), Buffer.from(b.bytes));
});
