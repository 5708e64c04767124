#!/usr/bin/env node
// @ts-check
/**
 * Writes src/xds/envoy-types.generated.ts: TypeScript types, in proto3 JSON
 * form, for the Envoy messages the generators build, so a misspelt field or
 * enum value fails to compile instead of failing to encode at push time.
 *
 * Derived at build time (npm's prebuild/pretypecheck/prelint hooks) from the
 * very .proto files src/xds/protos.ts loads at run time: the ones that
 * @grpc/grpc-js-xds ships under deps/. Nothing is copied into the repo and the
 * output is gitignored, so the types can never drift from the encoder.
 *
 * Plain JavaScript because it must run before `tsc` (whose input it writes).
 *
 * What it emits, for the four xDS resource types and every top-level message
 * of envoy.extensions.* (what typed_config Anys may carry), plus everything
 * their fields reach:
 * - one interface per message (`envoy_config_cluster_v3_Cluster`), every field
 *   optional, snake_case names as the generators (and src/xds/json.ts) write;
 * - enums as unions of their value names; 64-bit integers as number | string;
 *   Duration/Timestamp/FieldMask/bytes as string; wrappers as their scalar;
 *   Struct as a JSON object;
 * - `Any` as the union of `{"@type": "type.googleapis.com/<name>"} & <message>`
 *   over the Any-able messages, so typed_config bodies are checked too;
 * - `EnvoyMessages`: full proto name -> interface, for lookups by name.
 * oneofs are not made exclusive (src/xds/json.ts still refuses two members).
 *
 *   node scripts/gen-envoy-types.js          write the file (only when it changed)
 *   node scripts/gen-envoy-types.js --check  exit 1 if it is missing or stale
 */
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const protobuf = require("protobufjs");

const OUT = path.join(__dirname, "..", "src", "xds", "envoy-types.generated.ts");

/** Resource messages (the roots besides the Any-able extension messages). */
const RESOURCES = [
  "envoy.config.listener.v3.Listener",
  "envoy.config.route.v3.RouteConfiguration",
  "envoy.config.cluster.v3.Cluster",
  "envoy.config.endpoint.v3.ClusterLoadAssignment",
];

/** The entry protos of the extensions the generators put into Anys; their imports come along. */
const EXTENSION_PROTOS = [
  "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
  "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto",
  "envoy/extensions/filters/http/router/v3/router.proto",
  "envoy/extensions/filters/http/fault/v3/fault.proto",
  "envoy/extensions/filters/http/cors/v3/cors.proto",
  "envoy/extensions/filters/http/grpc_web/v3/grpc_web.proto",
  "envoy/extensions/filters/network/mongo_proxy/v3/mongo_proxy.proto",
  "envoy/extensions/filters/http/rbac/v3/rbac.proto",
  "envoy/extensions/filters/network/rbac/v3/rbac.proto",
  "envoy/extensions/path/match/uri_template/v3/uri_template_match.proto",
  "envoy/extensions/filters/listener/original_dst/v3/original_dst.proto",
  "envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto",
  "envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto",
  "envoy/extensions/transport_sockets/tls/v3/tls.proto",
  "envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto",
  "envoy/extensions/upstreams/http/v3/http_protocol_options.proto",
  "envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto",
  "envoy/extensions/retry/priority/previous_priorities/v3/previous_priorities_config.proto",
  "envoy/extensions/network/dns_resolver/cares/v3/cares_dns_resolver.proto",
  "envoy/extensions/request_id/uuid/v3/uuid.proto",
  "envoy/config/trace/v3/zipkin.proto",
  "envoy/config/trace/v3/opentelemetry.proto",
  "envoy/extensions/access_loggers/file/v3/file.proto",
];

const RESOURCE_PROTOS = [
  "envoy/config/listener/v3/listener.proto",
  "envoy/config/route/v3/route.proto",
  "envoy/config/cluster/v3/cluster.proto",
  "envoy/config/endpoint/v3/endpoint.proto",
];

/** Same search path as src/xds/protos.ts (protoIncludeDirs). */
function includeDirs() {
  const deps = path.join(path.dirname(require.resolve("@grpc/grpc-js-xds/package.json")), "deps");
  const dirs = ["envoy-api", "xds", "googleapis", "protoc-gen-validate"].map((d) => path.join(deps, d));
  dirs.push(path.dirname(require.resolve("protobufjs/package.json")));
  return dirs;
}

function loadRoot() {
  const dirs = includeDirs();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    if (path.isAbsolute(target) && fs.existsSync(target)) return target;
    for (const dir of dirs) {
      const candidate = path.join(dir, target);
      if (fs.existsSync(candidate)) return candidate;
    }
    return target;
  };
  root.loadSync([...RESOURCE_PROTOS, ...EXTENSION_PROTOS], { keepCase: true, alternateCommentMode: false });
  // The fields src/xds/newer-fields.ts adds at run time (newer than the shipped protos).
  for (const f of require("../src/xds/newer-fields.json").fields) {
    const type = root.lookupType(f.message);
    if (!type.fields[f.field] && !type.fieldsById[f.id]) type.add(new protobuf.Field(f.field, f.id, `.${f.type}`));
  }
  root.resolveAll();
  return root;
}

/** @param {protobuf.ReflectionObject} t */
const fullName = (t) => t.fullName.replace(/^\./, "");
/** @param {string} name */
const tsName = (name) => name.replace(/\./g, "_");

const SCALARS = {
  double: "number",
  float: "number",
  int32: "number",
  uint32: "number",
  sint32: "number",
  fixed32: "number",
  sfixed32: "number",
  int64: "number | string",
  uint64: "number | string",
  sint64: "number | string",
  fixed64: "number | string",
  sfixed64: "number | string",
  bool: "boolean",
  string: "string",
  bytes: "string",
};

/** Well-known types in their proto3 JSON form (as src/xds/json.ts maps them). */
const WELL_KNOWN = {
  "google.protobuf.DoubleValue": "number",
  "google.protobuf.FloatValue": "number",
  "google.protobuf.Int64Value": "number | string",
  "google.protobuf.UInt64Value": "number | string",
  "google.protobuf.Int32Value": "number",
  "google.protobuf.UInt32Value": "number",
  "google.protobuf.BoolValue": "boolean",
  "google.protobuf.StringValue": "string",
  "google.protobuf.BytesValue": "string",
  "google.protobuf.Duration": "Duration",
  "google.protobuf.Timestamp": "string",
  "google.protobuf.FieldMask": "string",
  "google.protobuf.Empty": "Record<string, never>",
  "google.protobuf.Struct": "{ [key: string]: JsonValue }",
  "google.protobuf.Value": "JsonValue",
  "google.protobuf.ListValue": "JsonValue[]",
  "google.protobuf.Any": "Any",
};

/** Every message a root reaches through its fields (Any bodies are roots of their own). */
function closure(root, roots) {
  /** @type {Map<string, protobuf.Type>} */
  const seen = new Map();
  const stack = [...roots];
  while (stack.length > 0) {
    const t = /** @type {protobuf.Type} */ (stack.pop());
    const name = fullName(t);
    if (seen.has(name) || name in WELL_KNOWN) continue;
    seen.set(name, t);
    for (const f of t.fieldsArray) {
      f.resolve();
      if (f.resolvedType instanceof protobuf.Type) stack.push(f.resolvedType);
    }
  }
  return seen;
}

/** Tracer configs live outside envoy.extensions.* but are carried in Anys (HCM tracing.provider). */
const ANYABLE_TRACERS = ["envoy.config.trace.v3.ZipkinConfig", "envoy.config.trace.v3.OpenTelemetryConfig"];

/** Top-level messages of envoy.extensions.* in the loaded files, and the tracers: what an Any may carry. */
function anyable(root) {
  /** @type {protobuf.Type[]} */
  const out = [];
  const walk = (/** @type {protobuf.NamespaceBase} */ ns) => {
    for (const o of ns.nestedArray) {
      if (o instanceof protobuf.Type) {
        if (fullName(o).startsWith("envoy.extensions.") || ANYABLE_TRACERS.includes(fullName(o))) out.push(o);
      } else if (o instanceof protobuf.Namespace) walk(o);
    }
  };
  walk(root);
  return out;
}

function fieldType(f) {
  f.resolve();
  const rt = f.resolvedType;
  let t;
  if (rt instanceof protobuf.Type) t = WELL_KNOWN[fullName(rt)] ?? tsName(fullName(rt));
  else if (rt instanceof protobuf.Enum)
    t = Object.keys(rt.values)
      .map((v) => JSON.stringify(v))
      .join(" | ");
  else t = SCALARS[f.type];
  if (!t) throw new Error(`${fullName(f)}: no TypeScript type for ${f.type}`);
  if (f instanceof protobuf.MapField) return `{ [key: string]: ${t} }`;
  if (f.repeated) return /[ |]/.test(t) ? `(${t})[]` : `${t}[]`;
  return t;
}

function render() {
  const root = loadRoot();
  const anys = anyable(root).sort((a, b) => (fullName(a) < fullName(b) ? -1 : 1));
  const messages = closure(root, [...RESOURCES.map((n) => root.lookupType(n)), ...anys]);
  const names = [...messages.keys()].sort();
  const byTs = new Map();
  for (const n of names) {
    const other = byTs.get(tsName(n));
    if (other) throw new Error(`${n} and ${other} would share the TypeScript name ${tsName(n)}`);
    byTs.set(tsName(n), n);
  }
  const version = require("@grpc/grpc-js-xds/package.json").version;
  const lines = [
    "// Generated by scripts/gen-envoy-types.js from the Envoy protos in",
    `// @grpc/grpc-js-xds@${version} (deps/). Do not edit; \`npm run build\` rewrites it.`,
    "/* eslint-disable */",
    "",
    '/** A proto3 JSON duration: "10s", "0.250s". */',
    "export type Duration = string;",
    "export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };",
    "",
    "/** Full proto name -> message type, for lookups by name (`typed(...)`). */",
    "export interface EnvoyMessages {",
    ...names.map((n) => `  ${JSON.stringify(n)}: ${tsName(n)};`),
    "}",
    "",
    "/** The messages an Any (typed_config) may carry. */",
    "export type AnyMessageName =",
    ...anys.map((t, i) => `  | ${JSON.stringify(fullName(t))}${i === anys.length - 1 ? ";" : ""}`),
    "",
    '/** One Any in proto3 JSON: "@type" plus the message\'s own fields. */',
    'export type AnyOf<N extends AnyMessageName> = { "@type": `type.googleapis.com/${N}` } & EnvoyMessages[N];',
    "export type Any = { [N in AnyMessageName]: AnyOf<N> }[AnyMessageName];",
  ];
  for (const n of names) {
    const t = /** @type {protobuf.Type} */ (messages.get(n));
    lines.push("", `/** ${n} */`, `export interface ${tsName(n)} {`);
    for (const f of [...t.fieldsArray].sort((a, b) => a.id - b.id)) {
      if (f.options && f.options.deprecated) lines.push("  /** @deprecated */");
      lines.push(`  ${f.name}?: ${fieldType(f)};`);
    }
    lines.push("}");
  }
  return lines.join("\n") + "\n";
}

function main() {
  const text = render();
  const current = fs.existsSync(OUT) ? fs.readFileSync(OUT, "utf8") : undefined;
  if (process.argv.includes("--check")) {
    if (current !== text) {
      console.error(`${path.relative(process.cwd(), OUT)} is ${current === undefined ? "missing" : "stale"}; run node scripts/gen-envoy-types.js`);
      process.exit(1);
    }
    return;
  }
  // Unchanged output leaves the file (and its mtime) alone.
  if (current !== text) fs.writeFileSync(OUT, text);
}

main();
