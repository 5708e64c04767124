/**
 * AuthorizationPolicy -> Envoy RBAC, piece by piece against istiod's output
 * (pilot/pkg/security/authz/builder testdata): matcher forms, rule shapes,
 * the TCP rules (ALLOW drops, DENY narrows), filter order, policy selection
 * (root namespace, namespace, selector, targetRef), dry-run, CUSTOM, AUDIT,
 * and that a mesh without policies gets no filter at all.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildMesh } from "../../src/model/mesh";
import { authorizationPoliciesFor } from "../../src/model/mesh-authz";
import { parseProxy, type ProxyView } from "../../src/model/proxy";
import { validateObject } from "../../src/model/validate";
import type { MeshObject } from "../../src/model/types";
import { authorizationFilters } from "../../src/generate/rbac-filters";
import { rulePolicy } from "../../src/generate/rbac-rules";
import { generate } from "../../src/generate";
import { ViewIndex } from "../../src/generate/view-key";

type Raw = Record<string, unknown>;
type J = any;

function policy(name: string, namespace: string, spec: Raw, annotations?: Record<string, string>): MeshObject {
  const r = validateObject(
    { apiVersion: "security.istio.io/v1", kind: "AuthorizationPolicy", metadata: { name, namespace, ...(annotations ? { annotations } : {}) }, spec },
    {},
  );
  assert.ok(r.ok, JSON.stringify(r));
  return r.object;
}

function proxy(namespace: string, labels: Record<string, string>, type = "sidecar"): ProxyView {
  const p = parseProxy(`${type}~10.0.0.1~pod.${namespace}~${namespace}.svc.cluster.local`, { LABELS: labels });
  assert.ok(p.ok);
  return p.proxy;
}

/** The typed_config of each RBAC filter the proxy gets, HTTP or network. */
function filters(objects: MeshObject[], p: ProxyView, kind: "http" | "network" = "http"): J[] {
  const { mesh } = buildMesh(objects);
  return authorizationFilters(mesh, p)[kind].map((f) => f.typed_config as J);
}

const httpbin = proxy("foo", { app: "httpbin", version: "v1" });

test("matchers: principals as SPIFFE URIs (exact, prefix, suffix as regex, presence), namespaces as a regex, hosts case-insensitive", () => {
  const p = rulePolicy(
    {
      from: [{ source: { principals: ["cluster.local/ns/a/sa/b", "cluster.local/ns/a/*", "*/sa/b", "*"], namespaces: ["team-*"] } }],
      to: [{ operation: { hosts: ["a.com", "*.b.com", "c.*", "*"], methods: ["GET"], paths: ["/x", "/y/*", "*.png", "*"], ports: ["80"] } }],
    },
    "foo",
    false,
    "ALLOW",
  )!;
  const ids = p.principals![0]!.and_ids!.ids!;
  assert.deepEqual(
    ids[0]!.or_ids!.ids!.map((i) => i.authenticated!.principal_name),
    [
      { exact: "spiffe://cluster.local/ns/a/sa/b" },
      { prefix: "spiffe://cluster.local/ns/a/" },
      { safe_regex: { regex: "spiffe://.*/sa/b" } },
      { safe_regex: { regex: ".+" } },
    ],
  );
  assert.deepEqual(ids[1]!.or_ids!.ids![0]!.authenticated!.principal_name, { safe_regex: { regex: ".*/ns/team-.*/.*" } });
  const rules = p.permissions![0]!.and_rules!.rules!;
  assert.deepEqual(
    rules[0]!.or_rules!.rules!.map((r) => r.header),
    [
      { name: ":authority", string_match: { exact: "a.com", ignore_case: true } },
      { name: ":authority", string_match: { suffix: ".b.com", ignore_case: true } },
      { name: ":authority", string_match: { prefix: "c.", ignore_case: true } },
      { name: ":authority", present_match: true },
    ],
  );
  assert.deepEqual(rules[1]!.or_rules!.rules![0]!.header, { name: ":method", string_match: { exact: "GET" } });
  assert.deepEqual(
    rules[2]!.or_rules!.rules!.map((r) => r.url_path!.path),
    [{ exact: "/x" }, { prefix: "/y/" }, { suffix: ".png" }, { safe_regex: { regex: ".+" } }],
  );
  assert.deepEqual(rules[3]!.or_rules!.rules!, [{ destination_port: 80 }]);
});

test("an empty rule matches everything; not-values are a NOT of an OR; `when` conditions join every from/to entry", () => {
  assert.deepEqual(rulePolicy({}, "foo", false, "ALLOW"), {
    permissions: [{ and_rules: { rules: [{ any: true }] } }],
    principals: [{ and_ids: { ids: [{ any: true }] } }],
  });
  const p = rulePolicy(
    {
      from: [{ source: { notIpBlocks: ["10.0.0.1", "10.1.0.0/16"] } }, { source: { remoteIpBlocks: ["1.2.3.4"] } }],
      when: [
        { key: "request.headers[x-user]", values: ["*"] },
        { key: "destination.port", values: ["8080"] },
      ],
    },
    "foo",
    false,
    "ALLOW",
  )!;
  assert.deepEqual(p.principals, [
    {
      and_ids: {
        ids: [
          {
            not_id: {
              or_ids: {
                ids: [
                  { direct_remote_ip: { address_prefix: "10.0.0.1", prefix_len: 32 } },
                  { direct_remote_ip: { address_prefix: "10.1.0.0", prefix_len: 16 } },
                ],
              },
            },
          },
          { or_ids: { ids: [{ header: { name: "x-user", present_match: true } }] } },
        ],
      },
    },
    {
      and_ids: {
        ids: [
          { or_ids: { ids: [{ remote_ip: { address_prefix: "1.2.3.4", prefix_len: 32 } }] } },
          { or_ids: { ids: [{ header: { name: "x-user", present_match: true } }] } },
        ],
      },
    },
  ]);
  assert.deepEqual(p.permissions, [{ and_rules: { rules: [{ or_rules: { rules: [{ destination_port: 8080 }] } }] } }]);
});

test("TCP chains: an ALLOW rule with an HTTP-only field is dropped, a DENY rule only loses that field", () => {
  const r = { from: [{ source: { ipBlocks: ["10.0.0.0/8"] } }], to: [{ operation: { methods: ["GET"], ports: ["5432"] } }] };
  assert.equal(rulePolicy(r, "foo", true, "ALLOW"), undefined);
  assert.deepEqual(rulePolicy(r, "foo", true, "DENY")!.permissions, [{ and_rules: { rules: [{ or_rules: { rules: [{ destination_port: 5432 }] } }] } }]);
  assert.ok(rulePolicy(r, "foo", false, "ALLOW"), "the HTTP chain keeps the rule");
  // Request headers are HTTP-only too, even as a `when` condition.
  assert.equal(rulePolicy({ when: [{ key: "request.headers[a]", values: ["b"] }] }, "foo", true, "ALLOW"), undefined);
});

test("filters: DENY before ALLOW, istiod's policy names, network RBAC with stat prefix tcp.; the ALLOW filter exists even when every rule was dropped", () => {
  const objects = [
    policy("allow-get", "foo", { rules: [{ to: [{ operation: { methods: ["GET"] } }] }] }),
    policy("deny-ip", "foo", { action: "DENY", rules: [{ from: [{ source: { ipBlocks: ["10.9.9.9"] } }] }] }),
  ];
  const http = filters(objects, httpbin);
  assert.deepEqual(
    http.map((f) => [f["@type"], f.rules.action ?? "ALLOW", Object.keys(f.rules.policies)]),
    [
      ["type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC", "DENY", ["ns[foo]-policy[deny-ip]-rule[0]"]],
      ["type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC", "ALLOW", ["ns[foo]-policy[allow-get]-rule[0]"]],
    ],
  );
  const tcp = filters(objects, httpbin, "network");
  assert.deepEqual(
    tcp.map((f) => [f.stat_prefix, f.rules.action ?? "ALLOW", Object.keys(f.rules.policies)]),
    [
      ["tcp.", "DENY", ["ns[foo]-policy[deny-ip]-rule[0]"]],
      ["tcp.", "ALLOW", []],
    ],
  );
});

test("empty spec is allow-nothing: one policy that never matches", () => {
  const [f] = filters([policy("nothing", "foo", {})], httpbin);
  assert.deepEqual(f.rules, {
    action: "ALLOW",
    policies: { "ns[foo]-policy[nothing]-rule[0]": { permissions: [{ not_rule: { any: true } }], principals: [{ not_id: { any: true } }] } },
  });
});

test("selection: root namespace then own namespace, oldest first; selectors; other namespaces and targetRef policies do not reach a sidecar", () => {
  const { mesh } = buildMesh([
    policy("mesh", "istio-system", {}),
    policy("ns", "foo", {}),
    policy("v1", "foo", { selector: { matchLabels: { version: "v1" } } }),
    policy("v2", "foo", { selector: { matchLabels: { version: "v2" } } }),
    policy("bar", "bar", {}),
    policy("gw", "foo", { targetRefs: [{ group: "gateway.networking.k8s.io", kind: "Gateway", name: "g" }] }),
    policy("deny", "foo", { action: "DENY", rules: [{}] }),
    policy("audit", "foo", { action: "AUDIT", rules: [{}] }),
  ]);
  const names = (w: { namespace: string; labels: Record<string, string> }): Record<string, string[]> =>
    Object.fromEntries(
      Object.entries(authorizationPoliciesFor(mesh, w)).map(([k, ps]) => [k, (ps as MeshObject[]).map((p) => `${p.metadata.namespace}/${p.metadata.name}`)]),
    );
  assert.deepEqual(names({ namespace: "foo", labels: { version: "v1" } }), {
    allow: ["istio-system/mesh", "foo/ns", "foo/v1"],
    deny: ["foo/deny"],
    audit: ["foo/audit"],
    custom: [],
  });
  assert.deepEqual(names({ namespace: "baz", labels: {} }).allow, ["istio-system/mesh"]);
  // A Gateway API gateway pod: its targetRef policy applies (same namespace, same Gateway name).
  assert.deepEqual(names({ namespace: "foo", labels: { "gateway.networking.k8s.io/gateway-name": "g" } }).allow, ["istio-system/mesh", "foo/gw", "foo/ns"]);
  assert.deepEqual(names({ namespace: "foo", labels: { "gateway.networking.k8s.io/gateway-name": "other" } }).allow, ["istio-system/mesh", "foo/ns"]);
});

test("dry-run policies go into shadow rules; CUSTOM denies what it matches; AUDIT is a LOG filter before DENY", () => {
  const dry = filters([policy("dry", "foo", { action: "DENY", rules: [{}] }, { "istio.io/dry-run": "true" })], httpbin);
  assert.equal(dry.length, 1);
  assert.equal(dry[0].rules, undefined, "nothing enforced");
  assert.deepEqual(Object.keys(dry[0].shadow_rules.policies), ["ns[foo]-policy[dry]-rule[0]"]);
  assert.equal(dry[0].shadow_rules_stat_prefix, "istio_dry_run_deny_");

  const custom = filters(
    [policy("ext", "foo", { action: "CUSTOM", provider: { name: "opa" }, rules: [{ to: [{ operation: { paths: ["/admin"] } }] }] })],
    httpbin,
  );
  assert.deepEqual(
    custom.map((f) => [f.rules.action, Object.keys(f.rules.policies)]),
    [["DENY", ["istio-ext-authz-opa-ns[foo]-policy[ext]-rule[0]-deny-due-to-bad-CUSTOM-action"]]],
  );
  // istiod's order: CUSTOM, AUDIT (LOG: marks, never blocks), DENY, ALLOW.
  const audit = filters(
    [
      policy("audit", "foo", { action: "AUDIT", rules: [{ to: [{ operation: { methods: ["POST"] } }] }] }),
      policy("deny", "foo", { action: "DENY", rules: [{ to: [{ operation: { methods: ["DELETE"] } }] }] }),
    ],
    httpbin,
  );
  assert.deepEqual(
    audit.map((f) => [f.rules.action, Object.keys(f.rules.policies)]),
    [
      ["LOG", ["ns[foo]-policy[audit]-rule[0]"]],
      ["DENY", ["ns[foo]-policy[deny]-rule[0]"]],
    ],
  );
  assert.equal(audit[0].shadow_rules_stat_prefix, undefined);
});

test("no AuthorizationPolicy: no RBAC filter anywhere, and proxies share one generation as before", () => {
  const { mesh } = buildMesh([]);
  assert.deepEqual(authorizationFilters(mesh, httpbin), { http: [], network: [] });
  const out = JSON.stringify(generate(mesh, httpbin));
  // (the tracing dry-run tags name the rbac filter's metadata namespace; no filter is an rbac filter)
  assert.equal(/"name":"envoy\.filters\.(http|network)\.rbac"/.test(out), false);
});

test("view sharing: proxies a policy selector tells apart get separate generations; the others share", () => {
  const { mesh } = buildMesh([policy("v1", "foo", { selector: { matchLabels: { version: "v1" } }, rules: [{}] })]);
  const index = new ViewIndex<string>();
  const gen = (p: ProxyView): string => index.get(p, (v) => JSON.stringify(generate(mesh, v)));
  const v1 = gen(proxy("foo", { app: "a", version: "v1" }));
  const v1b = gen(proxy("foo", { app: "b", version: "v1" }));
  const v2 = gen(proxy("foo", { app: "a", version: "v2" }));
  assert.equal(v1, v1b);
  assert.ok(v1.includes("envoy.filters.http.rbac") || v1.includes("envoy.filters.network.rbac"));
  assert.equal(/"name":"envoy\.filters\.(http|network)\.rbac"/.test(v2), false);
  assert.equal(index.size, 2);
});
