/**
 * validateObject on valid input (the bill-service canary scenario and other
 * accepted shapes), warnings on accepted objects, skipped kinds, and the
 * duration parser generators rely on.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseIstioDuration, validateObject } from "../../src/model/validate";
import { parseManifests } from "../../src/model/parse";
import type { Diagnostic, MeshObject, Pod, Service, VirtualService } from "../../src/model/types";

const BILL = `
apiVersion: v1
kind: Service
metadata:
  name: bill-service
  labels: {app: bill-service}
spec:
  selector: {app: bill-service}
  ports:
  - name: http
    port: 9999
    targetPort: 8080
---
apiVersion: v1
kind: Pod
metadata:
  name: bill-service-v1
  labels: {app: bill-service, version: v1}
spec:
  nodeName: node-a
  containers:
  - name: app
    image: example/bill:v1
    ports: [{containerPort: 8080, name: http}]
status:
  phase: Running
  podIP: 10.0.0.11
  podIPs: [{ip: 10.0.0.11}]
  conditions: [{type: Ready, status: "True"}]
---
apiVersion: v1
kind: Pod
metadata:
  name: bill-service-v2
  labels: {app: bill-service, version: v2}
spec:
  containers: [{name: app, image: example/bill:v2}]
status:
  podIP: 10.0.0.12
  conditions: [{type: Ready, status: "False"}]
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata:
  name: bill-service
spec:
  host: bill-service
  subsets:
  - name: v1
    labels: {version: v1}
  - name: v2
    labels: {version: v2}
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: bill-service
spec:
  hosts: [bill-service]
  http:
  - match:
    - headers:
        end-user:
          exact: jason
    route:
    - destination: {host: bill-service, subset: v2}
  - route:
    - destination: {host: bill-service, subset: v1}
      weight: 90
    - destination: {host: bill-service, subset: v2}
      weight: 10
`;

function validateAll(text: string): { objects: MeshObject[]; diagnostics: Diagnostic[] } {
  const parsed = parseManifests(text, "bill.yaml");
  const objects: MeshObject[] = [];
  const diagnostics = [...parsed.diagnostics];
  for (const { raw, origin } of parsed.objects) {
    const r = validateObject(raw, origin);
    if (r.ok) {
      objects.push(r.object);
      diagnostics.push(...r.warnings);
    } else diagnostics.push(...r.diagnostics);
  }
  return { objects, diagnostics };
}

const fields = (raw: Record<string, unknown>): string[] => {
  const r = validateObject(raw, { file: "t.yaml", line: 3 });
  return (r.ok ? r.warnings : r.diagnostics).map((d) => `${d.severity} ${d.field ?? ""}: ${d.message}`);
};

test("the bill-service scenario validates clean", () => {
  const { objects, diagnostics } = validateAll(BILL);
  assert.deepEqual(diagnostics, []);
  assert.deepEqual(
    objects.map((o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}@${o.origin?.line}`),
    [
      "Service/default/bill-service@2",
      "Pod/default/bill-service-v1@14",
      "Pod/default/bill-service-v2@31",
      "DestinationRule/default/bill-service@42",
      "VirtualService/default/bill-service@54",
    ],
  );
});

test("objects are narrowed to the typed shapes", () => {
  const { objects } = validateAll(BILL);
  const svc = objects[0] as Service;
  assert.deepEqual(svc.spec, { selector: { app: "bill-service" }, ports: [{ name: "http", port: 9999, targetPort: 8080 }] });
  const v1 = objects[1] as Pod;
  assert.deepEqual(v1.spec, {
    nodeName: "node-a",
    containers: [{ name: "app", ports: [{ name: "http", containerPort: 8080 }] }],
    podIP: "10.0.0.11",
    podIPs: ["10.0.0.11"],
    phase: "Running",
    ready: true,
  });
  assert.equal((objects[2] as Pod).spec.ready, false);
  const vs = objects[4] as VirtualService;
  assert.deepEqual(vs.spec.http?.[0]?.match, [{ headers: { "end-user": { exact: "jason" } } }]);
  assert.deepEqual(
    vs.spec.http?.[1]?.route?.map((r) => r.weight),
    [90, 10],
  );
});

test("namespace defaults: default for namespaced kinds, empty for cluster-scoped ones", () => {
  const ns = validateObject({ apiVersion: "v1", kind: "Namespace", metadata: { name: "shop", namespace: "ignored" } }, {});
  const node = validateObject({ apiVersion: "v1", kind: "Node", metadata: { name: "n1", labels: { "topology.kubernetes.io/zone": "z1" } } }, {});
  const svc = validateObject({ apiVersion: "v1", kind: "Service", metadata: { name: "s", namespace: "shop" }, spec: { ports: [{ port: 80 }] } }, {});
  assert.ok(ns.ok && node.ok && svc.ok);
  assert.equal(ns.object.metadata.namespace, "");
  assert.deepEqual(node.object.metadata, { name: "n1", labels: { "topology.kubernetes.io/zone": "z1" }, namespace: "" });
  assert.equal(svc.object.metadata.namespace, "shop");
});

test("a diagnostic names the object, the field and where it came from", () => {
  const r = validateObject(
    {
      apiVersion: "networking.istio.io/v1",
      kind: "VirtualService",
      metadata: { name: "r", namespace: "shop" },
      spec: { hosts: ["b"], http: [{ route: [{ destination: { host: "b" }, weight: -1 }] }] },
    },
    { file: "shop/routes.yaml", line: 12 },
  );
  assert.equal(r.ok, false);
  assert.deepEqual(!r.ok && r.diagnostics, [
    {
      severity: "error",
      kind: "VirtualService",
      namespace: "shop",
      name: "r",
      field: "spec.http[0].route[0].weight",
      message: "weight -1 < 0",
      origin: { file: "shop/routes.yaml", line: 12 },
    },
  ]);
});

test("other valid shapes: gateway-bound wildcard, TLS routes, ServiceEntry, HTTPS gateway, rich DestinationRule", () => {
  const ok = (raw: Record<string, unknown>): void => assert.deepEqual(fields(raw), [], JSON.stringify(raw));
  const istio = (kind: string, spec: Record<string, unknown>) => ({ apiVersion: "networking.istio.io/v1", kind, metadata: { name: "x" }, spec });
  ok(
    istio("VirtualService", {
      hosts: ["*"],
      gateways: ["istio-system/ingress"],
      http: [{ match: [{ uri: { prefix: "" } }], redirect: { uri: "/", redirectCode: 308 } }],
    }),
  );
  ok(
    istio("VirtualService", {
      hosts: ["*.example.com"],
      tls: [{ match: [{ sniHosts: ["a.example.com"], port: 443 }], route: [{ destination: { host: "a.example.com" } }] }],
    }),
  );
  ok(istio("VirtualService", { http: [{ route: [{ destination: { host: "reviews" } }] }] })); // a delegate
  ok(
    istio("VirtualService", {
      hosts: ["b"],
      http: [
        {
          match: [{ uri: { regex: "^/api/v[0-9]+/.*$" }, withoutHeaders: { "x-debug": { regex: "*" } } }],
          route: [{ destination: { host: "b" } }],
          timeout: "1.5s",
          retries: { attempts: 3, perTryTimeout: "500ms", retryOn: "5xx,503,connect-failure" },
          fault: { delay: { fixedDelay: "1m", percentage: { value: 0.5 } } },
          corsPolicy: { allowOrigins: [{ exact: "https://a.example.com" }], allowMethods: ["GET", "POST"], maxAge: "24h" },
        },
      ],
    }),
  );
  ok(
    istio("ServiceEntry", {
      hosts: ["api.example.com"],
      ports: [{ number: 443, name: "https", protocol: "TLS" }],
      location: "MESH_EXTERNAL",
      resolution: "DNS",
    }),
  );
  ok(
    istio("ServiceEntry", {
      hosts: ["db.internal"],
      addresses: ["10.1.0.0/16"],
      ports: [{ number: 5432, name: "pg", protocol: "TCP" }],
      resolution: "STATIC",
      endpoints: [{ address: "10.1.0.5", ports: { pg: 6432 }, labels: { version: "v1" } }],
    }),
  );
  ok(
    istio("Gateway", {
      selector: { istio: "ingressgateway" },
      servers: [
        {
          hosts: ["shop/*.example.com"],
          port: { number: 443, name: "https", protocol: "HTTPS" },
          tls: { mode: "SIMPLE", serverCertificate: "/etc/certs/c.pem", privateKey: "/etc/certs/k.pem" },
        },
        { hosts: ["*"], port: { number: 80, name: "http", protocol: "HTTP" }, tls: { httpsRedirect: true } },
      ],
    }),
  );
  ok(
    istio("DestinationRule", {
      host: "*.example.com",
      trafficPolicy: {
        loadBalancer: { consistentHash: { httpCookie: { name: "sid", ttl: "0s" }, maglev: { tableSize: 65537 } } },
        connectionPool: { tcp: { maxConnections: 100, connectTimeout: "250ms", idleTimeout: "0s" }, http: { http1MaxPendingRequests: 10, maxRetries: 3 } },
        outlierDetection: { consecutive5xxErrors: 5, interval: "10s", baseEjectionTime: "30s", maxEjectionPercent: 100 },
        tls: { mode: "MUTUAL", clientCertificate: "/c.pem", privateKey: "/k.pem" },
        portLevelSettings: [{ port: { number: 9999 }, loadBalancer: { simple: "ROUND_ROBIN" } }],
      },
    }),
  );
});

test("warnings ride along with an accepted object", () => {
  const vs = { apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name: "r" } };
  const spec = {
    hosts: ["b"],
    http: [
      { match: [{ uri: { prefix: "/" }, statPrefix: "b" }], route: [{ destination: { host: "b" } }] },
      { match: [{ uri: { prefix: "/x" } }], route: [{ destination: { host: "b" } }] },
    ],
    colour: "blue",
  };
  const r = validateObject({ ...vs, spec }, { file: "t.yaml", line: 3 });
  assert.equal(r.ok, true);
  assert.deepEqual(fields({ ...vs, spec }), [
    "warning spec.colour: unknown field; ignored",
    "warning spec.http[0].match[0].statPrefix: field is not supported by mini-pilot; ignored",
  ]);
});

test("proto field names in snake_case are accepted", () => {
  const raw = {
    apiVersion: "networking.istio.io/v1",
    kind: "DestinationRule",
    metadata: { name: "d" },
    spec: { host: "b", traffic_policy: { outlier_detection: { max_ejection_percent: 50 } } },
  };
  const r = validateObject(raw, {});
  assert.ok(r.ok);
  assert.deepEqual(r.object.spec, { host: "b", trafficPolicy: { outlierDetection: { maxEjectionPercent: 50 } } });
});

test("kinds mini-pilot does not read, and slices without a service, are skipped with a warning", () => {
  assert.deepEqual(fields({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "bill" } }), [
    "warning kind: apps/v1 Deployment is not read by mini-pilot; ignored",
  ]);
  const slice = { apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", metadata: { name: "s" }, addressType: "IPv4", endpoints: [] };
  const r = validateObject(slice, {});
  assert.equal(r.ok, false);
  assert.deepEqual(fields(slice), ['warning metadata.labels["kubernetes.io/service-name"]: missing: the slice belongs to no service; skipped']);
});

test("EndpointSlice keeps its top-level fields under spec with the service name", () => {
  const r = validateObject(
    {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: "bill-abc", labels: { "kubernetes.io/service-name": "bill-service" } },
      addressType: "IPv4",
      endpoints: [{ addresses: ["10.0.0.11"], conditions: { ready: true }, targetRef: { kind: "Pod", name: "bill-service-v1" } }],
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    },
    {},
  );
  assert.ok(r.ok);
  assert.deepEqual(r.object.spec, {
    addressType: "IPv4",
    endpoints: [{ addresses: ["10.0.0.11"], conditions: { ready: true }, targetRef: { kind: "Pod", name: "bill-service-v1" } }],
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    serviceName: "bill-service",
  });
});

test("parseIstioDuration reads Go-style durations", () => {
  const ms = (t: string) => {
    const r = parseIstioDuration(t);
    return r.ok ? r.ms : r.reason;
  };
  assert.equal(ms("1s"), 1000);
  assert.equal(ms("100ms"), 100);
  assert.equal(ms("1m"), 60_000);
  assert.equal(ms("1h"), 3_600_000);
  assert.equal(ms("1.5s"), 1500);
  assert.equal(ms("1h30m"), 5_400_000);
  assert.equal(ms("0.250s"), 250);
  assert.equal(ms("1.1s"), 1100);
  assert.equal(ms("250us"), 0.25);
  assert.equal(ms("0"), 0);
  assert.equal(ms("-2s"), -2000);
  assert.equal(ms("10"), 'expected a number followed by a unit (ns, us, ms, s, m, h), e.g. "10s"');
  assert.equal(ms("5d"), 'unknown unit "d" (want ns, us, ms, s, m or h)');
  assert.equal(ms(".s"), 'expected a number followed by a unit (ns, us, ms, s, m, h), e.g. "10s"');
  assert.equal(ms(""), "empty duration");
  assert.equal(ms("9999999h"), "duration out of range");
});
