/**
 * A checked MeshConfig → the options buildMesh takes, with Istio's defaults
 * where a field is not set. Pure; the config has passed `checkMeshConfig`.
 */
import type { BuildMeshOptions } from "./mesh";
import type { MeshConfig, OpenTelemetryProviderConfig, HeaderConfig } from "./mesh-config";
import { DEFAULT_TRACE_SAMPLING, type MeshTracing, type TracingProvider } from "./mesh-types";
import { parseIstioDuration } from "./validate/duration";
import { tlsDefaultsOptions } from "./mesh-tls-defaults";

export function meshOptionsFromConfig(c: MeshConfig): BuildMeshOptions {
  const o: BuildMeshOptions = {};
  if (c.outboundTrafficPolicy?.mode) o.outboundTrafficPolicy = c.outboundTrafficPolicy.mode;
  if (c.rootNamespace) o.rootNamespace = c.rootNamespace;
  if (c.trustDomain) o.trustDomain = c.trustDomain;
  if (c.enableAutoMtls !== undefined) o.enableAutoMtls = c.enableAutoMtls;
  if (c.connectTimeout) o.connectTimeoutMs = durationMs(c.connectTimeout);
  if (c.localityLbSetting) o.localityLbSetting = c.localityLbSetting;
  if (c.protocolDetectionTimeout) o.protocolDetectionTimeoutMs = durationMs(c.protocolDetectionTimeout);
  const exportTo: NonNullable<BuildMeshOptions["defaultExportTo"]> = {};
  if (c.defaultDestinationRuleExportTo?.length) exportTo.destinationRule = c.defaultDestinationRuleExportTo;
  if (c.defaultVirtualServiceExportTo?.length) exportTo.virtualService = c.defaultVirtualServiceExportTo;
  if (Object.keys(exportTo).length) o.defaultExportTo = exportTo;
  // Istio: an empty accessLogFile means no access log.
  if (c.accessLogFile) o.accessLog = { path: c.accessLogFile, encoding: c.accessLogEncoding ?? "TEXT" };
  const topology = c.defaultConfig?.gatewayTopology;
  if (topology) {
    const t: NonNullable<BuildMeshOptions["gatewayTopology"]> = {};
    if (topology.numTrustedProxies) t.numTrustedProxies = topology.numTrustedProxies;
    // UNDEFINED keeps istiod's gateway default (SANITIZE_SET).
    if (topology.forwardClientCertDetails && topology.forwardClientCertDetails !== "UNDEFINED") t.forwardClientCertDetails = topology.forwardClientCertDetails;
    if (Object.keys(t).length > 0) o.gatewayTopology = t;
  }
  const normalization = c.pathNormalization?.normalization;
  // DEFAULT is BASE in istiod.
  if (normalization && normalization !== "DEFAULT" && normalization !== "BASE") o.pathNormalization = normalization;
  if (c.defaultHttpRetryPolicy) o.defaultHttpRetryPolicy = c.defaultHttpRetryPolicy;
  const tlsDefaults = c.tlsDefaults && tlsDefaultsOptions(c.tlsDefaults);
  if (tlsDefaults) o.tlsDefaults = tlsDefaults;
  o.tracing = meshTracing(c);
  return o;
}

/**
 * istiod's two ways (pilot/pkg/networking/core/tracing.go): a default tracing
 * provider (Telemetry API semantics; enableTracing does not matter then), or
 * the legacy `enableTracing: true`, where the HCM only samples and the tracer
 * is the one in the proxy's bootstrap.
 *
 * As in Istio, enableTracing defaults to true (DefaultMeshConfig): a mesh
 * config that does not mention it traces at 1%; `enableTracing: false`
 * without a default provider turns tracing off (false, not undefined, so it
 * wins over the built-in default in buildMesh).
 */
function meshTracing(c: MeshConfig): MeshTracing | false {
  const providerName = c.defaultProviders?.tracing?.[0];
  const provider = providerName !== undefined ? tracingProvider(c, providerName) : undefined;
  if (!provider && c.enableTracing === false) return false;
  const t = c.defaultConfig?.tracing;
  // As istiod: 0 (or unset) means the default rate.
  const sampling = t?.sampling ? t.sampling : DEFAULT_TRACE_SAMPLING;
  const out: MeshTracing = { sampling, istioTags: t?.enableIstioTags ?? true };
  if (t?.maxPathTagLength) out.maxPathTagLength = t.maxPathTagLength;
  if (provider) out.provider = provider;
  return out;
}

function tracingProvider(c: MeshConfig, name: string): TracingProvider | undefined {
  const p = c.extensionProviders?.find((e) => e.name === name);
  if (p?.zipkin) {
    const z = p.zipkin;
    return {
      kind: "zipkin",
      name,
      service: z.service,
      port: z.port,
      path: z.path || "/api/v2/spans",
      // Istio traces with 128-bit ids unless asked for 64.
      traceId128: !z.enable64bitTraceId,
      ...(z.maxTagLength ? { maxTagLength: z.maxTagLength } : {}),
      ...(z.timeout ? { timeout: z.timeout } : {}),
      headers: headers(z.headers),
    };
  }
  if (p?.opentelemetry) return otelProvider(name, p.opentelemetry);
  return undefined;
}

function otelProvider(name: string, o: OpenTelemetryProviderConfig): TracingProvider {
  const out: TracingProvider = { kind: "opentelemetry", name, service: o.service, port: o.port };
  if (o.maxTagLength) out.maxTagLength = o.maxTagLength;
  if (o.http) out.http = { path: o.http.path ?? "", headers: headers(o.http.headers), ...(o.http.timeout ? { timeout: o.http.timeout } : {}) };
  else out.grpc = { initialMetadata: headers(o.grpc?.initialMetadata), ...(o.grpc?.timeout ? { timeout: o.grpc.timeout } : {}) };
  return out;
}

/**
 * Header values: a literal `value`; `envName` is read from istiod's environment
 * in Istio, which would put a control-plane secret into every proxy's config,
 * so mini-pilot takes literals only (an envName header gets an empty value).
 */
function headers(list: HeaderConfig[] | undefined): { name: string; value: string }[] {
  return (list ?? []).filter((h) => h.name).map((h) => ({ name: h.name!, value: h.value ?? "" }));
}

function durationMs(text: string): number {
  const d = parseIstioDuration(text);
  return d.ok ? d.ms : 0;
}
