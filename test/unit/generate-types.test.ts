/**
 * Typed generator output: the Envoy message types generated from the protos
 * (scripts/gen-envoy-types.js) make a misspelt field, a wrong enum value or a
 * wrong Any body a compile error. Each case compiles a small probe module
 * next to the generators with the project's compiler options.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import ts from "typescript";

const ROOT = path.resolve(__dirname, "..", "..", "..");
const PROBE = path.join(ROOT, "src", "generate", "__types_probe__.ts");

function compilerOptions(): ts.CompilerOptions {
  const file = path.join(ROOT, "tsconfig.json");
  const cfg = ts.readConfigFile(file, ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(cfg.config, ts.sys, ROOT);
  return { ...parsed.options, noEmit: true, noUnusedLocals: false };
}

const options = compilerOptions();

/** Error messages of the probe (other files' errors would be the build's to report). */
function errorsOf(source: string): string[] {
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, onError) => (path.resolve(name) === PROBE ? ts.createSourceFile(name, source, lang) : getSourceFile(name, lang, onError));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => path.resolve(name) === PROBE || fileExists(name);
  const program = ts.createProgram([PROBE], options, host);
  const probe = program.getSourceFile(PROBE)!;
  return ts.getPreEmitDiagnostics(program, probe).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
}

const HEADER = `import type { Cluster, Listener, RouteConfiguration } from "./envoy";\nimport { typed } from "./common";\n`;

test("the generated Envoy types are up to date with the protos", () => {
  execFileSync(process.execPath, [path.join(ROOT, "scripts", "gen-envoy-types.js"), "--check"], { cwd: ROOT, stdio: "pipe" });
});

test("well-formed generator output compiles", () => {
  const errors = errorsOf(
    HEADER +
      `export const c: Cluster = { name: "x", type: "EDS", connect_timeout: "10s", lb_policy: "RING_HASH", ring_hash_lb_config: { minimum_ring_size: 1024 },
         transport_socket: { name: "tls", typed_config: typed("envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", { sni: "a" }) } };
       export const r: RouteConfiguration = { name: "80", virtual_hosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "c", timeout: "0s" } }] }] };`,
  );
  assert.deepEqual(errors, []);
});

test("a misspelt field fails to compile", () => {
  const errors = errorsOf(HEADER + `export const c: Cluster = { name: "x", conect_timeout: "10s" };`);
  assert.equal(errors.length, 1, errors.join("\n"));
  assert.match(errors[0]!, /'conect_timeout' does not exist in type 'envoy_config_cluster_v3_Cluster'/);
});

test("an enum value the proto does not have fails to compile", () => {
  const errors = errorsOf(HEADER + `export const l: Listener = { name: "x", traffic_direction: "OUTBOUNDS" };`);
  assert.equal(errors.length, 1, errors.join("\n"));
  assert.match(errors[0]!, /"OUTBOUNDS"/);
});

test("a misspelt field inside an Any body (typed_config) fails to compile", () => {
  const viaHelper = errorsOf(HEADER + `export const a = typed("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", { stat_prefix: "x", clusters: "c" });`);
  assert.equal(viaHelper.length, 1, viaHelper.join("\n"));
  assert.match(viaHelper[0]!, /'clusters' does not exist/);
  const literal = errorsOf(
    HEADER +
      `export const l: Listener = { listener_filters: [{ name: "tls", typed_config: { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", snii: "a" } }] };`,
  );
  assert.equal(literal.length, 1, literal.join("\n"));
  assert.match(literal[0]!, /'snii' does not exist/);
});

test("an Any of a type the generators cannot name fails to compile", () => {
  const errors = errorsOf(HEADER + `export const a = typed("envoy.extensions.filters.http.nope.v3.Nope", {});`);
  assert.equal(errors.length, 1, errors.join("\n"));
});
