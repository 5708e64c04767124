/**
 * Proxyless gRPC through the translation pipeline: @grpc/grpc-js-xds resolves
 * xds:///bill-service.default.svc.cluster.local:9999 against
 * `mini-pilot serve --config-dir`; editing the VirtualService YAML moves calls.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { startServe } from "../support/serve-process";
import { startBackend, tally, withinBinomial } from "../support/backends";
import { registerGrpcXds } from "../support/xds-bootstrap";

function manifests(v1Port: number, v2Port: number): string {
  const slice = (version: string, port: number) => `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: bill-service-${version}, namespace: default, labels: {kubernetes.io/service-name: bill-service}}
addressType: IPv4
ports: [{name: grpc, port: ${port}, protocol: TCP}]
endpoints:
  - addresses: ["127.0.0.1"]
    conditions: {ready: true}
    targetRef: {kind: Pod, name: bill-service-${version}, namespace: default}
`;
  const pod = (version: string) => `apiVersion: v1
kind: Pod
metadata: {name: bill-service-${version}, namespace: default, labels: {app: bill-service, version: ${version}}}
spec: {containers: [{name: app}]}
`;
  return [
    `apiVersion: v1
kind: Service
metadata: {name: bill-service, namespace: default}
spec:
  clusterIP: 10.96.0.99
  selector: {app: bill-service}
  ports: [{name: grpc, port: 9999, targetPort: 8080}]
`,
    slice("v1", v1Port),
    slice("v2", v2Port),
    pod("v1"),
    pod("v2"),
    `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: bill-service, namespace: default}
spec:
  host: bill-service
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
`,
  ].join("---\n");
}

const virtualService = (v1: number, v2: number) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bill-service, namespace: default}
spec:
  hosts: [bill-service]
  http:
    - match: [{headers: {end-user: {exact: jason}}}]
      route: [{destination: {host: bill-service, subset: v2}}]
    - route:
        - {destination: {host: bill-service, subset: v1}, weight: ${v1}}
        - {destination: {host: bill-service, subset: v2}, weight: ${v2}}
`;

test("grpc-js-xds through serve --config-dir: 90/10, jason to v2, a YAML edit moves the calls", async (t) => {
  const v1 = await startBackend("v1");
  const v2 = await startBackend("v2");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mp-grpc-dir-"));
  fs.writeFileSync(path.join(dir, "mesh.yaml"), manifests(v1.port, v2.port));
  fs.writeFileSync(path.join(dir, "vs.yaml"), virtualService(90, 10));
  const serve = await startServe(["--config-dir", dir, "--debounce-after", "20ms"]);
  t.after(async () => {
    await serve.stop();
    await v1.stop();
    await v2.stop();
  });
  registerGrpcXds(serve.xdsPort, "sidecar~127.0.0.1~grpc-client.default~default.svc.cluster.local", { GENERATOR: "grpc", NAMESPACE: "default" });
  const client = new grpc.Client("xds:///bill-service.default.svc.cluster.local:9999", grpc.credentials.createInsecure());
  t.after(() => client.close());

  const split = await tally(client, 1000);
  assert.ok(withinBinomial(split.v1 ?? 0, 1000, 0.9), `90/10 expected, got ${JSON.stringify(split)}`);
  const jason = new grpc.Metadata();
  jason.set("end-user", "jason");
  assert.deepEqual(await tally(client, 50, jason), { v2: 50 });

  fs.writeFileSync(path.join(dir, "vs.yaml"), virtualService(0, 100));
  const deadline = Date.now() + 15_000;
  for (;;) {
    const now = await tally(client, 50);
    if ((now.v2 ?? 0) === 50) break;
    assert.ok(Date.now() < deadline, `calls did not move to v2: ${JSON.stringify(now)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual(await tally(client, 200), { v2: 200 });
});
