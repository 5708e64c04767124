/** The fidelity harness's comparison (test/fidelity/diff.ts) and accepted-differences file (test/fidelity/accepted.ts). */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { compareResources, leaves, type Json } from "../fidelity/diff";
import { acceptedEntry, loadAccepted } from "../fidelity/accepted";
import { ACCEPTED_FILE } from "../fidelity/run";

const one = (name: string, body: Json): Map<string, Json> => new Map([[name, { name, ...body }]]);

test("identical resources: every leaf is an identical aspect", () => {
  const r = { type: "EDS", lb_policy: "ROUND_ROBIN", circuit_breakers: { thresholds: [{ max_connections: 1 }] } };
  const c = compareResources("clusters", one("c", r), one("c", r));
  assert.equal(c.differences.length, 0);
  assert.equal(c.aspects, leaves({ name: "c", ...r }));
  assert.equal(c.identical, c.aspects);
});

test("named list members are matched by name: one extra filter is one difference, and order is compared", () => {
  const f = (...names: string[]) => ({ http_filters: names.map((name) => ({ name, typed_config: { "@type": `t/${name}` } })) });
  const c = compareResources("listeners", one("l", f("a", "x", "b", "router")), one("l", f("b", "a", "router")));
  const paths = c.differences.map((d) => `${d.side} ${d.path}`);
  assert.deepEqual(paths, ["istiod-only http_filters[x]", "differs http_filters(order)"]);
  assert.deepEqual(c.differences[1]!.istiod, ["a", "x", "b", "router"]);
});

test("a list one side leaves out is compared as an empty list, member by member", () => {
  const c = compareResources("listeners", one("l", { listener_filters: [{ name: "http_inspector" }] }), one("l", {}));
  assert.deepEqual(
    c.differences.map((d) => `${d.side} ${d.path}`),
    ["istiod-only listener_filters[http_inspector]"],
  );
});

test("scalar lists compare as sets plus order; endpoints match by address; missing resources are whole differences", () => {
  const c = compareResources(
    "endpoints",
    new Map<string, Json>([
      ["e", { lb_endpoints: [{ endpoint: { address: { socket_address: { address: "10.0.0.2", port_value: 80 } } } }], domains: ["a", "b"] }],
      ["only-istiod", {}],
    ]),
    new Map<string, Json>([
      ["e", { lb_endpoints: [{ endpoint: { address: { socket_address: { address: "10.0.0.3", port_value: 80 } } } }], domains: ["b", "a", "c"] }],
    ]),
  );
  assert.deepEqual(
    c.differences.map((d) => `${d.resource} ${d.side} ${d.path}`),
    [
      "e mini-pilot-only domains[=c]",
      "e differs domains(order)",
      "e istiod-only lb_endpoints[10.0.0.2:80]",
      "e mini-pilot-only lb_endpoints[10.0.0.3:80]",
      "only-istiod istiod-only ",
    ],
  );
});

test("skipped (normalised) subtrees are neither aspects nor differences", () => {
  const c = compareResources("clusters", one("c", { a: 1, filters: [{ name: "istio.metadata_exchange" }] }), one("c", { a: 1 }), (_t, _r, p) =>
    p.endsWith("[istio.metadata_exchange]"),
  );
  assert.equal(c.differences.length, 0);
  assert.equal(c.aspects, 3); // name, a, and the filter list, empty on both sides once the Istio-only filter is out
});

test("filter chains match by their filter_chain_match (set-like lists sorted); repeated names are numbered", () => {
  const chain = (alpn: string[], ...filters: string[]) => ({
    name: "0.0.0.0_80",
    filter_chain_match: { transport_protocol: "tls", application_protocols: alpn },
    filters: filters.map((name) => ({ name })),
  });
  const c = compareResources(
    "listeners",
    one("l", { filter_chains: [chain(["istio", "h2"], "rbac", "rbac", "tcp_proxy")] }),
    one("l", { filter_chains: [chain(["h2", "istio"], "rbac", "tcp_proxy")] }),
  );
  const at = 'filter_chains[match {"application_protocols":["h2","istio"],"transport_protocol":"tls"}]';
  assert.deepEqual(c.differences.map((d) => `${d.side} ${d.path}`).sort(), [
    `differs ${at}.filter_chain_match.application_protocols(order)`,
    `istiod-only ${at}.filters[rbac#2]`,
  ]);
});

function tmpFile(text: string): string {
  const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "fidelity-")), "accepted.yaml");
  fs.writeFileSync(f, text);
  return f;
}

test("accepted entries match by case, type, resource, path glob and side; the first match wins", () => {
  const file = loadAccepted(
    tmpFile(`accepted:
  - {type: routes, path: "*.max_grpc_timeout", side: istiod-only, reason: "pending: defaults"}
  - {path: "*", cases: ["gw-*"], reason: "catch-all for gateways"}
`),
  );
  const d = { type: "routes", resource: "80", path: "virtual_hosts[a:80].routes[default].route.max_grpc_timeout", side: "istiod-only" as const };
  assert.equal(acceptedEntry(file, "any", d)?.reason, "pending: defaults");
  assert.equal(acceptedEntry(file, "any", { ...d, side: "mini-pilot-only" }), undefined);
  assert.equal(acceptedEntry(file, "gw-http", { ...d, type: "clusters" })?.reason, "catch-all for gateways");
});

test("a bad accepted-differences file is refused with the entry and field", () => {
  assert.throws(() => loadAccepted(tmpFile(`accepted:\n  - {path: "x"}\n`)), /accepted\[0\]\.reason: every entry needs a reason/);
  assert.throws(() => loadAccepted(tmpFile(`accepted:\n  - {path: "x", reason: r, side: both}\n`)), /accepted\[0\]\.side: "both" is not one of/);
  assert.throws(() => loadAccepted(tmpFile(`normalize:\n  - {path: "x", reason: r, typo: 1}\n`)), /normalize\[0\]: unknown field "typo"/);
  assert.throws(() => loadAccepted(tmpFile(`extra: []\n`)), /unknown section "extra"/);
});

test("the project's accepted-differences file loads, and every entry has a reason", () => {
  const file = loadAccepted(ACCEPTED_FILE);
  assert.ok(file.accepted.length > 0 && file.normalize.length > 0);
  for (const e of [...file.normalize, ...file.accepted]) assert.ok(e.reason.length > 10, `entry ${e.path}: reason too short`);
});
