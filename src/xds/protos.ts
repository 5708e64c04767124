/**
 * Envoy v3 API types, loaded at run time from the .proto files that the
 * `@grpc/grpc-js-xds` package ships under `deps/` (never copied into this repo).
 *
 * One protobufjs Root for the whole process: loading is the slow part (~hundreds
 * of ms), so it is done once, lazily, and every module shares it.
 */
import * as path from "node:path";
import * as fs from "node:fs";
import * as protobuf from "protobufjs";
import { addNewerFields } from "./newer-fields";

/** The proto files whose types mini-pilot reads or writes; their imports come along. */
const ENTRY_PROTOS = [
  "envoy/service/discovery/v3/ads.proto",
  "envoy/service/discovery/v3/discovery.proto",
  "envoy/service/listener/v3/lds.proto",
  "envoy/service/route/v3/rds.proto",
  "envoy/service/cluster/v3/cds.proto",
  "envoy/service/endpoint/v3/eds.proto",
  "envoy/service/secret/v3/sds.proto",
  "envoy/config/listener/v3/listener.proto",
  "envoy/config/route/v3/route.proto",
  "envoy/config/cluster/v3/cluster.proto",
  "envoy/config/endpoint/v3/endpoint.proto",
  "envoy/config/bootstrap/v3/bootstrap.proto",
  "envoy/admin/v3/config_dump.proto",
  "envoy/service/status/v3/csds.proto",
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
  "envoy/extensions/filters/http/health_check/v3/health_check.proto",
  "envoy/extensions/filters/listener/original_dst/v3/original_dst.proto",
  "envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto",
  "envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto",
  "envoy/extensions/transport_sockets/tls/v3/tls.proto",
  "envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto",
  "envoy/extensions/upstreams/http/v3/http_protocol_options.proto",
  "envoy/config/trace/v3/zipkin.proto",
  "envoy/config/trace/v3/opentelemetry.proto",
  "envoy/extensions/access_loggers/file/v3/file.proto",
  "envoy/extensions/access_loggers/stream/v3/stream.proto",
  "envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto",
  "envoy/extensions/retry/priority/previous_priorities/v3/previous_priorities_config.proto",
  "envoy/extensions/network/dns_resolver/cares/v3/cares_dns_resolver.proto",
  "envoy/extensions/request_id/uuid/v3/uuid.proto",
];

/** Where `@grpc/grpc-js-xds` keeps its protos, found through node's resolver. */
export function protoIncludeDirs(): string[] {
  const pkgJson = require.resolve("@grpc/grpc-js-xds/package.json");
  const deps = path.join(path.dirname(pkgJson), "deps");
  const dirs = ["envoy-api", "xds", "googleapis", "protoc-gen-validate"].map((d) => path.join(deps, d));
  // descriptor.proto (needed by custom options) ships with protobufjs itself.
  dirs.push(path.dirname(require.resolve("protobufjs/package.json")));
  return dirs;
}

let root: protobuf.Root | undefined;

/** The shared, fully resolved Root with every Envoy type mini-pilot uses. */
export function envoyRoot(): protobuf.Root {
  if (root) return root;
  const includeDirs = protoIncludeDirs();
  const r = new protobuf.Root();
  r.resolvePath = (_origin: string, target: string): string | null => {
    if (path.isAbsolute(target) && fs.existsSync(target)) return target;
    for (const dir of includeDirs) {
      const candidate = path.join(dir, target);
      if (fs.existsSync(candidate)) return candidate;
    }
    // google/protobuf/*.proto: protobufjs ships these ("common" definitions).
    return target;
  };
  r.loadSync(ENTRY_PROTOS, { keepCase: true, alternateCommentMode: false });
  addNewerFields(r);
  r.resolveAll();
  root = r;
  return r;
}

/** Look up a message type by its full name, e.g. `envoy.config.cluster.v3.Cluster`. */
export function messageType(fullName: string): protobuf.Type {
  const t = envoyRoot().lookupType(fullName);
  return t;
}

/** Look up a type for a type URL, or undefined when the proto set does not know it. */
export function typeForUrl(typeUrl: string): protobuf.Type | undefined {
  const name = typeUrl.slice(typeUrl.lastIndexOf("/") + 1);
  try {
    return envoyRoot().lookupType(name);
  } catch {
    return undefined;
  }
}
