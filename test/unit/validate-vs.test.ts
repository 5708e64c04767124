/**
 * VirtualService validation: each invalid object with its exact diagnostics
 * (severity, field path, message). Table-driven; every row must fail.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { validateObject } from "../../src/model/validate";

type Raw = Record<string, unknown>;

const vs = (spec: Raw): Raw => ({ apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name: "r" }, spec });
const dest = (extra: Raw = {}): Raw => ({ destination: { host: "bill-service", ...extra } });
/** One HTTP rule on bill-service with the given extra fields. */
const rule = (extra: Raw): Raw => vs({ hosts: ["bill-service"], http: [{ route: [dest()], ...extra }] });
const match = (m: Raw): Raw => rule({ match: [m] });

function diagnostics(raw: Raw): string[] {
  const r = validateObject(raw, { file: "t.yaml", line: 1 });
  const list = r.ok ? r.warnings : r.diagnostics;
  return list.map((d) => `${d.severity} ${d.field ?? ""}: ${d.message}`);
}

const cases: [string, Raw, string[]][] = [
  [
    "gateways but no hosts",
    vs({ gateways: ["gw"], http: [{ route: [dest()] }] }),
    ["error spec.gateways: delegate virtual service must have no gateways specified (a VirtualService without hosts is a delegate)"],
  ],
  [
    "invalid host",
    vs({ hosts: ["bill_service"], http: [{ route: [dest()] }] }),
    ['error spec.hosts[0]: domain name "bill_service" invalid (label "bill_service" invalid)'],
  ],
  [
    "* host bound to the mesh",
    vs({ hosts: ["*"], http: [{ route: [dest()] }] }),
    ["error spec.hosts[0]: wildcard host * is not allowed for virtual services bound to the mesh gateway"],
  ],
  [
    "* host with mesh among gateways",
    vs({ hosts: ["*"], gateways: ["mesh", "ns/gw"], http: [{ route: [dest()] }] }),
    ["error spec.hosts[0]: wildcard host * is not allowed for virtual services bound to the mesh gateway"],
  ],
  [
    "duplicate hosts",
    vs({ hosts: ["a.example.com", "*.example.com"], http: [{ route: [dest()] }] }),
    ["error spec.hosts[1]: duplicate hosts in virtual service: a.example.com & *.example.com"],
  ],
  ["no http, tcp or tls", vs({ hosts: ["bill-service"] }), ["error spec: http, tcp or tls must be provided in virtual service"]],
  [
    "rule without an action",
    vs({ hosts: ["bill-service"], http: [{ timeout: "1s" }] }),
    ["error spec.http[0]: HTTP route, redirect or direct_response is required"],
  ],
  ["route and redirect", rule({ redirect: { uri: "/x" } }), ["error spec.http[0]: HTTP route cannot contain both route and redirect"]],
  [
    "redirect and directResponse",
    vs({ hosts: ["b"], http: [{ redirect: { uri: "/x" }, directResponse: { status: 200 } }] }),
    ["error spec.http[0]: HTTP route rule cannot contain both direct_response and redirect"],
  ],
  [
    "directResponse and fault",
    vs({ hosts: ["b"], http: [{ directResponse: { status: 503 }, fault: { abort: { httpStatus: 500 } } }] }),
    ["error spec.http[0]: HTTP route cannot contain both fault and direct_response"],
  ],
  [
    "rewrite and redirect",
    vs({ hosts: ["b"], http: [{ redirect: { uri: "/x" }, rewrite: { uri: "/y" } }] }),
    ["error spec.http[0]: HTTP route rule cannot contain both rewrite and redirect"],
  ],
  [
    "negative weight",
    vs({
      hosts: ["b"],
      http: [
        {
          route: [
            { ...dest(), weight: 110 },
            { ...dest({ subset: "v2" }), weight: -10 },
          ],
        },
      ],
    }),
    ["error spec.http[0].route[1].weight: weight -10 < 0"],
  ],
  [
    "weights sum to zero",
    vs({
      hosts: ["b"],
      http: [
        {
          route: [
            { ...dest(), weight: 0 },
            { ...dest({ subset: "v2" }), weight: 0 },
          ],
        },
      ],
    }),
    ["error spec.http[0].route: total destination weight = 0"],
  ],
  [
    "weight as a string",
    vs({ hosts: ["b"], http: [{ route: [{ ...dest(), weight: "90" }] }] }),
    ['error spec.http[0].route[0].weight: expected an integer, got string "90"'],
  ],
  [
    "destination host missing",
    vs({ hosts: ["b"], http: [{ route: [{ destination: { subset: "v1" } }] }] }),
    ["error spec.http[0].route[0].destination.host: destination host is required"],
  ],
  ["destination missing", vs({ hosts: ["b"], http: [{ route: [{ weight: 100 }] }] }), ["error spec.http[0].route[0].destination: destination is required"]],
  [
    "destination host *",
    vs({ hosts: ["b"], http: [{ route: [{ destination: { host: "*" } }] }] }),
    ["error spec.http[0].route[0].destination.host: invalid destination host *"],
  ],
  [
    "subset not a DNS label",
    vs({ hosts: ["b"], http: [{ route: [dest({ subset: "v.1" })] }] }),
    ["error spec.http[0].route[0].destination.subset: subset name is invalid: v.1"],
  ],
  [
    "destination port out of range",
    vs({ hosts: ["b"], http: [{ route: [dest({ port: { number: 70000 } })] }] }),
    ["error spec.http[0].route[0].destination.port.number: port number 70000 must be in the range 1..65535"],
  ],
  [
    "lookahead is JS but not RE2",
    match({ uri: { regex: "^/v1(?=/)" } }),
    ['error spec.http[0].match[0].uri.regex: invalid RE2 regex "^/v1(?=/)": invalid perl operator: (?='],
  ],
  [
    "header regex does not compile",
    match({ headers: { "end-user": { regex: "a(b" } } }),
    ['error spec.http[0].match[0].headers.end-user.regex: invalid RE2 regex "a(b": missing ): a(b'],
  ],
  [
    "backreference in query param regex",
    match({ queryParams: { v: { regex: "(a)\\1" } } }),
    ['error spec.http[0].match[0].queryParams.v.regex: invalid RE2 regex "(a)\\\\1": invalid escape sequence: \\1'],
  ],
  ["empty regex", match({ scheme: { regex: "" } }), ["error spec.http[0].match[0].scheme.regex: regex string match should not be empty"]],
  [
    "uri prefix and exact",
    match({ uri: { prefix: "/a", exact: "/a" } }),
    ["error spec.http[0].match[0].uri: only one of exact, prefix or regex may be set (found exact and prefix)"],
  ],
  ["empty authority prefix", match({ authority: { prefix: "" } }), ["error spec.http[0].match[0].authority.prefix: prefix string match should not be empty"]],
  [
    "invalid header name",
    match({ headers: { "bad header": { exact: "x" } } }),
    ['error spec.http[0].match[0].headers["bad header"]: header name bad header is not a valid header name'],
  ],
  ["match port out of range", match({ port: 70000 }), ["error spec.http[0].match[0].port: port number 70000 must be in the range 1..65535"]],
  ["invalid sourceNamespace", match({ sourceNamespace: "Bad_NS" }), ["error spec.http[0].match[0].sourceNamespace: sourceNamespace match Bad_NS is invalid"]],
  [
    "invalid sourceLabels key",
    match({ sourceLabels: { "bad key": "x" } }),
    ['error spec.http[0].match[0].sourceLabels["bad key"]: invalid label key "bad key"'],
  ],
  ["match gateway name invalid", match({ gateways: ["ns/ga_te"] }), ['error spec.http[0].match[0].gateways[0]: invalid value for gateway name: "ga_te"']],
  [
    "timeout without unit",
    rule({ timeout: "10" }),
    ['error spec.http[0].timeout: invalid duration "10": expected a number followed by a unit (ns, us, ms, s, m, h), e.g. "10s"'],
  ],
  ["timeout under 1ms", rule({ timeout: "500us" }), ["error spec.http[0].timeout: duration must be at least 1ms"]],
  ["timeout finer than 1ms", rule({ timeout: "1.5ms" }), ["error spec.http[0].timeout: only durations to ms precision are supported"]],
  ["timeout as a number", rule({ timeout: 10 }), ['error spec.http[0].timeout: expected a duration string like "10s", got number 10']],
  ["negative retry attempts", rule({ retries: { attempts: -1 } }), ["error spec.http[0].retries.attempts: attempts cannot be negative"]],
  [
    "retry policy with zero attempts",
    rule({ retries: { attempts: 0, perTryTimeout: "1s" } }),
    ["error spec.http[0].retries: http retry policy configured when attempts are set to 0 (disabled)"],
  ],
  [
    "unknown retryOn policy",
    rule({ retries: { attempts: 3, retryOn: "5xx,bogus,503" } }),
    ['error spec.http[0].retries.retryOn: "bogus" is not a valid retryOn policy'],
  ],
  [
    "perTryTimeout unit unknown",
    rule({ retries: { attempts: 3, perTryTimeout: "1x" } }),
    ['error spec.http[0].retries.perTryTimeout: invalid duration "1x": unknown unit "x" (want ns, us, ms, s, m or h)'],
  ],
  [
    "abort status out of range",
    rule({ fault: { abort: { httpStatus: 700 } } }),
    ["error spec.http[0].fault.abort.httpStatus: HTTP status 700 is not in range 200-599"],
  ],
  [
    "abort with two error types",
    rule({ fault: { abort: { httpStatus: 500, grpcStatus: "UNAVAILABLE" } } }),
    ["error spec.http[0].fault.abort: only one of httpStatus or grpcStatus may be set"],
  ],
  [
    "unknown gRPC status",
    rule({ fault: { abort: { grpcStatus: "NOPE" } } }),
    ['error spec.http[0].fault.abort.grpcStatus: gRPC status "NOPE" is not supported; expected a code name such as NOT_FOUND'],
  ],
  [
    "delay percentage over 100",
    rule({ fault: { delay: { fixedDelay: "1s", percentage: { value: 150 } } } }),
    ["error spec.http[0].fault.delay.percentage.value: percentage 150 is neither 0.0, nor in range [0.0001, 100.0]"],
  ],
  ["empty fault", rule({ fault: {} }), ["error spec.http[0].fault: HTTP fault injection must have an abort and/or a delay"]],
  [
    "redirect code 300",
    vs({ hosts: ["b"], http: [{ redirect: { uri: "/x", redirectCode: 300 } }] }),
    ["error spec.http[0].redirect.redirectCode: redirect code 300 is not supported; expected one of 301, 302, 303, 307, 308"],
  ],
  ["empty redirect", vs({ hosts: ["b"], http: [{ redirect: {} }] }), ["error spec.http[0].redirect: redirect must specify URI, authority, scheme, or port"]],
  [
    "directResponse status 600",
    vs({ hosts: ["b"], http: [{ directResponse: { status: 600 } }] }),
    ["error spec.http[0].directResponse.status: HTTP status 600 is not in range 200-599"],
  ],
  [
    "mirrorPercentage over 100",
    rule({ mirror: { host: "shadow" }, mirrorPercentage: { value: 150 } }),
    ["error spec.http[0].mirrorPercentage.value: mirror_percentage must have a max value of 100 (it has 150)"],
  ],
  [
    "empty rewrite",
    rule({ rewrite: {} }),
    [
      "error spec.http[0].rewrite: rewrite must specify at least one of URI, UriRegexRewrite, or authority. Only one of URI or UriRegexRewrite may be specified",
    ],
  ],
  [
    "unsupported CORS method",
    rule({ corsPolicy: { allowMethods: ["GET", "FETCH"] } }),
    ['error spec.http[0].corsPolicy.allowMethods[1]: "FETCH" is not a supported HTTP method'],
  ],
  [
    "CORS maxAge below a second",
    rule({ corsPolicy: { maxAge: "1500ms" } }),
    ["error spec.http[0].corsPolicy.maxAge: duration is accurate only to seconds precision"],
  ],
  [
    "CORS origin regex",
    rule({ corsPolicy: { allowOrigins: [{ regex: "*.example.com" }] } }),
    ['error spec.http[0].corsPolicy.allowOrigins[0].regex: invalid RE2 regex "*.example.com": no argument for repetition operator: *'],
  ],
  [
    "response may not set Host",
    rule({ headers: { response: { set: { Host: "x" } } } }),
    ['error spec.http[0].headers.response.set.Host: invalid header "Host": cannot set Host header'],
  ],
  [
    "request may not remove a pseudo-header",
    rule({ headers: { request: { remove: [":path"] } } }),
    ['error spec.http[0].headers.request.remove[0]: invalid header ":path": header cannot have ":" prefix'],
  ],
  [
    "authority rewritten twice",
    rule({ rewrite: { authority: "a" }, headers: { request: { set: { ":authority": "b" } } } }),
    ['error spec.http[0]: authority header cannot be set multiple times: have "a", attempting to set "b"'],
  ],
  [
    "invalid gateway reference",
    vs({ hosts: ["b"], gateways: ["ns/ga_te"], http: [{ route: [dest()] }] }),
    ['error spec.gateways[0]: invalid value for gateway name: "ga_te"'],
  ],
  ["delegate inside a delegate", vs({ http: [{ delegate: { name: "child" } }] }), ["error spec.http[0].delegate: delegate HTTP route cannot contain delegate"]],
  [
    "root rule with delegate and route",
    vs({ hosts: ["b"], gateways: ["ns/gw"], http: [{ delegate: { name: "child" }, route: [dest()] }] }),
    ["error spec.http[0].route: root HTTP route must not specify route"],
  ],
  [
    "public and private exportTo",
    vs({ hosts: ["b"], http: [{ route: [dest()] }], exportTo: ["*", "ns1"] }),
    ["error spec.exportTo: cannot have both public (*) and non-public exportTo values for a resource"],
  ],
  ["TCP rule without route", vs({ hosts: ["db"], tcp: [{ match: [{ port: 3306 }] }] }), ["error spec.tcp[0].route: TCP route is required"]],
  [
    "TCP destination subnet",
    vs({ hosts: ["db"], tcp: [{ match: [{ destinationSubnets: ["10.0.0.0/33"] }], route: [dest()] }] }),
    ["error spec.tcp[0].match[0].destinationSubnets[0]: 10.0.0.0/33 is not a valid CIDR block"],
  ],
  [
    "TLS match without SNI hosts",
    vs({ hosts: ["a.example.com"], tls: [{ match: [{ port: 443 }], route: [dest()] }] }),
    ["error spec.tls[0].match[0].sniHosts: TLS match must have at least one SNI host"],
  ],
  [
    "SNI host outside the hosts",
    vs({ hosts: ["a.example.com"], tls: [{ match: [{ sniHosts: ["other.com"] }], route: [dest()] }] }),
    ['error spec.tls[0].match[0].sniHosts[0]: SNI host "other.com" is not a compatible subset of any of the virtual service hosts: [a.example.com]'],
  ],
  ["hosts as a string", vs({ hosts: "bill-service", http: [{ route: [dest()] }] }), ['error spec.hosts: expected a list, got string "bill-service"']],
];

for (const [name, raw, want] of cases) {
  test(`invalid VirtualService: ${name}`, () => {
    const r = validateObject(raw, { file: "t.yaml", line: 1 });
    assert.equal(r.ok, false, "expected the object to be refused");
    assert.deepEqual(diagnostics(raw), want);
  });
}
