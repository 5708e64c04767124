/**
 * Route fields istiod sets that change what a request matches or how a mirror
 * sees it (found by the fidelity harness, test/fidelity): inverted header
 * matches treat a missing header as empty, and mirrored requests keep their Host.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildMesh } from "../../src/model/mesh";
import { parseProxy } from "../../src/model/proxy";
import type { MeshObject } from "../../src/model/types";
import { generate } from "../../src/generate";
import { routeMatch } from "../../src/generate/route-match";

test("withoutHeaders value matches also match a missing header (treat_missing_header_as_empty); present matches do not set it", () => {
  const m = routeMatch({
    headers: { "x-user": { exact: "a" } },
    withoutHeaders: { "x-canary": { prefix: "yes" }, "x-debug": {}, "x-re": { regex: "v[0-9]" } },
  });
  const byName = new Map((m.headers ?? []).map((h) => [h.name, h]));
  assert.equal(byName.get("x-user")!.treat_missing_header_as_empty, undefined, "a positive match needs the header, as in istiod");
  assert.equal(byName.get("x-canary")!.invert_match, true);
  assert.equal(byName.get("x-canary")!.treat_missing_header_as_empty, true);
  assert.equal(byName.get("x-re")!.treat_missing_header_as_empty, true);
  assert.equal(byName.get("x-debug")!.present_match, true);
  assert.equal(byName.get("x-debug")!.treat_missing_header_as_empty, undefined, "Envoy refuses it together with present_match");
});

test("mirror and mirrors keep the mirrored request's Host (disable_shadow_host_suffix_append)", () => {
  const svc = (name: string, ip: string): MeshObject => ({
    kind: "Service",
    apiVersion: "v1",
    metadata: { name, namespace: "default" },
    spec: { clusterIP: ip, selector: { app: name }, ports: [{ name: "http", port: 80 }] },
  });
  const objects: MeshObject[] = [
    svc("api", "10.96.0.10"),
    svc("shadow", "10.96.0.11"),
    {
      kind: "VirtualService",
      apiVersion: "networking.istio.io/v1",
      metadata: { name: "api", namespace: "default" },
      spec: {
        hosts: ["api"],
        http: [
          { match: [{ uri: { prefix: "/one" } }], route: [{ destination: { host: "api" } }], mirror: { host: "shadow" }, mirrorPercentage: { value: 50 } },
          { route: [{ destination: { host: "api" } }], mirrors: [{ destination: { host: "shadow" } }] },
        ],
      },
    } as MeshObject,
  ];
  const p = parseProxy("sidecar~10.0.0.1~web-1.default~default.svc.cluster.local", {});
  if (!p.ok) throw new Error(p.error);
  const rc = generate(buildMesh(objects).mesh, p.proxy).routes.find((r) => r.name === "80")!;
  const vh = rc.virtual_hosts!.find((v) => v.name === "api.default.svc.cluster.local:80")!;
  const mirrors = vh.routes!.flatMap((r) => r.route?.request_mirror_policies ?? []);
  assert.equal(mirrors.length, 2);
  for (const m of mirrors) {
    assert.equal(m.cluster, "outbound|80||shadow.default.svc.cluster.local");
    assert.equal(m.disable_shadow_host_suffix_append, true);
  }
});
