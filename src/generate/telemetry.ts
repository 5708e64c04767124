/**
 * Mesh-wide telemetry on every HTTP connection manager a proxy gets: tracing
 * (tracing.ts) and the MeshConfig access log. One pass over the generated
 * listeners, so the listener builders stay unaware of telemetry; with both
 * off it returns its input untouched (and the output is byte-identical).
 */
import type { Mesh } from "../model/mesh";
import type { ProxyView } from "../model/proxy";
import type { Diagnostic } from "../model/types";
import { typed } from "./common";
import type { FilterChain, HttpConnectionManager, Listener, NetworkFilter } from "./envoy";
import type { GeneratedResources } from "./generated";
import { HCM_FILTER } from "./network-filters";
import { hcmTracing } from "./tracing";

type AccessLog = NonNullable<HttpConnectionManager["access_log"]>[number];

/** Istio's default text access log format (EnvoyTextLogFormat). */
export const ISTIO_TEXT_LOG_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% ' +
  '%RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% ' +
  '%DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" ' +
  '"%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% ' +
  "%DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n";

/** Istio's JSON access log fields (EnvoyJSONLogFormatIstio). */
const ISTIO_JSON_LOG_FORMAT: Record<string, string> = {
  authority: "%REQ(:AUTHORITY)%",
  bytes_received: "%BYTES_RECEIVED%",
  bytes_sent: "%BYTES_SENT%",
  connection_termination_details: "%CONNECTION_TERMINATION_DETAILS%",
  downstream_local_address: "%DOWNSTREAM_LOCAL_ADDRESS%",
  downstream_remote_address: "%DOWNSTREAM_REMOTE_ADDRESS%",
  duration: "%DURATION%",
  method: "%REQ(:METHOD)%",
  path: "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
  protocol: "%PROTOCOL%",
  request_id: "%REQ(X-REQUEST-ID)%",
  requested_server_name: "%REQUESTED_SERVER_NAME%",
  response_code: "%RESPONSE_CODE%",
  response_code_details: "%RESPONSE_CODE_DETAILS%",
  response_flags: "%RESPONSE_FLAGS%",
  route_name: "%ROUTE_NAME%",
  start_time: "%START_TIME%",
  upstream_cluster: "%UPSTREAM_CLUSTER_RAW%",
  upstream_host: "%UPSTREAM_HOST%",
  upstream_local_address: "%UPSTREAM_LOCAL_ADDRESS%",
  upstream_service_time: "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%",
  upstream_transport_failure_reason: "%UPSTREAM_TRANSPORT_FAILURE_REASON%",
  user_agent: "%REQ(USER-AGENT)%",
  x_forwarded_for: "%REQ(X-FORWARDED-FOR)%",
};

export function withTelemetry<G extends GeneratedResources & { diagnostics?: Diagnostic[] }>(out: G, mesh: Mesh, proxy: ProxyView): G {
  const { tracing: tracingOn, accessLog: logOn } = mesh.options;
  if (!tracingOn && !logOn) return out;
  const diagnostics: Diagnostic[] = [];
  const extra: HttpConnectionManager = {};
  const tracing = hcmTracing(mesh, proxy, diagnostics);
  if (tracing) extra.tracing = tracing;
  const log = accessLog(mesh);
  if (log) extra.access_log = [log];
  const result: G = { ...out, listeners: Object.keys(extra).length ? out.listeners.map((l) => withHcmFields(l, extra)) : out.listeners };
  if (diagnostics.length) result.diagnostics = [...(out.diagnostics ?? []), ...diagnostics];
  return result;
}

function accessLog(mesh: Mesh): AccessLog | undefined {
  const a = mesh.options.accessLog;
  if (!a) return undefined;
  const log_format = a.encoding === "JSON" ? { json_format: ISTIO_JSON_LOG_FORMAT } : { text_format_source: { inline_string: ISTIO_TEXT_LOG_FORMAT } };
  return { name: "envoy.access_loggers.file", typed_config: typed("envoy.extensions.access_loggers.file.v3.FileAccessLog", { path: a.path, log_format }) };
}

/** `extra` merged into every HTTP connection manager of a listener (shared with path-normalization.ts). */
export function withHcmFields(l: Listener, extra: HttpConnectionManager): Listener {
  const chain = (c: FilterChain): FilterChain => ({ ...c, filters: (c.filters ?? []).map((f) => withHcm(f, extra)) });
  const out: Listener = { ...l };
  if (l.filter_chains) out.filter_chains = l.filter_chains.map(chain);
  if (l.default_filter_chain) out.default_filter_chain = chain(l.default_filter_chain);
  return out;
}

function withHcm(f: NetworkFilter, extra: HttpConnectionManager): NetworkFilter {
  if (f.name !== HCM_FILTER || !f.typed_config) return f;
  return { ...f, typed_config: { ...f.typed_config, ...extra } as NetworkFilter["typed_config"] };
}
