/**
 * AuthorizationPolicy validation: each invalid policy with its exact
 * diagnostics (severity, field path, Istio's message), and the valid forms
 * Istio accepts (empty spec, allow-all, every field).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { validateObject } from "../../src/model/validate";

type Raw = Record<string, unknown>;

const ap = (spec: Raw | undefined, apiVersion = "security.istio.io/v1"): Raw => ({
  apiVersion,
  kind: "AuthorizationPolicy",
  metadata: { name: "p", namespace: "foo" },
  ...(spec === undefined ? {} : { spec }),
});
const rule = (r: Raw): Raw => ap({ rules: [r] });

function diagnostics(raw: Raw): string[] {
  const r = validateObject(raw, { file: "t.yaml", line: 1 });
  return (r.ok ? r.warnings : r.diagnostics).map((d) => `${d.severity} ${d.field ?? ""}: ${d.message}`);
}

const JWT_WARNING =
  "warning spec.rules: request principals and request.auth.* need JWT validation (RequestAuthentication), which mini-pilot does not support: no request carries a request principal, so these conditions never match";
const DENY_HTTP_ONLY =
  "configured AuthorizationPolicy will deny all traffic to TCP ports under its scope due to the use of only HTTP attributes in a DENY rule; it is recommended to explicitly specify the port";

const cases: [string, Raw, string[]][] = [
  ["no spec: allow nothing", ap(undefined), []],
  ["empty spec", ap({}), []],
  ["allow all", ap({ rules: [{}] }), []],
  ["v1beta1 accepted", ap({}, "security.istio.io/v1beta1"), []],
  [
    "v1alpha1 refused",
    ap({}, "security.istio.io/v1alpha1"),
    [
      'error apiVersion: unsupported apiVersion "security.istio.io/v1alpha1" for AuthorizationPolicy; expected security.istio.io/v1 or security.istio.io/v1beta1',
    ],
  ],
  ["unknown action", ap({ action: "REJECT" }), ['error spec.action: unknown value "REJECT"; expected one of ALLOW, DENY, AUDIT, CUSTOM']],
  [
    "DENY without rules",
    ap({ action: "DENY" }),
    [
      "error spec.rules: DENY action without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it be triggered for every request",
    ],
  ],
  [
    "CUSTOM without rules",
    ap({ action: "CUSTOM", provider: { name: "x" } }),
    [
      "error spec.rules: CUSTOM action without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it be triggered for every request",
    ],
  ],
  ["CUSTOM without provider", ap({ action: "CUSTOM", rules: [{}] }), ["error spec.provider: `provider.name` must not be empty"]],
  ["provider with ALLOW", ap({ provider: { name: "x" } }), ["error spec.provider: `provider` must not be with non CUSTOM action, found ALLOW"]],
  [
    "CUSTOM with identities",
    ap({
      action: "CUSTOM",
      provider: { name: "x" },
      rules: [{ from: [{ source: { principals: ["a"] } }], when: [{ key: "source.namespace", values: ["a"] }] }],
    }),
    [
      "error spec.rules[0].from[0].source.principals: From.Principals is currently not supported with CUSTOM action",
      "error spec.rules[0].when[0].key: source.namespace is currently not supported with CUSTOM action",
    ],
  ],
  [
    "CUSTOM accepted with a warning",
    ap({ action: "CUSTOM", provider: { name: "x" }, rules: [{ to: [{ operation: { paths: ["/a"] } }] }] }),
    [
      "warning spec.action: CUSTOM is not supported by mini-pilot (no ext_authz providers); as istiod does for a provider it cannot use, requests the rules match are denied",
    ],
  ],
  [
    "AUDIT accepted with a warning",
    ap({ action: "AUDIT", rules: [{}] }),
    [
      "warning spec.action: AUDIT: translated as istiod does (an RBAC filter with action LOG that marks the requests it matches), but mini-pilot's access log does not filter on the mark, so nothing is audit-logged",
    ],
  ],
  [
    "selector and targetRef",
    ap({ selector: { matchLabels: { app: "a" } }, targetRef: { group: "gateway.networking.k8s.io", kind: "Gateway", name: "gw" } }),
    ["error spec: only one of targetRefs or workloadSelector can be set"],
  ],
  [
    "selector wildcard",
    ap({ selector: { matchLabels: { app: "a*" } } }),
    ['error spec.selector.matchLabels.app: wildcard is not supported in selector: "app=a*"'],
  ],
  ["selector without labels", ap({ selector: {} }), ["warning spec.selector: workload selector specified without labels"]],
  [
    "targetRef to an unknown kind, in another namespace",
    ap({ targetRef: { kind: "Deployment", name: "d", namespace: "bar" } }),
    [
      "error spec.targetRef: targetRef namespace must not be set; cross namespace referencing is not supported",
      "error spec.targetRef: targetRef must be to one of core/Service, networking.istio.io/ServiceEntry, gateway.networking.k8s.io/Gateway, gateway.networking.k8s.io/GatewayClass but was /Deployment",
    ],
  ],
  ["from without source", rule({ from: [{}] }), ["error spec.rules[0].from[0]: `from.source` must not be nil, found at rule 0"]],
  ["empty source", rule({ from: [{ source: {} }] }), ["error spec.rules[0].from[0].source: `from.source` must not be empty, found at rule 0"]],
  ["to without operation", rule({ to: [{}] }), ["error spec.rules[0].to[0]: `to.operation` must not be nil, found at rule 0"]],
  ["empty operation", rule({ to: [{ operation: {} }] }), ["error spec.rules[0].to[0].operation: `to.operation` must not be empty, found at rule 0"]],
  ["null rule", ap({ rules: [null] }), ["error spec.rules[0]: list element may not be null"]],
  [
    "bad IPs",
    rule({ from: [{ source: { ipBlocks: ["1.2.3.256"], notRemoteIpBlocks: ["10.0.0.0/33"] } }] }),
    [
      "error spec.rules[0].from[0].source.ipBlocks[0]: bad IP address (1.2.3.256)",
      "error spec.rules[0].from[0].source.notRemoteIpBlocks[0]: bad CIDR range (10.0.0.0/33)",
    ],
  ],
  [
    "empty principal",
    rule({ from: [{ source: { principals: [""] } }] }),
    ["error spec.rules[0].from[0].source.principals[0]: empty value not allowed, found in Principals"],
  ],
  [
    "service accounts with namespaces",
    rule({ from: [{ source: { serviceAccounts: ["sa"], namespaces: ["foo"] } }] }),
    ["error spec.rules[0].from[0].source: cannot set serviceAccounts with namespaces or principals, found at rule 0"],
  ],
  [
    "service account wildcard",
    rule({ from: [{ source: { serviceAccounts: ["s*"] } }] }),
    ["error spec.rules[0].from[0].source.serviceAccounts[0]: wildcard not allowed, found in ServiceAccounts"],
  ],
  [
    "trust domain with a slash",
    rule({ from: [{ source: { trustDomains: ["a/b"] } }] }),
    [`error spec.rules[0].from[0].source.trustDomains[0]: trust domain must not contain '/', found in TrustDomains: "a/b"`],
  ],
  [
    "bad ports",
    rule({ to: [{ operation: { ports: ["80", "http"], notPorts: ["70000"] } }] }),
    ["error spec.rules[0].to[0].operation.ports[1]: bad port (http)", "error spec.rules[0].to[0].operation.notPorts[0]: bad port (70000)"],
  ],
  [
    "empty method",
    rule({ to: [{ operation: { methods: [""] } }] }),
    ["error spec.rules[0].to[0].operation.methods[0]: empty value not allowed, found in Methods"],
  ],
  [
    "path template: {**} not last",
    rule({ to: [{ operation: { paths: ["/a/{**}/b/{*}"] } }] }),
    ["error spec.rules[0].to[0].operation.paths[0]: invalid or unsupported path /a/{**}/b/{*}, found in Paths. {**} is not the last operator"],
  ],
  [
    "path template: stray brace",
    rule({ to: [{ operation: { paths: ["/a/{x}"] } }] }),
    ["error spec.rules[0].to[0].operation.paths[0]: invalid or unsupported path /a/{x}, found in Paths. Contains '{' or '}' beyond a supported path template"],
  ],
  ["when without key", rule({ when: [{ values: ["a"] }] }), ["error spec.rules[0].when[0].key: `key` must not be empty"]],
  [
    "when without values",
    rule({ when: [{ key: "source.ip" }] }),
    ["error spec.rules[0].when[0]: at least one of `values` or `notValues` must be set for key source.ip"],
  ],
  [
    "when: bad header key",
    rule({ when: [{ key: "request.headers", values: ["a"] }] }),
    ["error spec.rules[0].when[0].values: invalid `value` for `key` request.headers: bad key (request.headers): should have format a[b]"],
  ],
  [
    "when: a header name Envoy would refuse",
    rule({ when: [{ key: "request.headers[x user]", values: ["a"] }] }),
    ["error spec.rules[0].when[0].values: invalid `value` for `key` request.headers[x user]: header name x user is not a valid header name"],
  ],
  [
    "when: bad source.ip",
    rule({ when: [{ key: "source.ip", notValues: ["x"] }] }),
    ["error spec.rules[0].when[0].notValues: invalid `notValue` for `key` source.ip: bad IP address (x)"],
  ],
  [
    "when: bad destination.port",
    rule({ when: [{ key: "destination.port", values: ["-1"] }] }),
    ["error spec.rules[0].when[0].values: invalid `value` for `key` destination.port: bad port (-1)"],
  ],
  [
    "when: unknown attribute",
    rule({ when: [{ key: "source.user", values: ["a"] }] }),
    ["error spec.rules[0].when[0].values: invalid `value` for `key` source.user: unknown attribute: source.user"],
  ],
  [
    "when: destination.labels",
    rule({ when: [{ key: "destination.labels[app]", values: ["a"] }] }),
    [
      "error spec.rules[0].when[0].values: invalid `value` for `key` destination.labels[app]: attribute destination.labels[app] is replaced by the workload selector",
    ],
  ],
  ["request principals: accepted, with a warning", rule({ from: [{ source: { requestPrincipals: ["iss/sub"] } }] }), [JWT_WARNING]],
  ["request.auth.claims: accepted, with a warning", rule({ when: [{ key: "request.auth.claims[iss]", values: ["a"] }] }), [JWT_WARNING]],
  ["DENY with only HTTP fields", ap({ action: "DENY", rules: [{ to: [{ operation: { methods: ["GET"] } }] }] }), [`warning spec.rules[0]: ${DENY_HTTP_ONLY}`]],
  ["DENY with a port", ap({ action: "DENY", rules: [{ to: [{ operation: { methods: ["GET"], ports: ["80"] } }] }] }), []],
  [
    "unknown field",
    rule({ to: [{ operation: { verbs: ["GET"], methods: ["GET"] } }] }),
    ["warning spec.rules[0].to[0].operation.verbs: unknown field; ignored"],
  ],
  [
    "every field, valid",
    ap({
      selector: { matchLabels: { app: "a" } },
      action: "ALLOW",
      rules: [
        {
          from: [
            {
              source: {
                principals: ["cluster.local/ns/a/sa/b", "*"],
                notPrincipals: ["x*"],
                namespaces: ["a"],
                notNamespaces: ["b"],
                ipBlocks: ["10.0.0.0/8", "::1"],
                notIpBlocks: ["10.1.1.1"],
                remoteIpBlocks: ["1.2.3.4"],
                notRemoteIpBlocks: ["5.6.0.0/16"],
              },
            },
            { source: { serviceAccounts: ["sa", "ns/sa"], notServiceAccounts: ["x"], trustDomains: ["td", "*.org"], notTrustDomains: ["*"] } },
          ],
          to: [
            {
              operation: {
                hosts: ["a.com"],
                notHosts: ["*.b"],
                ports: ["80"],
                notPorts: ["81"],
                methods: ["GET"],
                notMethods: ["PUT"],
                paths: ["/a", "/b/{*}"],
                notPaths: ["/c*"],
              },
            },
          ],
          when: [
            { key: "request.headers[x-a]", values: ["1"] },
            { key: "source.ip", values: ["10.0.0.1"] },
            { key: "remote.ip", notValues: ["10.0.0.2"] },
            { key: "source.namespace", values: ["a"] },
            { key: "source.principal", values: ["a"] },
            { key: "source.serviceAccount", values: ["a/b"] },
            { key: "source.trustDomain", values: ["td"] },
            { key: "destination.ip", values: ["10.0.0.3"] },
            { key: "destination.port", values: ["80"] },
            { key: "connection.sni", values: ["a.com"] },
            { key: "experimental.envoy.filters.a.b[c]", values: ["x"] },
          ],
        },
      ],
    }),
    [],
  ],
];

for (const [name, raw, want] of cases) {
  test(`AuthorizationPolicy: ${name}`, () => assert.deepEqual(diagnostics(raw), want));
}

test("a refused policy is named with file, line and kind for the validate output", () => {
  const r = validateObject(rule({ to: [{ operation: {} }] }), { file: "policies/p.yaml", line: 12 });
  assert.equal(r.ok, false);
  const d = r.ok ? undefined : r.diagnostics[0];
  assert.deepEqual([d?.origin, d?.kind, d?.namespace, d?.name], [{ file: "policies/p.yaml", line: 12 }, "AuthorizationPolicy", "foo", "p"]);
});
