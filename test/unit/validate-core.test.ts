/**
 * ServiceEntry, Kubernetes kinds and object envelope (kind, apiVersion,
 * metadata) validation: each invalid object with its exact diagnostics.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { validateObject } from "../../src/model/validate";

type Raw = Record<string, unknown>;

const se = (spec: Raw): Raw => ({ apiVersion: "networking.istio.io/v1", kind: "ServiceEntry", metadata: { name: "ext" }, spec });
const svc = (spec: Raw): Raw => ({ apiVersion: "v1", kind: "Service", metadata: { name: "bill-service" }, spec });
const slice = (body: Raw): Raw => ({
  apiVersion: "discovery.k8s.io/v1",
  kind: "EndpointSlice",
  metadata: { name: "bill-abc", labels: { "kubernetes.io/service-name": "bill-service" } },
  ...body,
});
const http80 = { number: 80, name: "http", protocol: "HTTP" };

function diagnostics(raw: Raw): string[] {
  const r = validateObject(raw, { file: "t.yaml", line: 1 });
  return (r.ok ? r.warnings : r.diagnostics).map((d) => `${d.severity} ${d.field ?? ""}: ${d.message}`);
}

const cases: [string, Raw, string[]][] = [
  // ---------------------------------------------------------------- ServiceEntry
  ["no hosts", se({ ports: [http80] }), ["error spec.hosts: service entry must have at least one host"]],
  ["host *", se({ hosts: ["*"], ports: [http80] }), ["error spec.hosts[0]: invalid host *"]],
  [
    "duplicate port names",
    se({ hosts: ["a.example.com"], ports: [http80, { number: 8080, name: "http", protocol: "HTTP" }] }),
    ['error spec.ports[1].name: service entry port name "http" already defined'],
  ],
  [
    "duplicate port numbers",
    se({ hosts: ["a.example.com"], ports: [http80, { number: 80, name: "web", protocol: "HTTP" }] }),
    ["error spec.ports[1].number: service entry port 80 already defined"],
  ],
  [
    "endpoints and workloadSelector",
    se({ hosts: ["a.example.com"], ports: [http80], resolution: "STATIC", endpoints: [{ address: "10.0.0.1" }], workloadSelector: { labels: { app: "a" } } }),
    ["error spec: only one of WorkloadSelector or Endpoints is allowed in Service Entry"],
  ],
  [
    "NONE with endpoints",
    se({ hosts: ["a.example.com"], ports: [http80], endpoints: [{ address: "10.0.0.1" }] }),
    ["error spec.endpoints: no endpoints should be provided for resolution type none"],
  ],
  [
    "STATIC endpoint with a hostname",
    se({ hosts: ["a.example.com"], ports: [http80], resolution: "STATIC", endpoints: [{ address: "db.example.com" }] }),
    ['error spec.endpoints[0].address: endpoint address "db.example.com" is not a valid IP address'],
  ],
  [
    "DNS endpoint address invalid",
    se({ hosts: ["a.example.com"], ports: [http80], resolution: "DNS", endpoints: [{ address: "not_valid" }] }),
    ['error spec.endpoints[0].address: endpoint address "not_valid" is not a valid FQDN or an IP address'],
  ],
  [
    "DNS wildcard host without endpoints",
    se({ hosts: ["*.example.com"], ports: [http80], resolution: "DNS" }),
    ["error spec.hosts[0]: hosts must be FQDN if no endpoints are provided for resolution mode DNS"],
  ],
  [
    "endpoint port not declared",
    se({ hosts: ["a.example.com"], ports: [http80], resolution: "STATIC", endpoints: [{ address: "10.0.0.1", ports: { grpc: 9090 } }] }),
    ['error spec.endpoints[0].ports.grpc: endpoint port "grpc" is not defined by the service entry'],
  ],
  [
    "unsupported protocol",
    se({ hosts: ["a.example.com"], ports: [{ number: 21, name: "ftp", protocol: "FTP" }] }),
    ["error spec.ports[0].protocol: unsupported protocol: FTP"],
  ],
  ["port name missing", se({ hosts: ["a.example.com"], ports: [{ number: 80, protocol: "HTTP" }] }), ["error spec.ports[0].name: invalid port name: "]],
  [
    "port name not a DNS label",
    se({ hosts: ["a.example.com"], ports: [{ number: 80, name: "Web_1", protocol: "HTTP" }] }),
    ["error spec.ports[0].name: invalid port name: Web_1"],
  ],
  [
    "port number out of range",
    se({ hosts: ["a.example.com"], ports: [{ number: 0, name: "http", protocol: "HTTP" }] }),
    ["error spec.ports[0].number: port number 0 must be in the range 1..65535"],
  ],
  [
    "several hosts on a TCP port",
    se({ hosts: ["a.example.com", "b.example.com"], ports: [{ number: 3306, name: "tcp", protocol: "TCP" }], resolution: "DNS" }),
    ["error spec.hosts: multiple hosts provided with non-HTTP, non-TLS ports"],
  ],
  [
    "unknown resolution",
    se({ hosts: ["a.example.com"], ports: [http80], resolution: "MAGIC" }),
    ['error spec.resolution: unknown value "MAGIC"; expected one of NONE, STATIC, DNS, DNS_ROUND_ROBIN, DYNAMIC_DNS'],
  ],
  [
    "CIDR with DNS resolution",
    se({ hosts: ["a.example.com"], addresses: ["10.0.0.0/16"], ports: [http80], resolution: "DNS" }),
    ["error spec.addresses[0]: CIDR addresses are allowed only for NONE/STATIC resolution types"],
  ],
  [
    "DNS_ROUND_ROBIN with two endpoints",
    se({ hosts: ["a.example.com"], ports: [http80], resolution: "DNS_ROUND_ROBIN", endpoints: [{ address: "a.example.org" }, { address: "b.example.org" }] }),
    ["error spec.endpoints: there must only be 0 or 1 endpoint for resolution mode DNS_ROUND_ROBIN"],
  ],
  // ---------------------------------------------------------------- Service
  ["service without ports", svc({ selector: { app: "bill" } }), ["error spec.ports: at least one port is required"]],
  ["service port out of range", svc({ ports: [{ name: "http", port: 70000 }] }), ["error spec.ports[0].port: port number 70000 must be in the range 1..65535"]],
  [
    "two unnamed ports",
    svc({ ports: [{ port: 80 }, { port: 443 }] }),
    [
      "error spec.ports[0].name: name is required when a service has more than one port",
      "error spec.ports[1].name: name is required when a service has more than one port",
    ],
  ],
  [
    "duplicate port names",
    svc({
      ports: [
        { name: "http", port: 80 },
        { name: "http", port: 8080 },
      ],
    }),
    ['error spec.ports[1].name: duplicate port name "http"'],
  ],
  [
    "targetPort name invalid",
    svc({ ports: [{ name: "http", port: 80, targetPort: "Not_A_Name" }] }),
    ['error spec.ports[0].targetPort: invalid targetPort "Not_A_Name": want a port number 1..65535 or a port name'],
  ],
  [
    "targetPort zero",
    svc({ ports: [{ name: "http", port: 80, targetPort: 0 }] }),
    ["error spec.ports[0].targetPort: invalid targetPort 0: want a port number 1..65535 or a port name"],
  ],
  [
    "unknown port protocol",
    svc({ ports: [{ name: "http", port: 80, protocol: "HTTP" }] }),
    ['error spec.ports[0].protocol: unknown value "HTTP"; expected one of TCP, UDP, SCTP'],
  ],
  // ---------------------------------------------------------------- Endpoints, EndpointSlice, Pod
  [
    "endpoints address not an IP",
    { apiVersion: "v1", kind: "Endpoints", metadata: { name: "e" }, subsets: [{ addresses: [{ ip: "10.0.0" }] }] },
    ['error subsets[0].addresses[0].ip: "10.0.0" is not a valid IP address'],
  ],
  ["slice address type unknown", slice({ addressType: "IPv5", endpoints: [] }), ['error addressType: unknown value "IPv5"; expected one of IPv4, IPv6, FQDN']],
  [
    "slice endpoint without addresses",
    slice({ addressType: "IPv4", endpoints: [{ addresses: [] }] }),
    ["error endpoints[0].addresses: must contain at least one address"],
  ],
  [
    "slice address not IPv4",
    slice({ addressType: "IPv4", endpoints: [{ addresses: ["fd00::1"] }] }),
    ['error endpoints[0].addresses[0]: "fd00::1" is not a valid IPv4 address'],
  ],
  [
    "pod IP invalid",
    { apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, status: { podIP: "10.0.0.300" } },
    ['error status.podIP: "10.0.0.300" is not a valid IP address'],
  ],
  // ---------------------------------------------------------------- envelope
  ["name missing", { apiVersion: "v1", kind: "Service", metadata: {}, spec: { ports: [{ port: 80 }] } }, ["error metadata.name: name is required"]],
  [
    "name not a DNS subdomain",
    { apiVersion: "v1", kind: "Service", metadata: { name: "Bill_Service" }, spec: { ports: [{ port: 80 }] } },
    ['error metadata.name: invalid name "Bill_Service": must be a lowercase RFC 1123 subdomain'],
  ],
  [
    "namespace invalid",
    { apiVersion: "v1", kind: "Service", metadata: { name: "s", namespace: "My.NS" }, spec: { ports: [{ port: 80 }] } },
    ['error metadata.namespace: invalid namespace "My.NS": must be a lowercase RFC 1123 label'],
  ],
  [
    "label value not a string",
    { apiVersion: "v1", kind: "Pod", metadata: { name: "p", labels: { version: 1 } } },
    ["error metadata.labels.version: expected a string, got number 1"],
  ],
  [
    "unsupported apiVersion",
    { apiVersion: "networking.istio.io/v2", kind: "VirtualService", metadata: { name: "r" }, spec: {} },
    [
      'error apiVersion: unsupported apiVersion "networking.istio.io/v2" for VirtualService; expected networking.istio.io/v1 or networking.istio.io/v1beta1 or networking.istio.io/v1alpha3',
    ],
  ],
  ["kind missing", { apiVersion: "v1", metadata: { name: "x" } }, ["error kind: kind is required"]],
  ["apiVersion missing", { kind: "Service", metadata: { name: "x" } }, ["error apiVersion: apiVersion is required"]],
];

for (const [name, raw, want] of cases) {
  test(`invalid ${String(raw.kind ?? "object")}: ${name}`, () => {
    const r = validateObject(raw, { file: "t.yaml", line: 1 });
    assert.equal(r.ok, false, "expected the object to be refused");
    assert.deepEqual(diagnostics(raw), want);
  });
}
