/**
 * Mesh-wide telemetry on every HTTP connection manager a proxy gets: tracing
 * (tracing.ts) and the MeshConfig access log (access-log.ts, which also logs
 * on TCP proxies and, for unmatched connections, on listeners). One pass over the generated
 * listeners, so the listener builders stay unaware of telemetry; with both
 * off it returns its input untouched (and the output is byte-identical).
 */
import type { Mesh } from "../model/mesh";
import type { ProxyView } from "../model/proxy";
import type { Diagnostic } from "../model/types";
import { meshAccessLog, withTcpAndListenerAccessLogs } from "./access-log";
import type { FilterChain, HttpConnectionManager, Listener, NetworkFilter } from "./envoy";
import type { GeneratedResources } from "./generated";
import { HCM_FILTER } from "./network-filters";
import { hcmTracing } from "./tracing";

export function withTelemetry<G extends GeneratedResources & { diagnostics?: Diagnostic[] }>(out: G, mesh: Mesh, proxy: ProxyView): G {
  const { tracing: tracingOn, accessLog: logOn } = mesh.options;
  if (!tracingOn && !logOn) return out;
  const diagnostics: Diagnostic[] = [];
  const extra: HttpConnectionManager = {};
  const tracing = hcmTracing(mesh, proxy, diagnostics);
  if (tracing) extra.tracing = tracing;
  const log = meshAccessLog(mesh);
  if (log) extra.access_log = [log];
  let listeners = Object.keys(extra).length ? out.listeners.map((l) => withHcmFields(l, extra)) : out.listeners;
  if (log) listeners = listeners.map((l) => withTcpAndListenerAccessLogs(l, log, proxy));
  const result: G = { ...out, listeners };
  if (diagnostics.length) result.diagnostics = [...(out.diagnostics ?? []), ...diagnostics];
  return result;
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
