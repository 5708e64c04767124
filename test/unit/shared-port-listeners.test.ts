/**
 * Port collisions as istiod 1.31 handles them (fidelity harness, golden case port-conflicts): a TLS ServiceEntry
 * without address on an HTTP port's wildcard listener adds its SNI chain and the TLS inspector there; a Service
 * whose target port is the inbound capture port gets its inbound cluster but no virtualInbound chain.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildMesh } from "../../src/model/mesh";
import { parseProxy } from "../../src/model/proxy";
import type { MeshObject } from "../../src/model/types";
import { generate } from "../../src/generate";

const objects = [
  {
    kind: "Service",
    apiVersion: "v1",
    metadata: { name: "odd", namespace: "default" },
    spec: {
      clusterIP: "10.96.7.1",
      selector: { app: "odd" },
      ports: [
        { name: "http-capture", port: 15001, targetPort: 15006 },
        { name: "http-web", port: 443, targetPort: 8443 },
      ],
    },
  },
  {
    kind: "ServiceEntry",
    apiVersion: "networking.istio.io/v1",
    metadata: { name: "tls-443", namespace: "default" },
    spec: { hosts: ["secure.example.com"], resolution: "NONE", ports: [{ number: 443, name: "tls", protocol: "TLS" }] },
  },
] as unknown as MeshObject[];

function config() {
  const p = parseProxy("sidecar~10.244.7.7~odd-1.default~default.svc.cluster.local", { LABELS: { app: "odd" } });
  if (!p.ok) throw new Error(p.error);
  return generate(buildMesh(objects, {}).mesh, p.proxy);
}

test("a TLS ServiceEntry without address joins an HTTP port's wildcard listener: SNI chain after the HTTP chain, TLS inspector first", () => {
  const l = config().listeners.find((x) => x.name === "0.0.0.0_443")!;
  assert.deepEqual(
    l.filter_chains!.map((c) => c.filter_chain_match?.server_names ?? c.filter_chain_match?.application_protocols),
    [["http/1.1", "h2c"], ["secure.example.com"]],
  );
  assert.deepEqual(
    l.listener_filters!.map((f) => f.name),
    ["envoy.filters.listener.tls_inspector", "envoy.filters.listener.http_inspector"],
  );
});

test("a target port equal to the inbound capture port gets its inbound cluster, but no virtualInbound chain", () => {
  const out = config();
  assert.ok(out.clusters.some((c) => c.name === "inbound|15006||"));
  const vi = out.listeners.find((x) => x.name === "virtualInbound")!;
  const ports = vi.filter_chains!.map((c) => c.filter_chain_match?.destination_port).filter((p) => p !== undefined);
  assert.deepEqual([...new Set(ports)].sort(), [15006, 8443], "15006 only for the blackhole chain");
  assert.equal(vi.filter_chains!.filter((c) => c.filter_chain_match?.destination_port === 15006).length, 1);
});
