/**
 * DestinationRule and Gateway validation: each invalid object with its exact
 * diagnostics (severity, field path, message).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { validateObject } from "../../src/model/validate";

type Raw = Record<string, unknown>;

const dr = (spec: Raw): Raw => ({ apiVersion: "networking.istio.io/v1beta1", kind: "DestinationRule", metadata: { name: "d" }, spec });
const policy = (trafficPolicy: Raw): Raw => dr({ host: "bill-service", trafficPolicy });
const lb = (loadBalancer: Raw): Raw => policy({ loadBalancer });
const gw = (spec: Raw, name = "gw"): Raw => ({ apiVersion: "networking.istio.io/v1alpha3", kind: "Gateway", metadata: { name }, spec });
const server = (s: Raw): Raw => gw({ servers: [{ hosts: ["bill.example.com"], port: { number: 80, name: "http", protocol: "HTTP" }, ...s }] });
const https = (tls?: Raw): Raw => server({ port: { number: 443, name: "https", protocol: "HTTPS" }, ...(tls ? { tls } : {}) });

function diagnostics(raw: Raw): string[] {
  const r = validateObject(raw, { file: "t.yaml", line: 1 });
  return (r.ok ? r.warnings : r.diagnostics).map((d) => `${d.severity} ${d.field ?? ""}: ${d.message}`);
}

const cases: [string, Raw, string[]][] = [
  // ---------------------------------------------------------------- DestinationRule
  ["host missing", dr({ subsets: [{ name: "v1", labels: { version: "v1" } }] }), ["error spec.host: empty domain name not allowed"]],
  ["wildcard not in the first label", dr({ host: "*.*.com" }), ['error spec.host: domain name "*.*.com" invalid (label "*" invalid)']],
  ["duplicate subsets", dr({ host: "b", subsets: [{ name: "v1" }, { name: "v1" }] }), ["error spec.subsets[1].name: duplicate subset names: v1"]],
  ["subset name not a DNS label", dr({ host: "b", subsets: [{ name: "V_1" }] }), ["error spec.subsets[0].name: subset name is invalid: V_1"]],
  ["subset without a name", dr({ host: "b", subsets: [{ labels: { version: "v1" } }] }), ["error spec.subsets[0].name: subset name cannot be empty"]],
  [
    "subset label value invalid",
    dr({ host: "b", subsets: [{ name: "v1", labels: { version: "v 1" } }] }),
    ['error spec.subsets[0].labels.version: invalid label value "v 1"'],
  ],
  ["empty traffic policy", policy({}), ["error spec.trafficPolicy: traffic policy must have at least one field"]],
  [
    "empty subset traffic policy",
    dr({ host: "b", subsets: [{ name: "v1", trafficPolicy: {} }] }),
    ["error spec.subsets[0].trafficPolicy: traffic policy must have at least one field"],
  ],
  [
    "maxEjectionPercent over 100",
    policy({ outlierDetection: { maxEjectionPercent: 150 } }),
    ["error spec.trafficPolicy.outlierDetection.maxEjectionPercent: percentage 150 is not in range 0..100"],
  ],
  [
    "outlier interval not a duration",
    policy({ outlierDetection: { interval: "often" } }),
    ['error spec.trafficPolicy.outlierDetection.interval: invalid duration "often": expected a number followed by a unit (ns, us, ms, s, m, h), e.g. "10s"'],
  ],
  [
    "local origin failures without split",
    policy({ outlierDetection: { consecutiveLocalOriginFailures: 3 } }),
    [
      "error spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures: outlier detection consecutive local origin failures is specified, but split external local origin errors is set to false",
    ],
  ],
  [
    "two hash keys",
    lb({ consistentHash: { httpHeaderName: "x-user", useSourceIp: true } }),
    [
      "error spec.trafficPolicy.loadBalancer.consistentHash: only one of httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName may be set (found httpHeaderName and useSourceIp)",
    ],
  ],
  [
    "cookie without a name",
    lb({ consistentHash: { httpCookie: { ttl: "10s" } } }),
    ["error spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.name: name required for HttpCookie"],
  ],
  [
    "maglev table size not prime",
    lb({ consistentHash: { useSourceIp: true, maglev: { tableSize: 100 } } }),
    ["error spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize: tableSize must be a prime number for maglev"],
  ],
  [
    "ring too large",
    lb({ consistentHash: { useSourceIp: true, ringHash: { minimumRingSize: 10_000_000 } } }),
    ["error spec.trafficPolicy.loadBalancer.consistentHash.ringHash.minimumRingSize: minimumRingSize must be at most 8388608"],
  ],
  [
    "unknown simple LB",
    lb({ simple: "FASTEST" }),
    [
      'error spec.trafficPolicy.loadBalancer.simple: unknown value "FASTEST"; expected one of UNSPECIFIED, LEAST_CONN, RANDOM, PASSTHROUGH, ROUND_ROBIN, LEAST_REQUEST',
    ],
  ],
  [
    "simple and consistentHash",
    lb({ simple: "RANDOM", consistentHash: { useSourceIp: true } }),
    ["error spec.trafficPolicy.loadBalancer: only one of simple or consistentHash may be set"],
  ],
  [
    "negative max connections",
    policy({ connectionPool: { tcp: { maxConnections: -1 } } }),
    ["error spec.trafficPolicy.connectionPool.tcp.maxConnections: max connections must be non-negative"],
  ],
  [
    "max connections beyond int32 (Envoy would refuse the cluster)",
    policy({ connectionPool: { tcp: { maxConnections: 5000000000 } } }),
    ["error spec.trafficPolicy.connectionPool.tcp.maxConnections: max connections must be at most 2147483647"],
  ],
  [
    "5xx errors beyond uint32",
    policy({ outlierDetection: { consecutive5xxErrors: 2 ** 32 } }),
    ["error spec.trafficPolicy.outlierDetection.consecutive5xxErrors: consecutive 5xx errors must be at most 4294967295"],
  ],
  [
    "negative pending requests",
    policy({ connectionPool: { http: { http1MaxPendingRequests: -5 } } }),
    ["error spec.trafficPolicy.connectionPool.http.http1MaxPendingRequests: http1 max pending requests must be non-negative"],
  ],
  ["empty connection pool", policy({ connectionPool: {} }), ["error spec.trafficPolicy.connectionPool: connection pool must have at least one field"]],
  [
    "connect timeout zero",
    policy({ connectionPool: { tcp: { connectTimeout: "0s" } } }),
    ["error spec.trafficPolicy.connectionPool.tcp.connectTimeout: duration must be at least 1ms"],
  ],
  [
    "unknown TLS mode",
    policy({ tls: { mode: "STRICT" } }),
    ['error spec.trafficPolicy.tls.mode: unknown value "STRICT"; expected one of DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL'],
  ],
  [
    "MUTUAL without certificates",
    policy({ tls: { mode: "MUTUAL" } }),
    [
      "error spec.trafficPolicy.tls.clientCertificate: client certificate required for mutual tls",
      "error spec.trafficPolicy.tls.privateKey: private key required for mutual tls",
    ],
  ],
  [
    "credentialName with file certificates",
    policy({ tls: { mode: "SIMPLE", credentialName: "c", caCertificates: "/ca.pem" } }),
    ["error spec.trafficPolicy.tls: cannot specify client certificates or CA certificate or CA CRL If credentialName is set"],
  ],
  [
    "port settings without a port",
    policy({ portLevelSettings: [{ loadBalancer: { simple: "RANDOM" } }] }),
    ["error spec.trafficPolicy.portLevelSettings[0].port: portTrafficPolicy must have valid port"],
  ],
  [
    "port settings with only a port",
    policy({ portLevelSettings: [{ port: { number: 9999 } }] }),
    ["error spec.trafficPolicy.portLevelSettings[0]: port traffic policy must have at least one field"],
  ],
  ["spec missing", { apiVersion: "networking.istio.io/v1", kind: "DestinationRule", metadata: { name: "d" } }, ["error spec: spec is required"]],
  // ---------------------------------------------------------------- Gateway
  ["no servers", gw({ selector: { istio: "ingressgateway" } }), ["error spec.servers: gateway must have at least one server"]],
  ["server without hosts", server({ hosts: [] }), ["error spec.servers[0].hosts: server config must contain at least one host"]],
  ["short host name", server({ hosts: ["bill"] }), ["error spec.servers[0].hosts[0]: short names (non FQDN) are not allowed"]],
  ["invalid host namespace", server({ hosts: ["b_ad/bill.example.com"] }), ['error spec.servers[0].hosts[0]: invalid namespace value "b_ad" in gateway']],
  ["empty host part", server({ hosts: ["ns/"] }), ["error spec.servers[0].hosts[0]: config namespace and dnsName in host entry cannot be empty"]],
  [
    "unknown protocol",
    server({ port: { number: 21, name: "ftp", protocol: "FTP" } }),
    ['error spec.servers[0].port.protocol: invalid protocol "FTP", supported protocols are HTTP, HTTPS, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP, TLS'],
  ],
  [
    "port number 0",
    server({ port: { number: 0, name: "http", protocol: "HTTP" } }),
    ["error spec.servers[0].port.number: port number 0 must be in the range 1..65535"],
  ],
  ["port without a name", server({ port: { number: 80, protocol: "HTTP" } }), ["error spec.servers[0].port.name: port name must be set"]],
  ["no port", gw({ servers: [{ hosts: ["*"] }] }), ["error spec.servers[0].port: port is required"]],
  [
    "port targetPort",
    server({ port: { number: 80, name: "http", protocol: "HTTP", targetPort: 8080 } }),
    ["error spec.servers[0].port.targetPort: targetPort has no impact on Gateways"],
  ],
  [
    "duplicate port names",
    gw({
      servers: [
        { hosts: ["a.example.com"], port: { number: 80, name: "http", protocol: "HTTP" } },
        { hosts: ["b.example.com"], port: { number: 8080, name: "http", protocol: "HTTP" } },
      ],
    }),
    ["error spec.servers[1].port.name: port names in servers must be unique: duplicate name http"],
  ],
  ["HTTPS without tls", https(), ["error spec.servers[0].tls: server must have TLS settings for HTTPS/TLS protocols"]],
  [
    "SIMPLE without certificates",
    https({ mode: "SIMPLE" }),
    [
      "error spec.servers[0].tls.serverCertificate: SIMPLE TLS requires a server certificate",
      "error spec.servers[0].tls.privateKey: SIMPLE TLS requires a private key",
    ],
  ],
  [
    "MUTUAL without a CA bundle",
    https({ mode: "MUTUAL", serverCertificate: "/c.pem", privateKey: "/k.pem" }),
    ["error spec.servers[0].tls.caCertificates: MUTUAL TLS requires a client CA bundle"],
  ],
  [
    "credentialName and credentialNames together",
    https({ mode: "SIMPLE", credentialName: "a", credentialNames: ["a", "b"] }),
    ["error spec.servers[0].tls: only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified"],
  ],
  [
    "credentialNames with file certificates",
    https({ mode: "SIMPLE", credentialNames: ["a"], serverCertificate: "/c.pem", privateKey: "/k.pem" }),
    ["error spec.servers[0].tls: only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified"],
  ],
  [
    "TLS settings on plain HTTP",
    server({ tls: { mode: "SIMPLE", credentialName: "c" } }),
    ["error spec.servers[0].tls: server cannot have TLS settings for plain text HTTP ports"],
  ],
  [
    "TLS settings on TCP",
    server({ port: { number: 3306, name: "mysql", protocol: "TCP" }, tls: { mode: "SIMPLE", credentialName: "c" } }),
    ["error spec.servers[0].tls: server cannot have TLS settings for non HTTPS/TLS ports"],
  ],
  [
    "gateway name with a dot",
    gw({ servers: [{ hosts: ["*"], port: { number: 80, name: "http", protocol: "HTTP" } }] }, "my.gw"),
    ['error metadata.name: invalid gateway name: "my.gw"'],
  ],
];

for (const [name, raw, want] of cases) {
  test(`invalid ${String(raw.kind)}: ${name}`, () => {
    const r = validateObject(raw, { file: "t.yaml", line: 1 });
    assert.equal(r.ok, false, "expected the object to be refused");
    assert.deepEqual(diagnostics(raw), want);
  });
}

test("policy warnings ride along with an accepted object", () => {
  const raw = lb({ consistentHash: { httpHeaderName: "x-user", minimumRingSize: 1024 } });
  const r = validateObject(raw, { file: "t.yaml", line: 1 });
  assert.equal(r.ok, true);
  assert.deepEqual(diagnostics(raw), [
    "warning spec.trafficPolicy.loadBalancer.consistentHash.minimumRingSize: consistent hash MinimumRingSize is deprecated, use ConsistentHashLB's RingHash configuration instead",
  ]);
  const redirect = server({ port: { number: 443, name: "tls", protocol: "TLS" }, tls: { mode: "PASSTHROUGH", httpsRedirect: true } });
  assert.deepEqual(diagnostics(redirect), ["warning spec.servers[0].tls.httpsRedirect: tls.httpsRedirect should only be used with http servers"]);
});
