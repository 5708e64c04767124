/**
 * PeerAuthentication: Istio's validation rules (each with its exact message)
 * and the mode a workload gets (ComposePeerAuthentication's precedence), plus
 * the client side (service mode, endpoint tlsMode, identities).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { validateObject } from "../../src/model/validate";
import { buildMesh } from "../../src/model/mesh";
import type { MeshObject } from "../../src/model/types";
import { endpointWantsMtls, namespaceMtlsMode, portMtlsMode, serviceIdentities, serviceMtlsMode, workloadMtls } from "../../src/model/mesh-mtls";

type Raw = Record<string, unknown>;

const pa = (spec: Raw | undefined, meta: Raw = {}): Raw => ({
  apiVersion: "security.istio.io/v1",
  kind: "PeerAuthentication",
  metadata: { name: "p", namespace: "default", ...meta },
  ...(spec === undefined ? {} : { spec }),
});

function diagnostics(raw: Raw): string[] {
  const r = validateObject(raw, { file: "t.yaml", line: 1 });
  return (r.ok ? r.warnings : r.diagnostics).map((d) => `${d.severity} ${d.field ?? ""}: ${d.message}`);
}

const cases: [string, Raw, string[]][] = [
  ["no spec is valid (every field UNSET)", pa(undefined), []],
  ["STRICT mesh-wide", pa({ mtls: { mode: "STRICT" } }, { namespace: "istio-system" }), []],
  ["unknown mode", pa({ mtls: { mode: "STRICTER" } }), ['error spec.mtls.mode: unknown value "STRICTER"; expected one of UNSET, DISABLE, PERMISSIVE, STRICT']],
  [
    "port level without a selector",
    pa({ portLevelMtls: { "8080": { mode: "DISABLE" } } }),
    ["error spec.portLevelMtls: mesh/namespace peer authentication cannot have port level mTLS"],
  ],
  [
    "empty port level map",
    pa({ selector: { matchLabels: { app: "a" } }, portLevelMtls: {} }),
    ["error spec.portLevelMtls: port level mTLS, if defined, must have at least one element"],
  ],
  [
    "port out of range",
    pa({ selector: { matchLabels: { app: "a" } }, portLevelMtls: { "0": { mode: "DISABLE" }, "70000": { mode: "DISABLE" } } }),
    ['error spec.portLevelMtls["0"]: port must be in range 1..65535', 'error spec.portLevelMtls["70000"]: port must be in range 1..65535'],
  ],
  ["selector without labels", pa({ selector: { matchLabels: {} } }), ["warning spec.selector: workload selector specified without labels"]],
  [
    "wildcard in selector",
    pa({ selector: { matchLabels: { app: "a*" } } }),
    ['error spec.selector.matchLabels.app: wildcard is not supported in selector: "app=a*"'],
  ],
  [
    "unsupported version",
    { ...pa({}), apiVersion: "security.istio.io/v1alpha1" },
    [
      'error apiVersion: unsupported apiVersion "security.istio.io/v1alpha1" for PeerAuthentication; expected security.istio.io/v1 or security.istio.io/v1beta1',
    ],
  ],
];

for (const [name, raw, want] of cases) {
  test(`PeerAuthentication validation: ${name}`, () => assert.deepEqual(diagnostics(raw), want));
}

// ------------------------------------------------------------------ composition

function policy(name: string, namespace: string, spec: Raw, created = "2024-01-01T00:00:00Z"): MeshObject {
  const r = validateObject(pa(spec, { name, namespace, creationTimestamp: created }), { file: "t.yaml", line: 1 });
  assert.ok(r.ok);
  return r.object;
}

function mesh(objects: MeshObject[]) {
  return buildMesh(objects).mesh;
}

test("nothing configured: PERMISSIVE everywhere, namespace mode unknown", () => {
  const m = mesh([]);
  assert.equal(workloadMtls(m, "default", { app: "a" }).mode, "PERMISSIVE");
  assert.equal(namespaceMtlsMode(m, "default"), undefined);
});

test("mesh → namespace → workload → port, UNSET inherits at every step", () => {
  const m = mesh([
    policy("mesh", "istio-system", { mtls: { mode: "STRICT" } }),
    policy("ns", "default", { mtls: { mode: "UNSET" } }),
    policy("wl", "default", { selector: { matchLabels: { app: "a" } }, portLevelMtls: { "80": { mode: "DISABLE" }, "81": { mode: "UNSET" } } }),
  ]);
  const w = workloadMtls(m, "default", { app: "a", version: "v1" });
  assert.equal(w.mode, "STRICT", "UNSET namespace and workload modes inherit the mesh's STRICT");
  assert.equal(portMtlsMode(w, 80), "DISABLE");
  assert.equal(portMtlsMode(w, 81), "STRICT", "an UNSET port inherits the workload's mode");
  assert.equal(portMtlsMode(w, 82), "STRICT");
  assert.equal(workloadMtls(m, "default", { app: "b" }).mode, "STRICT", "the selector picks workloads");
  assert.equal(workloadMtls(m, "other", { app: "a" }).mode, "STRICT", "a workload policy applies in its own namespace only");
});

test("the oldest policy wins within a scope; narrower scopes win over wider ones", () => {
  const m = mesh([
    policy("new-mesh", "istio-system", { mtls: { mode: "DISABLE" } }, "2024-06-01T00:00:00Z"),
    policy("old-mesh", "istio-system", { mtls: { mode: "STRICT" } }, "2024-01-01T00:00:00Z"),
    policy("ns", "prod", { mtls: { mode: "PERMISSIVE" } }),
    policy("wl-new", "prod", { selector: { matchLabels: { app: "a" } }, mtls: { mode: "STRICT" } }, "2024-06-01T00:00:00Z"),
    policy("wl-old", "prod", { selector: { matchLabels: { app: "a" } }, mtls: { mode: "DISABLE" } }, "2024-02-01T00:00:00Z"),
  ]);
  assert.equal(workloadMtls(m, "default", {}).mode, "STRICT");
  assert.equal(workloadMtls(m, "prod", { app: "b" }).mode, "PERMISSIVE");
  assert.equal(workloadMtls(m, "prod", { app: "a" }).mode, "DISABLE");
  assert.equal(namespaceMtlsMode(m, "prod"), "PERMISSIVE");
  assert.equal(namespaceMtlsMode(m, "default"), "STRICT");
});

test("a policy with a selector in the root namespace is not mesh-wide", () => {
  const m = mesh([policy("sel", "istio-system", { selector: { matchLabels: { app: "a" } }, mtls: { mode: "STRICT" } })]);
  assert.equal(workloadMtls(m, "default", { app: "a" }).mode, "PERMISSIVE");
  assert.equal(workloadMtls(m, "istio-system", { app: "a" }).mode, "PERMISSIVE", "Istio ignores workload policies in the root namespace");
});

// ------------------------------------------------------------------ client side

function objects(yaml: Raw[]): MeshObject[] {
  return yaml.map((raw) => {
    const r = validateObject(raw, { file: "t.yaml", line: 1 });
    assert.ok(r.ok, JSON.stringify(r));
    return r.object;
  });
}

const svc: Raw = {
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "web", namespace: "default" },
  spec: { clusterIP: "10.0.0.1", selector: { app: "web" }, ports: [{ name: "http", port: 80 }] },
};
const pod = (name: string, ip: string, labels: Raw, sa?: string): Raw => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: "default", labels: { app: "web", ...labels } },
  spec: sa ? { serviceAccountName: sa } : {},
  status: { phase: "Running", podIP: ip },
});
const slice: Raw = {
  apiVersion: "discovery.k8s.io/v1",
  kind: "EndpointSlice",
  metadata: { name: "web-1", namespace: "default", labels: { "kubernetes.io/service-name": "web" } },
  addressType: "IPv4",
  ports: [{ name: "http", port: 80 }],
  endpoints: [{ addresses: ["10.1.0.1"] }, { addresses: ["10.1.0.2"] }],
};

test("endpoints: tlsMode metadata needs the sidecar label, and a DISABLE on the pod's port or in the rule removes it", () => {
  const base = objects([svc, slice, pod("a", "10.1.0.1", { "security.istio.io/tlsMode": "istio", v: "1" }, "web"), pod("b", "10.1.0.2", {})]);
  let m = mesh(base);
  const s = m.services[0]!;
  const [a, b] = m.endpoints.get(s.host)!.get(80)!;
  assert.equal(endpointWantsMtls(m, s, a!, undefined), true);
  assert.equal(endpointWantsMtls(m, s, b!, undefined), false, "no sidecar, no mTLS");
  assert.equal(endpointWantsMtls(m, s, b!, "ISTIO_MUTUAL"), false);
  assert.equal(endpointWantsMtls(m, s, a!, "DISABLE"), false);
  assert.deepEqual(serviceIdentities(m, s), ["spiffe://cluster.local/ns/default/sa/default", "spiffe://cluster.local/ns/default/sa/web"]);
  assert.equal(serviceMtlsMode(m, s, 80, false), "PERMISSIVE");
  assert.equal(serviceMtlsMode(m, s, 80, true), "DISABLE", "passthrough needs every endpoint to have a sidecar");

  m = mesh([...base, policy("a", "default", { selector: { matchLabels: { v: "1" } }, portLevelMtls: { "80": { mode: "DISABLE" } } })]);
  const s2 = m.services[0]!;
  assert.equal(endpointWantsMtls(m, s2, m.endpoints.get(s2.host)!.get(80)![0]!, undefined), false);
  assert.equal(endpointWantsMtls(m, s2, m.endpoints.get(s2.host)!.get(80)![0]!, "ISTIO_MUTUAL"), true, "an explicit ISTIO_MUTUAL wins over PeerAuthentication");
});

test("the trust domain comes from the mesh options", () => {
  const m = buildMesh(objects([svc, slice, pod("a", "10.1.0.1", {}, "web")]), { trustDomain: "example.org" }).mesh;
  assert.deepEqual(serviceIdentities(m, m.services[0]!), ["spiffe://example.org/ns/default/sa/web"]);
});

// ------------------------------------------------------------------ which proxies hold a certificate

test("a bootstrap with the agent's SDS socket says SDS in its node metadata, and the proxy view reads it", async () => {
  const { renderBootstrap } = await import("../../src/bootstrap/render");
  const { parseProxy, proxyViewKey } = await import("../../src/model/proxy");
  const { clientHasWorkloadCert } = await import("../../src/model/mesh-mtls");
  const options = {
    proxyType: "sidecar" as const,
    podName: "sleep-1",
    namespace: "default",
    instanceIp: "10.0.0.1",
    dnsDomain: "default.svc.cluster.local",
    labels: { app: "sleep" },
    extraMetadata: { SDS: "true" },
    clusterId: "Kubernetes",
    meshId: "cluster.local",
    istioVersion: "1.26.0",
    workloadName: "sleep",
    interceptionMode: "REDIRECT",
    xds: { address: { host: "127.0.0.1", port: 15010 }, api: "sotw" as const, initialFetchTimeout: "0s" },
    adminPort: 15000,
    statsPort: 15090,
    bindAddress: "0.0.0.0",
  };
  const node = (o: object) => (renderBootstrap(o as Parameters<typeof renderBootstrap>[0]) as { node: { id: string; metadata: Record<string, unknown> } }).node;
  const withSds = node({ ...options, sdsSocket: "/tmp/sds.sock" });
  const without = node(options);
  assert.equal(withSds.metadata.SDS, "true");
  assert.equal(without.metadata.SDS, undefined, "a stale ISTIO_META_SDS does not claim a certificate the agent does not serve");
  const a = parseProxy(withSds.id, withSds.metadata);
  const b = parseProxy(without.id, without.metadata);
  assert.ok(a.ok && b.ok);
  assert.equal(clientHasWorkloadCert(a.proxy), true);
  assert.equal(clientHasWorkloadCert(b.proxy), false);
  assert.notEqual(proxyViewKey(a.proxy), proxyViewKey(b.proxy), "they get different config, so they never share a snapshot");
});
