/** /debug/mesh's view of a mesh: routes with weights and matches down to endpoints, gateways without secrets, problems named. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { buildMesh } from "../../src/model/mesh";
import { buildMeshView } from "../../src/debug/mesh-view";
import { validateFiles } from "../../src/cli/validate";
import type { MeshObject } from "../../src/model/types";

const EXAMPLES = path.join(__dirname, "..", "..", "..", "examples");
const view = (objects: MeshObject[]) => buildMeshView(buildMesh(objects).mesh, new Date(0));

test("bookinfo: the gateway, its VirtualService bound to it, and the reviews split with matches and subsets", () => {
  const v = view(validateFiles([path.join(EXAMPLES, "bookinfo")]).objects);
  assert.deepEqual(v.gateways, [
    { name: "bookinfo-gateway", namespace: "default", selector: { istio: "ingressgateway" }, servers: [{ port: 8080, protocol: "HTTP", hosts: ["*"] }] },
  ]);
  const ingress = v.virtualServices.find((x) => x.name === "bookinfo")!;
  assert.deepEqual(ingress.gateways, ["default/bookinfo-gateway"]);
  assert.equal(ingress.routes[0]!.match[0], "uri = /productpage");
  assert.equal(ingress.routes[0]!.destinations[0]!.weight, 100);
  const reviews = v.virtualServices.find((x) => x.hosts.includes("reviews.default.svc.cluster.local"))!;
  const subsets = reviews.routes.flatMap((r) => r.destinations.map((d) => [r.match.join("|") || "any", d.subset, d.weight, d.endpoints.length]));
  assert.ok(subsets.length >= 2, JSON.stringify(subsets));
  for (const [, subset, , n] of subsets) assert.ok((n as number) >= 1, `subset ${subset} has endpoints`);
  const svc = v.services.find((s) => s.name === "reviews")!;
  assert.deepEqual(
    svc.versions.map((x) => x.version),
    ["v1", "v2", "v3"],
  );
});

test("a route to an undefined subset names the problem; gateway TLS shows the mode, never file paths", () => {
  const objects = validateFiles([path.join(EXAMPLES, "bill-service")]).objects.filter((o) => o.kind !== "DestinationRule");
  const v = view(objects);
  const canary = v.virtualServices[0]!.routes.find((r) => r.name === "canary")!;
  assert.equal(canary.destinations[0]!.problem, "no DestinationRule defines subset v1 of bill-service.default.svc.cluster.local");
  assert.deepEqual(canary.destinations[0]!.endpoints, []);
  const gw = {
    apiVersion: "networking.istio.io/v1",
    kind: "Gateway",
    metadata: { name: "tls", namespace: "default" },
    spec: {
      selector: { istio: "ingressgateway" },
      servers: [
        {
          port: { number: 443, name: "https", protocol: "HTTPS" },
          hosts: ["*"],
          tls: { mode: "SIMPLE", serverCertificate: "/etc/certs/cert.pem", privateKey: "/etc/certs/key.pem" },
        },
      ],
    },
  } as unknown as MeshObject;
  const text = JSON.stringify(view([...objects, gw]));
  assert.match(text, /"tls":"SIMPLE"/);
  assert.doesNotMatch(text, /key\.pem|cert\.pem/);
});
