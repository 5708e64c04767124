/**
 * A Sidecar resource through the real path: `mini-pilot serve --config-dir`
 * and an ADS client over gRPC. A proxy whose namespace has a `./*` Sidecar is
 * sent only its namespace's clusters (and their endpoints); a proxy of
 * another namespace still gets everything; editing the Sidecar pushes the new
 * view; a Sidecar Istio would refuse is reported with file:line and the last
 * valid one stays in force; deleting it restores the full view.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CLUSTER, ENDPOINT } from "../../src/xds/types";
import { TestSotwStream, type SotwResponse, connect } from "../support/ads-client";
import { getJson, startServe } from "../support/serve-process";

const NAMESPACES = ["a", "b", "c"];

function services(): string {
  const docs: string[] = [];
  NAMESPACES.forEach((ns, i) => {
    for (const name of ["api", "db"]) {
      const ip = `10.96.${i}.${name === "api" ? 1 : 2}`;
      docs.push(`apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${ns}}
spec: {clusterIP: ${ip}, selector: {app: ${name}}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ${name}-1, namespace: ${ns}, labels: {kubernetes.io/service-name: ${name}}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [10.244.${i}.${name === "api" ? 1 : 2}], conditions: {ready: true}}]
`);
    }
  });
  return docs.join("---\n");
}

const sidecar = (hosts: string) => `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: a}
spec:
  egress:
  - hosts: ${hosts}
`;

const outbound = (r: SotwResponse) => r.names.filter((n) => n.startsWith("outbound|")).sort();
const all = NAMESPACES.flatMap((ns) => [`outbound|80||api.${ns}.svc.cluster.local`, `outbound|80||db.${ns}.svc.cluster.local`]).sort();

async function nextOf(s: TestSotwStream, typeUrl: string, timeoutMs = 5000): Promise<SotwResponse> {
  for (;;) {
    const r = await s.next(timeoutMs);
    s.ack(r);
    if (r.typeUrl === typeUrl) return r;
  }
}

test("serve: a ./* Sidecar limits a proxy to its namespace's clusters over ADS; edits push, a refused Sidecar changes nothing", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mp-sidecar-"));
  fs.writeFileSync(path.join(dir, "services.yaml"), services());
  fs.writeFileSync(path.join(dir, "sidecar.yaml"), sidecar("[./*]"));
  const serve = await startServe(["--config-dir", dir, "--debounce-after", "20ms"]);
  t.after(() => serve.stop());

  const inA = new TestSotwStream(connect(serve.xdsPort), "sidecar~10.244.0.9~web-1.a~a.svc.cluster.local", { NAMESPACE: "a", LABELS: { app: "web" } });
  t.after(() => inA.close());
  const inB = new TestSotwStream(connect(serve.xdsPort), "sidecar~10.244.1.9~web-1.b~b.svc.cluster.local", { NAMESPACE: "b", LABELS: { app: "web" } });
  t.after(() => inB.close());

  inA.send({ typeUrl: CLUSTER });
  const a1 = await inA.next(5000);
  inA.ack(a1);
  assert.deepEqual(outbound(a1), ["outbound|80||api.a.svc.cluster.local", "outbound|80||db.a.svc.cluster.local"]);
  inB.send({ typeUrl: CLUSTER });
  const b1 = await inB.next(5000);
  inB.ack(b1);
  assert.deepEqual(outbound(b1), all);

  // EDS: the proxy's own namespace's endpoints; a cluster it cannot see is not sent.
  inA.send({ typeUrl: ENDPOINT, names: ["outbound|80||api.a.svc.cluster.local", "outbound|80||api.b.svc.cluster.local"] });
  const e1 = await inA.next(5000);
  assert.deepEqual(e1.names, ["outbound|80||api.a.svc.cluster.local"]);
  inA.ack(e1, ["outbound|80||api.a.svc.cluster.local", "outbound|80||api.b.svc.cluster.local"]);

  // Widen the Sidecar: b's services arrive.
  fs.writeFileSync(path.join(dir, "sidecar.yaml"), sidecar("[./*, b/*]"));
  const a2 = await nextOf(inA, CLUSTER);
  assert.deepEqual(
    outbound(a2),
    all.filter((n) => !n.endsWith(".c.svc.cluster.local")),
  );
  await inA.inbox.drain(300).then((rest) => rest.forEach((r) => inA.ack(r)));

  // A broken Sidecar (short host name) is reported with file:line; the last good config keeps serving.
  fs.writeFileSync(path.join(dir, "sidecar.yaml"), sidecar("[reviews]"));
  const deadline = Date.now() + 5000;
  let diagnostics: string[] = [];
  while (Date.now() < deadline) {
    diagnostics = ((await getJson(serve.httpPort, "/debug/configz")) as { diagnostics: string[] }).diagnostics;
    if (diagnostics.some((d) => d.includes("Sidecar a/default"))) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(
    diagnostics.some(
      (d) => d.startsWith(`${path.join(dir, "sidecar.yaml")}:`) && d.includes("spec.egress[0].hosts[0]: host must be of form namespace/dnsName"),
    ),
    diagnostics.join("\n"),
  );
  // The last valid version stays in force: nothing is pushed.
  const meanwhile = await inA.inbox.drain(500);
  assert.deepEqual(
    meanwhile.filter((r) => r.typeUrl === CLUSTER),
    [],
    "a refused Sidecar changes nothing",
  );
  meanwhile.forEach((r) => inA.ack(r));

  // Back to ./*, then deleted: the full view.
  fs.writeFileSync(path.join(dir, "sidecar.yaml"), sidecar("[./*]"));
  const a4 = await nextOf(inA, CLUSTER);
  assert.equal(outbound(a4).length, 2);
  await inA.inbox.drain(300).then((rest) => rest.forEach((r) => inA.ack(r)));
  fs.rmSync(path.join(dir, "sidecar.yaml"));
  const a5 = await nextOf(inA, CLUSTER);
  assert.deepEqual(outbound(a5), all);
  // The other namespace's proxy was never pushed a different cluster set.
  const rest = await inB.inbox.drain(300);
  for (const r of rest.filter((x) => x.typeUrl === CLUSTER)) assert.deepEqual(outbound(r), all);
});
