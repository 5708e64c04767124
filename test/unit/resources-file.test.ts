/** `serve --resources` input: grouped Envoy resources, refused with file:line and the reason. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadResourcesText } from "../../src/sources/resources-file";

const good = `clusters:
  - name: a
    type: EDS
    eds_cluster_config: {eds_config: {ads: {}, resource_api_version: V3}}
    connect_timeout: 0.25s
endpoints:
  - "@type": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment
    cluster_name: a
    endpoints:
      - lb_endpoints:
          - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 8080}}}
            load_balancing_weight: 80
`;

test("a valid file loads every group, wrappers like load_balancing_weight included", () => {
  const r = loadResourcesText(good, "r.yaml");
  assert.ok(r.ok);
  assert.deepEqual(
    r.resources.map((x) => `${x.typeUrl.split(".").pop()}:${x.name}`),
    ["Cluster:a", "ClusterLoadAssignment:a"],
  );
});

test("YAML that does not parse: file:line and the parser's reason", () => {
  const r = loadResourcesText("clusters:\n  - name: a\n    type: [EDS\n", "r.yaml");
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.errors[0]! : "", /^r\.yaml:[34]: /);
});

test("a resource that does not encode: file:line of the resource, field path, reason", () => {
  const bad = good.replace("connect_timeout: 0.25s", "connect_timeout: 5");
  const r = loadResourcesText(bad, "r.yaml");
  assert.equal(r.ok, false);
  assert.deepEqual(!r.ok && r.errors, ['r.yaml:2: clusters[0].connect_timeout: expected a duration like "0.25s", got number 5']);
});

test("misspelled keys, unknown groups, wrong @type and duplicate names are refused", () => {
  const typo = loadResourcesText("clusters:\n  - name: a\n    conect_timeout: 1s\n", "f.yaml");
  assert.deepEqual(!typo.ok && typo.errors, ['f.yaml:2: clusters[0].conect_timeout: unknown field "conect_timeout" in envoy.config.cluster.v3.Cluster']);
  const group = loadResourcesText("scoped_routes: []\n", "f.yaml");
  assert.match(!group.ok ? group.errors[0]! : "", /f\.yaml:1: unknown group "scoped_routes"/);
  const wrongType = loadResourcesText('clusters:\n  - "@type": type.googleapis.com/envoy.config.listener.v3.Listener\n    name: a\n', "f.yaml");
  assert.match(!wrongType.ok ? wrongType.errors[0]! : "", /does not belong under this group/);
  const dup = loadResourcesText("clusters:\n  - name: a\n  - name: a\n", "f.yaml");
  assert.deepEqual(!dup.ok && dup.errors, ['f.yaml:3: clusters[1]: duplicate name "a"']);
});
