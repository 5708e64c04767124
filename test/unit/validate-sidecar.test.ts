/**
 * Sidecar validation: each object with its exact diagnostics (severity, field
 * path, Istio's message from ValidateSidecar and the helpers it calls), and
 * the forms Istio accepts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { validateObject } from "../../src/model/validate";

type Raw = Record<string, unknown>;

const sc = (spec: Raw | undefined, apiVersion = "networking.istio.io/v1"): Raw => ({
  apiVersion,
  kind: "Sidecar",
  metadata: { name: "s", namespace: "foo" },
  ...(spec === undefined ? {} : { spec }),
});
const egress = (...listeners: Raw[]): Raw => sc({ egress: listeners });
const ingress = (...listeners: Raw[]): Raw => sc({ ingress: listeners });
const hosts = (...h: string[]): Raw => egress({ hosts: h });

function diagnostics(raw: Raw): string[] {
  const r = validateObject(raw, { file: "t.yaml", line: 1 });
  return (r.ok ? r.warnings : r.diagnostics).map((d) => `${d.severity} ${d.field ?? ""}: ${d.message}`);
}

const HTTP = { number: 9080, protocol: "HTTP", name: "http" };

const cases: [string, Raw, string[]][] = [
  // accepted
  ["./* egress", hosts("./*"), []],
  ["ns/* and */host", hosts("bar/*", "*/api.example.com"), []],
  ["wildcard host in namespace", hosts("bar/*.example.com"), []],
  ["excluded host", hosts("./*", "~bar/x.bar.svc.cluster.local"), []],
  ["~/* imports nothing", hosts("~/*"), []],
  ["v1beta1", sc({ egress: [{ hosts: ["./*"] }] }, "networking.istio.io/v1beta1"), []],
  ["v1alpha3", sc({ egress: [{ hosts: ["./*"] }] }, "networking.istio.io/v1alpha3"), []],
  ["outboundTrafficPolicy only", sc({ outboundTrafficPolicy: { mode: "REGISTRY_ONLY" } }), []],
  [
    "egressProxy with ALLOW_ANY",
    sc({ outboundTrafficPolicy: { mode: "ALLOW_ANY", egressProxy: { host: "egress.istio-system.svc.cluster.local", port: { number: 80 } } } }),
    [],
  ],
  ["port listener then catch-all", egress({ port: HTTP, hosts: ["*/*"] }, { hosts: ["./*"] }), []],
  ["unix socket egress", egress({ port: { number: 0, protocol: "HTTP", name: "uds" }, bind: "unix:///var/run/a.sock", hosts: ["./*"] }), []],
  ["egress bind IP", egress({ port: HTTP, bind: "127.0.0.1", hosts: ["./*"] }), []],
  ["ingress with defaultEndpoint", ingress({ port: HTTP, defaultEndpoint: "127.0.0.1:8080" }), []],
  ["ingress defaultEndpoint :port", ingress({ port: HTTP, defaultEndpoint: ":8080" }), []],
  ["ingress defaultEndpoint [::1]", ingress({ port: HTTP, defaultEndpoint: "[::1]:8080" }), []],
  ["ingress defaultEndpoint unix", ingress({ port: HTTP, defaultEndpoint: "unix:///var/run/app.sock" }), []],
  ["ingress defaultEndpoint abstract unix", ingress({ port: HTTP, defaultEndpoint: "unix://@app" }), []],
  ["ingress without protocol (sniffed)", ingress({ port: { number: 9080, name: "p" } }), []],
  ["selector", sc({ workloadSelector: { labels: { app: "web" } }, egress: [{ hosts: ["./*"] }] }), []],
  ["inboundConnectionPool only", sc({ inboundConnectionPool: { tcp: { maxConnections: 10 } } }), []],
  [
    "ingress TLS SIMPLE",
    ingress({ port: { number: 8443, protocol: "HTTPS", name: "https" }, tls: { mode: "SIMPLE", serverCertificate: "/c.pem", privateKey: "/k.pem" } }),
    [],
  ],
  // refused or warned
  ["no spec", sc(undefined), ["error spec: sidecar: empty configuration provided"]],
  ["empty spec", sc({}), ["error spec: sidecar: empty configuration provided"]],
  ["empty egress list", sc({ egress: [] }), ["error spec: sidecar: empty configuration provided"]],
  [
    "v2 refused",
    sc({ egress: [{ hosts: ["./*"] }] }, "networking.istio.io/v2"),
    [
      'error apiVersion: unsupported apiVersion "networking.istio.io/v2" for Sidecar; expected networking.istio.io/v1 or networking.istio.io/v1beta1 or networking.istio.io/v1alpha3',
    ],
  ],
  [
    "selector without labels",
    sc({ workloadSelector: {}, egress: [{ hosts: ["./*"] }] }),
    ["warning spec.workloadSelector: sidecar: workload selector specified without labels, will be applied to all services in namespace"],
  ],
  [
    "wildcard in selector",
    sc({ workloadSelector: { labels: { app: "w*" } }, egress: [{ hosts: ["./*"] }] }),
    ['error spec.workloadSelector.labels.app: wildcard is not supported in selector: "app=w*"'],
  ],
  ["no hosts", egress({}), ["error spec.egress[0].hosts: sidecar: egress listener must contain at least one host"]],
  ["empty hosts", egress({ hosts: [] }), ["error spec.egress[0].hosts: sidecar: egress listener must contain at least one host"]],
  ["host without namespace", hosts("foo.com"), ["error spec.egress[0].hosts[0]: host must be of form namespace/dnsName"]],
  ["empty namespace", hosts("/foo.com"), ["error spec.egress[0].hosts[0]: config namespace and dnsName in host entry cannot be empty"]],
  [
    "empty dnsName",
    hosts("bar/"),
    [
      "error spec.egress[0].hosts[0]: config namespace and dnsName in host entry cannot be empty",
      "error spec.egress[0].hosts[0]: short names (non FQDN) are not allowed",
      "error spec.egress[0].hosts[0]: empty domain name not allowed",
    ],
  ],
  ["bad namespace", hosts("Bar_x/foo.com"), ['error spec.egress[0].hosts[0]: invalid namespace value "Bar_x" in sidecar']],
  ["short name", hosts("bar/reviews"), ["error spec.egress[0].hosts[0]: short names (non FQDN) are not allowed"]],
  [
    "partial wildcard",
    hosts("bar/foo*.com"),
    [
      'error spec.egress[0].hosts[0]: domain name "foo*.com" invalid (label "foo*" invalid)',
      'error spec.egress[0].hosts[0]: partial wildcard "foo*.com" not allowed',
    ],
  ],
  ["duplicated host", hosts("bar/a.com", "bar/a.com"), ["warning spec.egress[0].hosts[1]: duplicated egress host: bar/a.com"]],
  ["host after ns/*", hosts("bar/*", "bar/a.com"), ["warning spec.egress[0].hosts[1]: duplicated egress host: bar/a.com"]],
  ["ns/* after host", hosts("bar/a.com", "bar/*"), ["warning spec.egress[0].hosts[1]: duplicated egress host: bar/*"]],
  ["./* and foo/* are the same", hosts("./*", "foo/*"), ["warning spec.egress[0].hosts[1]: duplicated egress host: foo/*"]],
  ["*/* with others", hosts("*/*", "bar/a.com"), ["warning spec.egress[0].hosts: `*/*` host select all resources, no other hosts can be added"]],
  [
    "catch-all not last",
    egress({ hosts: ["./*"] }, { port: HTTP, hosts: ["./*"] }),
    ["error spec.egress[0]: sidecar: the egress listener with empty port should be the last listener in the list"],
  ],
  // As in Istio: only the last listener may be the catch-all, so an earlier one is "not last".
  [
    "two catch-alls",
    egress({ port: HTTP, hosts: ["./*"] }, { hosts: ["./*"] }, { hosts: ["./*"] }),
    ["error spec.egress[1]: sidecar: the egress listener with empty port should be the last listener in the list"],
  ],
  [
    "duplicate egress port",
    egress({ port: HTTP, hosts: ["./*"] }, { port: HTTP, hosts: ["./*"] }),
    ["error spec.egress[1].port.number: sidecar: ports on IP bound listeners must be unique"],
  ],
  [
    "egress port out of range",
    egress({ port: { number: 70000, protocol: "HTTP" }, hosts: ["./*"] }),
    ["error spec.egress[0].port.number: port number 70000 must be in the range 1..65535"],
  ],
  ["egress bad protocol", egress({ port: { number: 80, protocol: "FOO" }, hosts: ["./*"] }), ["error spec.egress[0].port.protocol: unsupported protocol: FOO"]],
  [
    "egress bad port name",
    egress({ port: { number: 80, protocol: "HTTP", name: "Bad_Name" }, hosts: ["./*"] }),
    ["error spec.egress[0].port.name: invalid port name: Bad_Name"],
  ],
  [
    "egress targetPort",
    egress({ port: { number: 80, protocol: "HTTP", targetPort: 8080 }, hosts: ["./*"] }),
    ["error spec.egress[0].port.targetPort: targetPort has no impact on Sidecars"],
  ],
  ["egress bind not IP", egress({ port: HTTP, bind: "localhost", hosts: ["./*"] }), ["error spec.egress[0].bind: localhost is not a valid IP"]],
  [
    "port 0 without unix bind",
    egress({ port: { number: 0, protocol: "HTTP" }, hosts: ["./*"] }),
    ["error spec.egress[0].bind: sidecar: ports with 0 value must have a unix domain socket bind address"],
  ],
  [
    "port 0 relative unix path",
    egress({ port: { number: 0, protocol: "HTTP" }, bind: "unix://a.sock", hosts: ["./*"] }),
    ["error spec.egress[0].bind: a.sock is not an absolute path to a file"],
  ],
  [
    "port 0 empty unix path",
    egress({ port: { number: 0, protocol: "HTTP" }, bind: "unix://", hosts: ["./*"] }),
    ["error spec.egress[0].bind: unix address must not be empty"],
  ],
  [
    "unix with IPTABLES capture",
    egress({ port: { number: 0, protocol: "HTTP" }, bind: "unix:///a.sock", captureMode: "IPTABLES", hosts: ["./*"] }),
    ["error spec.egress[0].captureMode: sidecar: captureMode must be DEFAULT/NONE for unix domain socket listeners"],
  ],
  [
    "duplicate unix socket",
    egress(
      { port: { number: 0, protocol: "HTTP" }, bind: "unix:///a.sock", hosts: ["./*"] },
      { port: { number: 0, protocol: "TCP" }, bind: "unix:///a.sock", hosts: ["./*"] },
    ),
    ["error spec.egress[1].bind: sidecar: unix domain socket values for listeners must be unique"],
  ],
  [
    "bad captureMode",
    egress({ port: HTTP, captureMode: "TPROXY", hosts: ["./*"] }),
    ['error spec.egress[0].captureMode: unknown value "TPROXY"; expected one of DEFAULT, IPTABLES, NONE'],
  ],
  ["ingress without port", ingress({ defaultEndpoint: "127.0.0.1:80" }), ["error spec.ingress[0].port: sidecar: port is required for ingress listeners"]],
  ["ingress port 0", ingress({ port: { number: 0, protocol: "HTTP" } }), ["error spec.ingress[0].port.number: port number 0 must be in the range 1..65535"]],
  [
    "ingress duplicate port",
    ingress({ port: HTTP }, { port: HTTP }),
    ["error spec.ingress[1].port.number: sidecar: ports on IP bound listeners must be unique"],
  ],
  ["ingress targetPort", ingress({ port: { ...HTTP, targetPort: 1 } }), ["error spec.ingress[0].port.targetPort: targetPort has no impact on Sidecars"]],
  ["ingress bind not IP", ingress({ port: HTTP, bind: "host" }), ["error spec.ingress[0].bind: host is not a valid IP"]],
  [
    "ingress defaultEndpoint other host",
    ingress({ port: HTTP, defaultEndpoint: "10.0.0.1:8080" }),
    [
      "error spec.ingress[0].defaultEndpoint: sidecar: defaultEndpoint must be of form 127.0.0.1:<port>,0.0.0.0:<port>,[::1]:port,[::]:port,unix://filepath or unset",
    ],
  ],
  [
    "ingress defaultEndpoint no port",
    ingress({ port: HTTP, defaultEndpoint: "127.0.0.1" }),
    ["error spec.ingress[0].defaultEndpoint: address 127.0.0.1: missing port in address"],
  ],
  [
    "ingress defaultEndpoint port not a number",
    ingress({ port: HTTP, defaultEndpoint: "127.0.0.1:http" }),
    ["error spec.ingress[0].defaultEndpoint: sidecar: defaultEndpoint port (http) is not a number"],
  ],
  [
    "ingress defaultEndpoint port 0",
    ingress({ port: HTTP, defaultEndpoint: "127.0.0.1:0" }),
    ["error spec.ingress[0].defaultEndpoint: port number 0 must be in the range 1..65535"],
  ],
  [
    "ingress defaultEndpoint relative unix",
    ingress({ port: HTTP, defaultEndpoint: "unix://app.sock" }),
    ["error spec.ingress[0].defaultEndpoint: app.sock is not an absolute path to a file"],
  ],
  [
    "ingress TLS on HTTP port",
    ingress({ port: HTTP, tls: { mode: "PASSTHROUGH" } }),
    ["error spec.ingress[0].tls: server cannot have TLS settings for non HTTPS/TLS ports"],
  ],
  [
    "ingress TLS ISTIO_MUTUAL",
    ingress({ port: { number: 8443, protocol: "TLS" }, tls: { mode: "ISTIO_MUTUAL" } }),
    ["error spec.ingress[0].tls.mode: configuration is invalid: cannot set mode to ISTIO_MUTUAL in sidecar ingress tls"],
  ],
  [
    "ingress TLS credentialName",
    ingress({ port: { number: 8443, protocol: "TLS" }, tls: { mode: "PASSTHROUGH", credentialName: "c" } }),
    ["error spec.ingress[0].tls.credentialName: sidecar: credentialName is not currently supported"],
  ],
  [
    "ingress TLS SANs",
    ingress({ port: { number: 8443, protocol: "TLS" }, tls: { mode: "PASSTHROUGH", subjectAltNames: ["a"] } }),
    ["error spec.ingress[0].tls.subjectAltNames: sidecar: subjectAltNames is not supported in ingress tls"],
  ],
  [
    "ingress TLS httpsRedirect",
    ingress({ port: { number: 8443, protocol: "HTTPS" }, tls: { mode: "PASSTHROUGH", httpsRedirect: true } }),
    ["error spec.ingress[0].tls.httpsRedirect: sidecar: httpsRedirect is not supported"],
  ],
  [
    "ingress TLS SIMPLE without files",
    ingress({ port: { number: 8443, protocol: "HTTPS" }, tls: { mode: "SIMPLE" } }),
    [
      "error spec.ingress[0].tls.serverCertificate: SIMPLE TLS requires a server certificate",
      "error spec.ingress[0].tls.privateKey: SIMPLE TLS requires a private key",
    ],
  ],
  [
    "ingress HTTP pool on TCP port",
    ingress({ port: { number: 9000, protocol: "TCP", name: "tcp" }, connectionPool: { http: { maxRetries: 3 } } }),
    [
      'warning spec.ingress[0].connectionPool: sidecar: HTTP connection pool settings are configured for port 9000 ("tcp") but its protocol is not HTTP (TCP); only TCP settings will apply',
    ],
  ],
  ["empty connection pool", sc({ inboundConnectionPool: {} }), ["error spec.inboundConnectionPool: connection pool must have at least one field"]],
  [
    "egressProxy without mode (REGISTRY_ONLY)",
    sc({ outboundTrafficPolicy: { egressProxy: { host: "e.com", port: { number: 80 } } } }),
    ["error spec.outboundTrafficPolicy.egressProxy: sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode"],
  ],
  [
    "egressProxy without port",
    sc({ outboundTrafficPolicy: { mode: "ALLOW_ANY", egressProxy: { host: "e.com" } } }),
    ["error spec.outboundTrafficPolicy.egressProxy.port: sidecar: egress_proxy port must be non-nil"],
  ],
  [
    "egressProxy wildcard host",
    sc({ outboundTrafficPolicy: { mode: "ALLOW_ANY", egressProxy: { host: "*.e.com", port: { number: 80 } } } }),
    ["error spec.outboundTrafficPolicy.egressProxy.host: invalid FQDN: *.e.com"],
  ],
  [
    "bad mode",
    sc({ outboundTrafficPolicy: { mode: "ALLOW_ANY_DYNAMIC_DNS" } }),
    ['error spec.outboundTrafficPolicy.mode: unknown value "ALLOW_ANY_DYNAMIC_DNS"; expected one of ALLOW_ANY, REGISTRY_ONLY'],
  ],
  ["unknown field", sc({ egress: [{ hosts: ["./*"] }], egressy: 1 }), ["warning spec.egressy: unknown field; ignored"]],
];

for (const [name, raw, want] of cases) {
  test(`Sidecar validation: ${name}`, () => {
    assert.deepEqual(diagnostics(raw), want);
  });
}

test("Sidecar diagnostics carry file:line and the object", () => {
  const r = validateObject(hosts("bar/reviews"), { file: "sc.yaml", line: 7 });
  assert.equal(r.ok, false);
  if (r.ok) return;
  const d = r.diagnostics[0]!;
  assert.deepEqual([d.kind, d.namespace, d.name, d.origin?.file, d.origin?.line], ["Sidecar", "foo", "s", "sc.yaml", 7]);
});
