/**
 * Router (gateway) generation: which gateways select a proxy, how servers
 * merge into listeners, how server and VirtualService hosts meet. The full
 * output is pinned by the gateway golden cases (and accepted by real Envoy in
 * envoy-validate); these tests pin the rules one by one.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { objectsFromManifests } from "../../src/cli/translate";
import { buildMesh, Mesh } from "../../src/model/mesh";
import { parseProxy, ProxyView } from "../../src/model/proxy";
import { generate, generateEndpoints } from "../../src/generate";
import { hostSubsetOf, intersectHosts, serverHostsFor } from "../../src/generate/gateway-hosts";
import { sniHosts } from "../../src/generate/gateway-merge";
import { formatDiagnostic } from "../../src/model/types";

type Json = Record<string, unknown>;

function router(labels: Record<string, string>, namespace = "istio-system"): ProxyView {
  const r = parseProxy(`router~10.0.0.5~gw-1.${namespace}~${namespace}.svc.cluster.local`, { LABELS: labels });
  assert.ok(r.ok);
  return r.proxy;
}
const INGRESS = router({ istio: "ingressgateway" });

function mesh(yaml: string): Mesh {
  assert.ok(parseAllDocuments(yaml).every((d) => d.errors.length === 0));
  const loaded = objectsFromManifests([{ file: "test.yaml", text: yaml }]);
  assert.deepEqual(
    loaded.diagnostics.filter((d) => d.severity === "error"),
    [],
  );
  return buildMesh(loaded.objects).mesh;
}

const SERVICES = `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {clusterIP: 10.96.0.1, selector: {app: web}, ports: [{name: http, port: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [10.0.1.1], conditions: {ready: true}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: ["*"]
  gateways: [istio-system/gw]
  http: [{route: [{destination: {host: web}}]}]
`;

function gateway(servers: string, selector = "{istio: ingressgateway}", name = "gw", created = "2024-01-01T00:00:00Z"): string {
  return `
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: ${name}, namespace: istio-system, creationTimestamp: "${created}"}
spec:
  selector: ${selector}
  servers:
${servers}`;
}
const HTTP80 = `    - port: {number: 80, name: http, protocol: HTTP}
      hosts: ["*"]`;

const names = (list: object[]) => list.map((x) => String((x as Json).name));

test("a gateway selects routers whose labels include its selector; other routers get no listeners", () => {
  const m = mesh(SERVICES + gateway(HTTP80));
  assert.deepEqual(names(generate(m, INGRESS).listeners), ["0.0.0.0_80"]);
  assert.deepEqual(generate(m, router({ istio: "egressgateway" })).listeners, []);
  assert.deepEqual(generate(m, router({})).listeners, []);
});

test("a gateway without selector applies to every router, in any namespace", () => {
  const m = mesh(SERVICES + gateway(HTTP80, "{}"));
  assert.deepEqual(names(generate(m, router({}, "edge")).listeners), ["0.0.0.0_80"]);
});

test("routers get every visible outbound cluster plus BlackHoleCluster, and EDS for them", () => {
  const m = mesh(SERVICES + gateway(HTTP80));
  const out = generate(m, INGRESS);
  assert.deepEqual(names(out.clusters), ["BlackHoleCluster", "outbound|8080||web.default.svc.cluster.local"]);
  assert.deepEqual(generateEndpoints(m, INGRESS), out.endpoints);
  assert.equal(out.endpoints.length, 1);
});

test("the listener binds the targetPort a Service selecting the gateway maps the server port to", () => {
  const svc = `
---
apiVersion: v1
kind: Service
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec: {clusterIP: 10.96.9.9, selector: {istio: ingressgateway}, ports: [{name: http2, port: 80, targetPort: 8080}]}`;
  const out = generate(mesh(SERVICES + gateway(HTTP80) + svc), INGRESS);
  assert.deepEqual(names(out.listeners), ["0.0.0.0_8080"]);
  assert.deepEqual(names(out.routes), ["http.8080"]);
  const vhosts = (out.routes[0] as { virtual_hosts: Json[] }).virtual_hosts;
  assert.deepEqual(names(vhosts), ["*:80"], "the vhost keeps the server port, as Istio's");
});

test("plain-text and TLS servers cannot share a port: the older gateway keeps it", () => {
  const https = `    - port: {number: 80, name: https, protocol: HTTPS}
      hosts: [a.example.com]
      tls: {mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem}`;
  const m = mesh(SERVICES + gateway(HTTP80) + gateway(https, "{istio: ingressgateway}", "late", "2024-06-01T00:00:00Z"));
  const out = generate(m, INGRESS);
  assert.deepEqual(names(out.routes), ["http.80"]);
  const diags = (out.diagnostics ?? []).map(formatDiagnostic);
  assert.equal(diags.length, 1);
  assert.match(diags[0]!, /Gateway istio-system\/late spec.servers\[0\]: listener 0.0.0.0_80: already serves HTTP/);
});

test("HTTP servers of several gateways on one port share http.<port>", () => {
  const m = mesh(SERVICES + gateway(HTTP80) + gateway(HTTP80, "{istio: ingressgateway}", "second"));
  const out = generate(m, INGRESS);
  assert.deepEqual(names(out.listeners), ["0.0.0.0_80"]);
  assert.deepEqual(names(out.routes), ["http.80"]);
  assert.deepEqual(out.diagnostics, []);
});

test("an HTTP route config with nothing to route has the 404 blackhole vhost", () => {
  const m = mesh(SERVICES.replace("istio-system/gw", "istio-system/other") + gateway(HTTP80));
  const vhosts = (generate(m, INGRESS).routes[0] as { virtual_hosts: Json[] }).virtual_hosts;
  assert.deepEqual(vhosts, [{ name: "blackhole:80", domains: ["*"], routes: [] }]);
});

test("host intersection keeps the more specific name of each overlapping pair (Istio's Names.Intersection)", () => {
  assert.deepEqual(intersectHosts(["*.example.com"], ["a.example.com", "b.other.org"]), ["a.example.com"]);
  assert.deepEqual(intersectHosts(["a.example.com", "b.example.com"], ["*.example.com"]), ["a.example.com", "b.example.com"]);
  assert.deepEqual(intersectHosts(["*"], ["*.x.io", "y.io"]), ["*.x.io", "y.io"]);
  assert.deepEqual(intersectHosts(["*.example.com"], ["*.a.example.com"]), ["*.a.example.com"]);
  assert.deepEqual(intersectHosts(["a.example.com"], ["b.example.com"]), []);
  assert.ok(hostSubsetOf("*.a.example.com", "*.example.com"));
  assert.ok(!hostSubsetOf("example.com", "*.example.com"));
});

test("namespaced server hosts are only for VirtualServices of that namespace", () => {
  const hosts = ["ns1/a.com", "./b.com", "*/c.com", "d.com"];
  assert.deepEqual(serverHostsFor(hosts, "ns1", "gw-ns"), ["a.com", "c.com", "d.com"]);
  assert.deepEqual(serverHostsFor(hosts, "gw-ns", "gw-ns"), ["b.com", "c.com", "d.com"]);
});

test("SNI names of a server: namespace part dropped, sorted, a * matches everything", () => {
  assert.deepEqual(sniHosts(["ns/B.example.com", "a.example.com"]), ["a.example.com", "b.example.com"]);
  assert.deepEqual(sniHosts(["a.example.com", "*"]), ["*"]);
});
