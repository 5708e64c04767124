/** The bootstrap's sds-grpc cluster and xDS over TLS with the agent's SDS secrets; the agent's certificate settings. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { bootstrapOptions } from "../../src/bootstrap/env";
import { renderBootstrap } from "../../src/bootstrap/render";
import { checkBootstrap } from "../../src/bootstrap/check";
import { parseFlags } from "../../src/cli/args";
import { spec } from "../../src/cli/bootstrap";
import { identitySettings } from "../../src/cli/agent-identity";
import { spec as agentSpec } from "../../src/cli/agent";

const POD = { POD_NAME: "web-1", POD_NAMESPACE: "shop", INSTANCE_IP: "10.1.2.3" };
type J = any;

const render = (argv: string[]) => {
  const parsed = parseFlags(spec, argv)!;
  const json = renderBootstrap(bootstrapOptions({ env: POD, flags: parsed.flags, readFile: () => "" })) as J;
  assert.deepEqual(checkBootstrap(json), [], "Envoy's schema and PGV rules accept it");
  return json;
};

test("--sds-socket adds Istio's sds-grpc cluster; --xds-tls then presents `default` and trusts `ROOTCA`", () => {
  const json = render(["--sds-socket", "/var/run/secrets/workload-spiffe-uds/socket", "--xds-tls", "--xds-address", "10.0.0.5:15012"]);
  const clusters = json.static_resources.clusters as J[];
  const sds = clusters.find((c) => c.name === "sds-grpc");
  assert.equal(sds.type, "STATIC");
  assert.deepEqual(sds.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address, { pipe: { path: "/var/run/secrets/workload-spiffe-uds/socket" } });
  assert.ok(sds.typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].explicit_http_config.http2_protocol_options);
  const ctx = clusters.find((c) => c.name === "xds-grpc").transport_socket.typed_config;
  const ref = (name: string) => ({
    name,
    sds_config: {
      api_config_source: { api_type: "GRPC", transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: "sds-grpc" } }] },
      resource_api_version: "V3",
    },
  });
  assert.deepEqual(ctx.common_tls_context.tls_certificate_sds_secret_configs, [ref("default")]);
  assert.deepEqual(ctx.common_tls_context.combined_validation_context.validation_context_sds_secret_config, ref("ROOTCA"));
  // An IP address: the server is still checked by name, istiod's.
  assert.equal(ctx.sni, "istiod.istio-system.svc");
  assert.deepEqual(ctx.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names, [
    { san_type: "DNS", matcher: { exact: "istiod.istio-system.svc" } },
  ]);
});

test("without --sds-socket nothing changes; --xds-tls alone still asks for a CA", () => {
  const plain = render([]);
  assert.ok(!(plain.static_resources.clusters as J[]).some((c) => c.name === "sds-grpc"));
  assert.throws(() => render(["--xds-tls"]), /--xds-tls needs --xds-ca .* or --sds-socket/);
});

test("agent certificate settings: on with CA_ADDR, Istio's paths and env, off with PILOT_CERT_PROVIDER=none", () => {
  const flags = parseFlags(agentSpec, [])!.flags;
  assert.equal(identitySettings(flags, {}), undefined);
  const s = identitySettings(flags, { CA_ADDR: "mini-pilot.istio-system.svc:15012", SECRET_TTL: "12h", SECRET_GRACE_PERIOD_RATIO: "0.4" })!;
  assert.deepEqual(s, {
    caAddress: "mini-pilot.istio-system.svc:15012",
    caServerName: "mini-pilot.istio-system.svc",
    caRootFile: "/var/run/secrets/istio/root-cert.pem",
    tokenFile: "/var/run/secrets/tokens/istio-token",
    ttlSeconds: 43200,
    graceRatio: 0.4,
    sdsSocket: "/var/run/secrets/workload-spiffe-uds/socket",
    trustDomain: "cluster.local",
  });
  assert.equal(identitySettings(flags, { CA_ADDR: "x:15012", PILOT_CERT_PROVIDER: "none" }), undefined);
  assert.throws(() => identitySettings(flags, { CA_ADDR: "x:15012", SECRET_TTL: "soon" }), /SECRET_TTL wants a duration/);
  assert.throws(() => identitySettings(flags, { CA_ADDR: "x:15012", SECRET_GRACE_PERIOD_RATIO: "2" }), /between 0 and 1/);
  assert.equal(identitySettings(parseFlags(agentSpec, ["--ca-address", "10.0.0.5:15012"])!.flags, {})!.caServerName, "istiod.istio-system.svc");
});
