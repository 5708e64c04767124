import { test } from "node:test";
import assert from "node:assert/strict";
import * as protobuf from "protobufjs";
import { checkRules } from "../../src/xds/pgv";
import { fromJson } from "../../src/xds/json";
import { messageType } from "../../src/xds/protos";

/** Rules violated by `json` of Envoy type `typeName`, checked on the fromJson object. */
const check = (typeName: string, json: unknown): string[] => {
  const t = messageType(typeName);
  return checkRules(t, fromJson(t, json));
};

/** The same, on a message decoded from wire bytes (Long 64-bit values, prototype defaults). */
const checkDecoded = (typeName: string, json: unknown): string[] => {
  const t = messageType(typeName);
  return checkRules(t, t.decode(t.encode(fromJson(t, json)).finish()));
};

const CLUSTER = "envoy.config.cluster.v3.Cluster";
const okCluster = {
  name: "outbound|80||a.default.svc.cluster.local",
  type: "EDS",
  connect_timeout: "10s",
  eds_cluster_config: { eds_config: { ads: {}, resource_api_version: "V3" } },
};

test("a valid cluster has no violations, on the JSON object and on decoded bytes", () => {
  assert.deepEqual(check(CLUSTER, okCluster), []);
  assert.deepEqual(checkDecoded(CLUSTER, okCluster), []);
});

test("string min_len: a cluster with an empty (or missing) name", () => {
  assert.deepEqual(check(CLUSTER, { ...okCluster, name: "" }), ["name: value length must be at least 1 characters"]);
  // proto3: an absent string is "", and PGV checks it all the same.
  const { name: _unused, ...noName } = okCluster;
  assert.deepEqual(checkDecoded(CLUSTER, noName), ["name: value length must be at least 1 characters"]);
});

test("duration gt 0: connect_timeout of 0s or below is refused, unset is fine", () => {
  assert.deepEqual(check(CLUSTER, { ...okCluster, connect_timeout: "0s" }), ["connect_timeout: value must be greater than 0s"]);
  assert.deepEqual(checkDecoded(CLUSTER, { ...okCluster, connect_timeout: "-1.5s" }), ["connect_timeout: value must be greater than 0s"]);
  assert.deepEqual(check(CLUSTER, { ...okCluster, connect_timeout: "0.001s" }), []);
  const { connect_timeout: _unused, ...noTimeout } = okCluster;
  assert.deepEqual(check(CLUSTER, noTimeout), []);
});

test("duration required and ranges (HealthCheck timeout/interval, Bootstrap stats_flush_interval)", () => {
  assert.deepEqual(check("envoy.config.core.v3.HealthCheck", { tcp_health_check: {} }), [
    "timeout: value is required",
    "interval: value is required",
    "unhealthy_threshold: value is required",
    "healthy_threshold: value is required",
  ]);
  assert.deepEqual(check("envoy.config.bootstrap.v3.Bootstrap", { stats_flush_interval: "300s" }), [
    "stats_flush_interval: value must be inside range [0.001s, 300s)",
  ]);
  assert.deepEqual(check("envoy.config.bootstrap.v3.Bootstrap", { stats_flush_interval: "5s" }), []);
});

test("repeated min_items: a WeightedCluster with no clusters, a virtual host with no domains", () => {
  assert.deepEqual(check("envoy.config.route.v3.WeightedCluster", { clusters: [] }), ["clusters: value must contain at least 1 item(s)"]);
  assert.deepEqual(check("envoy.config.route.v3.WeightedCluster", {}), ["clusters: value must contain at least 1 item(s)"]);
  assert.deepEqual(check("envoy.config.route.v3.VirtualHost", { name: "v", domains: [] }), ["domains: value must contain at least 1 item(s)"]);
});

test("oneof required: a route without an action, with the path down to it", () => {
  const rc = {
    name: "80",
    virtual_hosts: [
      {
        name: "a:80",
        domains: ["a"],
        routes: [
          { match: { prefix: "/" }, route: { cluster: "c" } },
          { name: "broken", match: { prefix: "/x" } },
        ],
      },
    ],
  };
  const errs = check("envoy.config.route.v3.RouteConfiguration", rc);
  assert.equal(errs.length, 1);
  assert.match(errs[0]!, /^virtual_hosts\[0\]\.routes\[1\]\.action: value is required: set one of route, redirect, direct_response/);
  // The route's own cluster_specifier oneof is required too.
  assert.deepEqual(check("envoy.config.route.v3.RouteAction", {}), [
    "cluster_specifier: value is required: set one of cluster, cluster_header, weighted_clusters, cluster_specifier_plugin, inline_cluster_specifier_plugin",
  ]);
  assert.deepEqual(check("envoy.config.route.v3.RouteAction", { cluster: "" }), ["cluster: value length must be at least 1 characters"]);
});

test("rules inside an Any are checked through its type URL", () => {
  const listener = {
    name: "0.0.0.0_80",
    address: { socket_address: { address: "0.0.0.0", port_value: 80 } },
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
              stat_prefix: "",
              route_config: { name: "r", virtual_hosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" } }] }] },
            },
          },
        ],
      },
    ],
  };
  const errs = check("envoy.config.listener.v3.Listener", listener);
  assert.deepEqual(errs, [
    "filter_chains[0].filters[0].typed_config.stat_prefix: value length must be at least 1 characters",
    "filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].action: value is required: set one of route, redirect, direct_response, filter_action, non_forwarding_action",
  ]);
  assert.deepEqual(checkDecoded("envoy.config.listener.v3.Listener", listener), errs);
});

test("any required and message required", () => {
  assert.deepEqual(check("envoy.config.core.v3.TypedExtensionConfig", { name: "x" }), ["typed_config: value is required"]);
  assert.deepEqual(check("envoy.config.core.v3.RuntimeFeatureFlag", { runtime_key: "k" }), ["default_value: value is required"]);
  assert.deepEqual(check("envoy.config.core.v3.RuntimeFeatureFlag", { runtime_key: "k", default_value: false }), []);
});

test("header names and values: strict regexes refuse a space, loose ones only NUL/CR/LF", () => {
  const sni = "envoy.config.core.v3.UpstreamHttpProtocolOptions";
  assert.deepEqual(check(sni, { override_auto_sni_header: "x forwarded" }), [
    'override_auto_sni_header: value must be a valid HTTP header name, got "x forwarded"',
  ]);
  assert.deepEqual(check(sni, { override_auto_sni_header: ":authority" }), []);
  assert.deepEqual(check(sni, {}), [], "ignore_empty lets an empty header name through");
  // HeaderValue.key is HTTP_HEADER_NAME with strict: false, as in Envoy's protos.
  const hv = "envoy.config.core.v3.HeaderValue";
  assert.deepEqual(check(hv, { key: "x y", value: "v" }), []);
  assert.deepEqual(check(hv, { key: "x\ny", value: "a\r\nb" }), [
    'key: value must not contain NUL, CR or LF, got "x\\ny"',
    'value: value must not contain NUL, CR or LF, got "a\\r\\nb"',
  ]);
  assert.deepEqual(check(hv, { key: "", value: "v" }), ["key: value length must be at least 1 characters"]);
  assert.deepEqual(check("envoy.config.route.v3.VirtualHost", { name: "v", domains: ["ok", "bad\u0000"] }), [
    'domains[1]: value must not contain NUL, CR or LF, got "bad\\u0000"',
  ]);
});

test("enum defined_only and not_in", () => {
  assert.deepEqual(check(CLUSTER, { ...okCluster, lb_policy: 77 }), ["lb_policy: value must be one of the defined enum values, got 77"]);
  const hc = { timeout: "1s", interval: "1s", unhealthy_threshold: 3, healthy_threshold: 1, http_health_check: { path: "/healthz", method: "CONNECT" } };
  assert.deepEqual(check("envoy.config.core.v3.HealthCheck", hc), ["http_health_check.method: value must not be CONNECT"]);
  assert.deepEqual(check("envoy.config.core.v3.HealthCheck", { ...hc, http_health_check: { path: "/healthz", method: "GET" } }), []);
});

test("uint32 and double ranges, also through wrapper types and on 64-bit Longs", () => {
  const dr = "envoy.config.route.v3.DirectResponseAction";
  assert.deepEqual(check(dr, { status: 199 }), ["status: value must be inside range [200, 600)"]);
  assert.deepEqual(check(dr, { status: 600 }), ["status: value must be inside range [200, 600)"]);
  assert.deepEqual(check(dr, { status: 503 }), []);
  assert.deepEqual(check("envoy.config.cluster.v3.Cluster.PreconnectPolicy", { per_upstream_preconnect_ratio: 0.5 }), [
    "per_upstream_preconnect_ratio: value must be inside range [1, 3]",
  ]);
  // UInt64Value with lte 8388608: the rule applies to the wrapped value; decoded it is a Long.
  const ring = "envoy.config.cluster.v3.Cluster.RingHashLbConfig";
  assert.deepEqual(check(ring, { minimum_ring_size: "8388609" }), ["minimum_ring_size: value must be less than or equal to 8388608"]);
  assert.deepEqual(checkDecoded(ring, { minimum_ring_size: "8388609" }), ["minimum_ring_size: value must be less than or equal to 8388608"]);
  assert.deepEqual(checkDecoded(ring, { minimum_ring_size: 1024 }), []);
  assert.deepEqual(check(ring, {}), [], "an unset wrapper is not checked");
  // UInt32Value load_balancing_weight gte 1
  const lb = { endpoint: { address: { socket_address: { address: "10.0.0.1", port_value: 80 } } }, load_balancing_weight: 0 };
  assert.deepEqual(check("envoy.config.endpoint.v3.LbEndpoint", lb), ["load_balancing_weight: value must be greater than or equal to 1"]);
});

test("repeated unique, max_items and per-item rules; string pattern (RE2) and in", () => {
  const irp = "envoy.config.route.v3.InternalRedirectPolicy";
  assert.deepEqual(check(irp, { response_headers_to_copy: ["x-a", "x-b", "x-a"] }), ["response_headers_to_copy: repeated value must contain unique items"]);
  assert.deepEqual(check(irp, { response_headers_to_copy: ["x-a", "x\rb"] }), [
    'response_headers_to_copy[1]: value must not contain NUL, CR or LF, got "x\\rb"',
  ]);
  const hhc = "envoy.config.core.v3.HealthCheck.HttpHealthCheck";
  const many = Array.from({ length: 1001 }, (_v, i) => ({ header: { key: `h${i}`, value: "v" } }));
  assert.deepEqual(check(hhc, { path: "/", request_headers_to_add: many }), ["request_headers_to_add: value must contain no more than 1000 item(s)"]);
  assert.deepEqual(check("envoy.config.listener.v3.FilterChainMatch", { source_ports: [80, 0] }), ["source_ports[1]: value must be inside range [1, 65535]"]);
  const rm = "envoy.config.route.v3.RouteMatch";
  assert.deepEqual(check(rm, { path_separated_prefix: "/api" }), []);
  assert.deepEqual(check(rm, { path_separated_prefix: "/api/" }), ['path_separated_prefix: value does not match regex pattern "^[^?#]+[^?#/]$"']);
  assert.deepEqual(check("envoy.config.core.v3.SchemeHeaderTransformation", { scheme_to_overwrite: "ftp" }), [
    'scheme_to_overwrite: value must be in list ["http", "https"]',
  ]);
});

test("map keys and min_pairs; bool const", () => {
  assert.deepEqual(check("envoy.config.core.v3.Metadata", { filter_metadata: { "": { a: 1 }, istio: {} } }), [
    'filter_metadata key "": value length must be at least 1 characters',
  ]);
  assert.deepEqual(check("xds.type.matcher.v3.Matcher.MatcherTree.MatchMap", { map: {} }), ["map: value must contain at least 1 pair(s)"]);
  assert.deepEqual(check("envoy.config.listener.v3.ListenerFilterChainMatchPredicate", { any_match: false }), ["any_match: value must equal true"]);
});

// Envoy's loaded protos use few int32/int64 rules, so the generic numeric and
// string rules are also checked on a small proto parsed by the same parser.
const SYNTHETIC = `
syntax = "proto3";
package t;
message M {
  int32 a = 1 [(validate.rules).int32 = {gt: 0, lte: 10}];
  int64 b = 2 [(validate.rules).int64 = {in: [1, 2, 3]}];
  sint64 c = 3 [(validate.rules).sint64 = {not_in: [5]}];
  double d = 4 [(validate.rules).double = {gt: 10, lt: 5}];
  string e = 5 [(validate.rules).string = {prefix: "x-", max_len: 4}];
  repeated string f = 6 [(validate.rules).repeated = {max_items: 1, ignore_empty: true}];
  optional uint32 g = 7 [(validate.rules).uint32.const = 7];
  string h = 8 [(validate.rules).string.well_known_regex = HTTP_HEADER_NAME];
  M child = 9;
  oneof pick {
    option (validate.required) = true;
    string p = 10 [(validate.rules).string.min_len = 3];
    string q = 11;
  }
}
`;

test("generic numeric/string rules, exclusive ranges, proto3 optional, recursion, oneof members", () => {
  const root = protobuf.parse(SYNTHETIC, { keepCase: true }).root;
  root.resolveAll();
  const M = root.lookupType("t.M");
  const good = { a: 5, b: 2, c: 4, d: 11, e: "x-ab", h: "x-h", q: "" };
  assert.deepEqual(checkRules(M, good), []);
  assert.deepEqual(checkRules(M, { ...good, a: 0, b: "4", c: 5, d: 7, e: "y-abc", f: ["1", "2"], g: 6, h: "a b" }), [
    "a: value must be inside range (0, 10]",
    "b: value must be in list [1, 2, 3]",
    "c: value must not be in list [5]",
    "d: value must be greater than 10 or less than 5",
    "e: value length must be at most 4 characters",
    'e: value does not have prefix "x-"',
    "f: value must contain no more than 1 item(s)",
    "g: value must equal 7",
    'h: value must be a valid HTTP header name, got "a b"',
  ]);
  assert.deepEqual(checkRules(M, { ...good, q: undefined, child: { ...good, p: "ab", q: undefined } }, "spec"), [
    "spec.pick: value is required: set one of p, q",
    "spec.child.p: value length must be at least 3 characters",
  ]);
  // Large int64 values as decimal strings compare exactly.
  assert.deepEqual(checkRules(M, { ...good, b: "9007199254740993" }), ["b: value must be in list [1, 2, 3]"]);
});
