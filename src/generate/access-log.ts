/**
 * The MeshConfig access log (accessLogFile / accessLogEncoding), placed where
 * istiod places it without Telemetry resources (pilot/pkg/networking/core/accesslog.go):
 *
 * - every HTTP connection manager (telemetry.ts merges it in);
 * - every TCP proxy (networkfilter.go buildTCPProxy -> setTCPAccessLog): TCP
 *   services, the passthrough/fallback chains of HTTP ports, the inbound
 *   passthrough chains, the virtualOutbound catch-all; not the loop guards that
 *   send connections addressed to the capture port itself to BlackHoleCluster
 *   (istiod builds those without an access log);
 * - virtualInbound, virtualOutbound and every gateway listener, filtered on the
 *   NR response flag (setListenerAccessLog): a connection no filter chain
 *   takes is logged by the listener, as nothing else sees it.
 */
import type { Mesh } from "../model/mesh";
import type { ProxyView } from "../model/proxy";
import { typed } from "./common";
import type { FilterChain, HttpConnectionManager, Listener, NetworkFilter } from "./envoy";
import { TCP_PROXY_FILTER } from "./network-filters";

export type AccessLog = NonNullable<HttpConnectionManager["access_log"]>[number];

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

/** The access log every connection manager and TCP proxy gets, or undefined (none configured). */
export function meshAccessLog(mesh: Mesh): AccessLog | undefined {
  const a = mesh.options.accessLog;
  if (!a) return undefined;
  // JSON: istiod also writes an empty json_format_options (Envoy's defaults).
  const log_format =
    a.encoding === "JSON" ? { json_format: ISTIO_JSON_LOG_FORMAT, json_format_options: {} } : { text_format_source: { inline_string: ISTIO_TEXT_LOG_FORMAT } };
  return { name: "envoy.access_loggers.file", typed_config: typed("envoy.extensions.access_loggers.file.v3.FileAccessLog", { path: a.path, log_format }) };
}

/** Listeners that log connections no chain matched (istiod's setListenerAccessLog callers). */
const LISTENERS_WITH_NR_LOG = new Set(["virtualInbound", "virtualOutbound"]);

/** `log` on the listener's TCP proxies, and (NR-filtered) on the listener itself where istiod puts it. */
export function withTcpAndListenerAccessLogs(l: Listener, log: AccessLog, proxy: ProxyView): Listener {
  const port = l.address?.socket_address?.port_value;
  const chain = (c: FilterChain): FilterChain => {
    if (port !== undefined && c.filter_chain_match?.destination_port === port) return c;
    if (!(c.filters ?? []).some((f) => f.name === TCP_PROXY_FILTER)) return c;
    return { ...c, filters: (c.filters ?? []).map((f) => withTcpLog(f, log)) };
  };
  const out: Listener = { ...l };
  if (l.filter_chains) out.filter_chains = l.filter_chains.map(chain);
  if (l.default_filter_chain) out.default_filter_chain = chain(l.default_filter_chain);
  if (proxy.kind === "router" || LISTENERS_WITH_NR_LOG.has(l.name ?? "")) {
    out.access_log = [...(l.access_log ?? []), { ...log, filter: { response_flag_filter: { flags: ["NR"] } } }];
  }
  return out;
}

function withTcpLog(f: NetworkFilter, log: AccessLog): NetworkFilter {
  if (f.name !== TCP_PROXY_FILTER || !f.typed_config) return f;
  const cfg = f.typed_config as { access_log?: AccessLog[] };
  return { ...f, typed_config: { ...f.typed_config, access_log: [...(cfg.access_log ?? []), log] } as NetworkFilter["typed_config"] };
}
