/**
 * MeshConfig parsing: every refusal names its source and field path, Istio
 * fields mini-pilot does not use pass with a warning, layers merge field by
 * field, and the options follow istiod's defaults (tracing sampling 1 when 0
 * or unset; a default provider turns tracing on without enableTracing).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { mergeMeshConfigs, parseMeshConfig } from "../../src/model/mesh-config";
import { meshOptionsFromConfig } from "../../src/model/mesh-config-options";
import { optionsFromProcess } from "../../src/cli/bootstrap";

function refused(text: string): string[] {
  const r = parseMeshConfig(text, "mesh.yaml");
  assert.equal(r.ok, false, `expected a refusal of:\n${text}`);
  return r.ok ? [] : r.errors;
}

function accepted(text: string) {
  const r = parseMeshConfig(text, "mesh.yaml");
  assert.ok(r.ok, r.ok ? "" : r.errors.join("\n"));
  return r;
}

test("a bad duration, a bad number and a typo are refused with their paths", () => {
  const errors = refused(`
connectTimeout: 5 parsecs
protocolDetectionTimeout: -1s
defaultConfig:
  tracing:
    sampling: 200
    zipkn: {address: zipkin:9411}
`);
  assert.deepEqual(errors, [
    'mesh.yaml: connectTimeout: bad duration "5 parsecs": expected a number followed by a unit (ns, us, ms, s, m, h), e.g. "10s"',
    'mesh.yaml: protocolDetectionTimeout: bad duration "-1s": negative',
    "mesh.yaml: defaultConfig.tracing.sampling: 200 is out of range (0 to 100)",
    "mesh.yaml: defaultConfig.tracing.zipkn: unknown field (known here: customTags, datadog, enableIstioTags, lightstep, maxPathTagLength, openCensusAgent, sampling, stackdriver, tlsSettings, zipkin)",
  ]);
});

test("wrong types, enum values, list items and providers are refused with their paths", () => {
  assert.deepEqual(refused("outboundTrafficPolicy: {mode: ALLOW_ALL}"), [
    'mesh.yaml: outboundTrafficPolicy.mode: want one of ALLOW_ANY, REGISTRY_ONLY, got string "ALLOW_ALL"',
  ]);
  assert.deepEqual(refused("enableTracing: yes please"), ['mesh.yaml: enableTracing: want true or false, got string "yes please"']);
  assert.deepEqual(refused("defaultDestinationRuleExportTo: [., 3]"), ["mesh.yaml: defaultDestinationRuleExportTo[1]: want a string, got number 3"]);
  assert.deepEqual(refused("defaultConfig: {proxyMetadata: {ISTIO_META_DNS_CAPTURE: true}}"), [
    "mesh.yaml: defaultConfig.proxyMetadata.ISTIO_META_DNS_CAPTURE: want a string, got boolean true",
  ]);
  assert.deepEqual(refused("extensionProviders: [{name: z, zipkin: {service: zipkin.istio-system.svc.cluster.local, port: 99999}}]"), [
    "mesh.yaml: extensionProviders[0].zipkin.port: want a port number 1-65535, got number 99999",
  ]);
  assert.deepEqual(refused("extensionProviders: [{name: z, jaeger: {}}]"), [
    "mesh.yaml: extensionProviders[0].jaeger: unknown provider (known: zipkin, opentelemetry, envoyExtAuthzHttp, envoyExtAuthzGrpc, lightstep, datadog, stackdriver, opencensus, skywalking, prometheus, envoyFileAccessLog, envoyHttpAls, envoyTcpAls, envoyOtelAls, sds)",
  ]);
  assert.deepEqual(refused("defaultProviders: {tracing: [nope]}"), ['mesh.yaml: defaultProviders.tracing[0]: no extensionProviders entry named "nope"']);
  assert.deepEqual(refused("extensionProviders: [{name: p, prometheus: {}}]\ndefaultProviders: {tracing: [p]}"), [
    'mesh.yaml: defaultProviders.tracing[0]: provider "p" (prometheus) cannot trace; use a zipkin or opentelemetry provider',
  ]);
  assert.deepEqual(refused("extensionProviders: [{name: z, zipkin: {port: 9411}}]"), [
    "mesh.yaml: extensionProviders[0].zipkin.service: required (the collector's host, e.g. zipkin.istio-system.svc.cluster.local)",
  ]);
  assert.deepEqual(refused("- just\n- a list"), ["mesh.yaml: (top): want an object, got a list"]);
  assert.match(refused("defaultConfig: {tracing: {sampling: 1}\n")[0]!, /^mesh\.yaml:\d+: /);
});

test("Istio fields mini-pilot does not use are accepted with a warning; an empty config is the defaults", () => {
  const r = accepted("enablePrometheusMerge: true\ndefaultConfig: {holdApplicationUntilProxyStarts: true}\nrootNamespace: istio-system\n");
  assert.deepEqual(r.warnings, [
    "mesh.yaml: enablePrometheusMerge: an Istio field mini-pilot does not use; ignored",
    "mesh.yaml: defaultConfig.holdApplicationUntilProxyStarts: an Istio field mini-pilot does not use; ignored",
  ]);
  assert.deepEqual(accepted("").config, {});
  assert.deepEqual(accepted("# nothing\n").config, {});
});

test("options: tracing is on unless enableTracing is false (Istio's default), samples 1% unless told; a provider traces whatever enableTracing says", () => {
  assert.deepEqual(
    meshOptionsFromConfig(accepted("defaultConfig: {tracing: {sampling: 50}}").config).tracing,
    { sampling: 50, istioTags: true },
    "enableTracing defaults to true",
  );
  assert.deepEqual(meshOptionsFromConfig(accepted("outboundTrafficPolicy: {mode: REGISTRY_ONLY}").config).tracing, { sampling: 1, istioTags: true });
  assert.equal(meshOptionsFromConfig(accepted("enableTracing: false\ndefaultConfig: {tracing: {sampling: 50}}").config).tracing, false, "explicitly off");
  assert.deepEqual(meshOptionsFromConfig(accepted("enableTracing: true").config).tracing, { sampling: 1, istioTags: true });
  assert.deepEqual(meshOptionsFromConfig(accepted("enableTracing: true\ndefaultConfig: {tracing: {sampling: 0}}").config).tracing, {
    sampling: 1,
    istioTags: true,
  });
  const provider = meshOptionsFromConfig(
    accepted(`
extensionProviders:
  - name: zipkin
    zipkin: {service: zipkin.istio-system.svc.cluster.local, port: 9411, enable64bitTraceId: true}
defaultProviders: {tracing: [zipkin]}
defaultConfig: {tracing: {sampling: 100}}
`).config,
  ).tracing;
  assert.deepEqual(provider, {
    sampling: 100,
    istioTags: true,
    provider: {
      kind: "zipkin",
      name: "zipkin",
      service: "zipkin.istio-system.svc.cluster.local",
      port: 9411,
      path: "/api/v2/spans",
      traceId128: false,
      headers: [],
    },
  });
  const providerWithOff = meshOptionsFromConfig(
    accepted(`
enableTracing: false
extensionProviders:
  - name: zipkin
    zipkin: {service: zipkin.istio-system.svc.cluster.local, port: 9411, timeout: 2s, headers: [{name: x-tenant, value: a}]}
defaultProviders: {tracing: [zipkin]}
`).config,
  ).tracing;
  assert.ok(providerWithOff, "a default provider traces even with enableTracing: false (Telemetry API semantics)");
  assert.deepEqual(providerWithOff.provider, {
    kind: "zipkin",
    name: "zipkin",
    service: "zipkin.istio-system.svc.cluster.local",
    port: 9411,
    path: "/api/v2/spans",
    traceId128: true,
    timeout: "2s",
    headers: [{ name: "x-tenant", value: "a" }],
  });
  const o = meshOptionsFromConfig(
    accepted("connectTimeout: 1.5s\naccessLogFile: /dev/stdout\ndefaultVirtualServiceExportTo: [.]\noutboundTrafficPolicy: {mode: REGISTRY_ONLY}").config,
  );
  assert.deepEqual(o, {
    tracing: { sampling: 1, istioTags: true },
    outboundTrafficPolicy: "REGISTRY_ONLY",
    connectTimeoutMs: 1500,
    defaultExportTo: { virtualService: ["."] },
    accessLog: { path: "/dev/stdout", encoding: "TEXT" },
  });
});

test("layers merge field by field: later wins, objects merge, lists replace", () => {
  const file = accepted("enableTracing: true\ndefaultConfig: {tracing: {sampling: 10, zipkin: {address: a:1}}}\ndefaultVirtualServiceExportTo: [a, b]").config;
  const cm = accepted("defaultConfig: {tracing: {sampling: 100}}\ndefaultVirtualServiceExportTo: [c]").config;
  assert.deepEqual(mergeMeshConfigs(file, cm), {
    enableTracing: true,
    defaultConfig: { tracing: { sampling: 100, zipkin: { address: "a:1" } } },
    defaultVirtualServiceExportTo: ["c"],
  });
});

test("bootstrap --mesh-config: discoveryAddress, zipkin address and proxyMetadata, each under the flags and environment", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mini-pilot-mesh-bootstrap-"));
  try {
    const file = path.join(dir, "mesh.yaml");
    fs.writeFileSync(
      file,
      "defaultConfig:\n  discoveryAddress: cp.istio-system.svc:15010\n  proxyMetadata: {ISTIO_META_DNS_CAPTURE: 'true'}\n  tracing: {zipkin: {address: zipkin.istio-system:9411}}\n",
    );
    const pod = { "pod-name": "web-1", namespace: "shop", ip: "10.1.2.3" };
    const fromFile = optionsFromProcess({ ...pod, "mesh-config": file });
    assert.deepEqual(fromFile.xds.address, { host: "cp.istio-system.svc", port: 15010 });
    assert.deepEqual(fromFile.zipkin, { host: "zipkin.istio-system", port: 9411 });
    assert.equal(fromFile.extraMetadata.DNS_CAPTURE, "true", "proxyMetadata is the agent's environment (ISTIO_META_*)");
    const flagsWin = optionsFromProcess({ ...pod, "mesh-config": file, "xds-address": "10.0.0.1:15010", zipkin: "10.0.0.2:9411" });
    assert.deepEqual(flagsWin.xds.address, { host: "10.0.0.1", port: 15010 });
    assert.deepEqual(flagsWin.zipkin, { host: "10.0.0.2", port: 9411 });
    fs.writeFileSync(file, "defaultConfig: {discoveryAdress: x:1}\n");
    assert.throws(
      () => optionsFromProcess({ ...pod, "mesh-config": file }),
      /--mesh-config refused:\n {2}.*mesh\.yaml: defaultConfig\.discoveryAdress: unknown field/,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
