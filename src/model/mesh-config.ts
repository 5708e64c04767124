/**
 * Istio's MeshConfig YAML (the `mesh` key of the `istio` ConfigMap, or a file)
 * → a checked `MeshConfig`. Pure. Every problem is reported with where it came
 * from and the field's path (`mesh.yaml: defaultConfig.tracing.sampling: ...`);
 * a config with any error is refused as a whole, so the caller keeps its last
 * good one. Fields Istio has but mini-pilot does not use are accepted with a
 * warning (see mesh-config-schema.ts).
 */
import { parseDocument } from "yaml";
import { MESH_CONFIG_SCHEMA, type FieldSpec } from "./mesh-config-schema";
import { parseIstioDuration } from "./validate/duration";
import { Ctx } from "./validate/ctx";
import { localityLbSetting } from "./validate/locality-lb";
import type { LocalityLbSetting } from "./types";
import { checkTlsDefaults, type MeshTlsDefaults } from "./mesh-tls-defaults";

export interface ZipkinProviderConfig {
  service: string;
  port: number;
  maxTagLength?: number;
  enable64bitTraceId?: boolean;
  path?: string;
  timeout?: string;
  headers?: HeaderConfig[];
}

export interface HeaderConfig {
  name?: string;
  value?: string;
  envName?: string;
}

export interface OpenTelemetryProviderConfig {
  service: string;
  port: number;
  maxTagLength?: number;
  http?: { path?: string; timeout?: string; headers?: HeaderConfig[] };
  grpc?: { timeout?: string; initialMetadata?: HeaderConfig[] };
}

export interface ExtensionProviderConfig {
  name: string;
  zipkin?: ZipkinProviderConfig;
  opentelemetry?: OpenTelemetryProviderConfig;
  /** Another kind of provider (ext_authz, access log, ...): kept by name only. */
  other?: string;
}

export type { ForwardClientCertDetails } from "./mesh-types";
import type { ForwardClientCertDetails, PathNormalization } from "./mesh-types";
import type { HTTPRetry } from "./types";

/** MeshConfig as written (camelCase, as in Istio's YAML), every field optional. */
export interface MeshConfig {
  outboundTrafficPolicy?: { mode?: "ALLOW_ANY" | "REGISTRY_ONLY" };
  rootNamespace?: string;
  trustDomain?: string;
  defaultConfig?: {
    discoveryAddress?: string;
    proxyMetadata?: Record<string, string>;
    tracing?: { sampling?: number; zipkin?: { address?: string }; maxPathTagLength?: number; enableIstioTags?: boolean };
    gatewayTopology?: { numTrustedProxies?: number; forwardClientCertDetails?: ForwardClientCertDetails | "UNDEFINED" };
  };
  enableTracing?: boolean;
  accessLogFile?: string;
  accessLogEncoding?: "TEXT" | "JSON";
  defaultDestinationRuleExportTo?: string[];
  defaultVirtualServiceExportTo?: string[];
  connectTimeout?: string;
  protocolDetectionTimeout?: string;
  enableAutoMtls?: boolean;
  /** Istio's default is `{enabled: true}`: failover by locality wherever a DestinationRule sets outlier detection. */
  localityLbSetting?: LocalityLbSetting;
  extensionProviders?: ExtensionProviderConfig[];
  defaultProviders?: { tracing?: string[] };
  pathNormalization?: { normalization?: PathNormalization | "DEFAULT" };
  defaultHttpRetryPolicy?: HTTPRetry;
  tlsDefaults?: MeshTlsDefaults;
}

export type MeshConfigResult = { ok: true; config: MeshConfig; warnings: string[] } | { ok: false; errors: string[]; warnings: string[] };

/** Parse and check one MeshConfig document. `source` names it in every message (a file name, `configmap istio-system/istio`). */
export function parseMeshConfig(text: string, source: string): MeshConfigResult {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    const errors = doc.errors.map((e) => `${source}:${e.linePos?.[0]?.line ?? "?"}: ${e.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "")}`);
    return { ok: false, errors, warnings: [] };
  }
  const value: unknown = doc.toJS();
  // An empty file or ConfigMap key is the default mesh config, as in Istio.
  if (value === null || value === undefined) return { ok: true, config: {}, warnings: [] };
  return checkMeshConfig(value, source);
}

/** Check an already-decoded MeshConfig value. */
export function checkMeshConfig(value: unknown, source: string): MeshConfigResult {
  const errors: string[] = [];
  const warnings: string[] = [];
  const report: Report = {
    error: (p, m) => void errors.push(`${source}: ${p || "(top)"}: ${m}`),
    warn: (p, m) => void warnings.push(`${source}: ${p}: ${m}`),
  };
  const out = check(MESH_CONFIG_SCHEMA, value, "", report) as MeshConfig | undefined;
  if (out?.localityLbSetting !== undefined) out.localityLbSetting = checkLocalityLb(out.localityLbSetting, report);
  if (out?.tlsDefaults !== undefined) out.tlsDefaults = checkTlsDefaults(out.tlsDefaults, report.warn);
  if (errors.length === 0) checkProviders(out as MeshConfig, (p, m) => errors.push(`${source}: ${p}: ${m}`));
  return errors.length > 0 ? { ok: false, errors, warnings } : { ok: true, config: out as MeshConfig, warnings };
}

/**
 * Layers of mesh config, later ones winning field by field (objects merge,
 * lists and scalars replace), as Istio applies a mesh config onto its defaults.
 */
export function mergeMeshConfigs(...layers: MeshConfig[]): MeshConfig {
  return layers.reduce<Record<string, unknown>>((acc, l) => deepMerge(acc, l as Record<string, unknown>), {}) as MeshConfig;
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = isPlainObject(prev) && isPlainObject(v) ? deepMerge(prev, v) : v;
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

interface Report {
  error(path: string, message: string): undefined;
  warn(path: string, message: string): void;
}

const join = (path: string, key: string) => (path ? `${path}.${key}` : key);

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "an object";
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** Returns the checked value (durations and numbers as written), or undefined when it was refused. */
function check(spec: FieldSpec, v: unknown, path: string, r: Report): unknown {
  switch (spec.t) {
    case "any":
      return v;
    case "string":
      if (typeof v !== "string") return r.error(path, `want a string, got ${typeName(v)}`);
      return v;
    case "bool":
      if (typeof v !== "boolean") return r.error(path, `want true or false, got ${typeName(v)}`);
      return v;
    case "number":
      if (typeof v !== "number" || !Number.isFinite(v)) return r.error(path, `want a number, got ${typeName(v)}`);
      if (v < spec.min || v > spec.max) return r.error(path, `${v} is out of range (${spec.min} to ${spec.max})`);
      return v;
    case "port":
      if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 65535) return r.error(path, `want a port number 1-65535, got ${typeName(v)}`);
      return v;
    case "duration": {
      if (typeof v !== "string") return r.error(path, `want a duration like "10s", got ${typeName(v)}`);
      const d = parseIstioDuration(v);
      if (!d.ok) return r.error(path, `bad duration "${v}": ${d.reason}`);
      if (d.ms < 0) return r.error(path, `bad duration "${v}": negative`);
      return v;
    }
    case "enum":
      if (typeof v !== "string" || !spec.values.includes(v)) return r.error(path, `want one of ${spec.values.join(", ")}, got ${typeName(v)}`);
      return v;
    case "stringList":
      if (!Array.isArray(v)) return r.error(path, `want a list of strings, got ${typeName(v)}`);
      v.forEach((s, i) => {
        if (typeof s !== "string") r.error(`${path}[${i}]`, `want a string, got ${typeName(s)}`);
      });
      return v;
    case "stringMap":
      if (!isPlainObject(v)) return r.error(path, `want a map of strings, got ${typeName(v)}`);
      for (const [k, s] of Object.entries(v)) if (typeof s !== "string") r.error(join(path, k), `want a string, got ${typeName(s)}`);
      return v;
    case "list":
      if (!Array.isArray(v)) return r.error(path, `want a list, got ${typeName(v)}`);
      return v.map((item, i) => check(spec.item, item, `${path}[${i}]`, r));
    case "object":
      return checkObject(spec.fields, spec.known ?? [], v, path, r);
    case "oneOf":
      return checkOneOf(spec, v, path, r);
  }
}

function checkObject(fields: Record<string, FieldSpec>, known: readonly string[], v: unknown, path: string, r: Report): Record<string, unknown> | undefined {
  if (!isPlainObject(v)) return r.error(path, `want an object, got ${typeName(v)}`);
  const out: Record<string, unknown> = {};
  for (const [k, value] of Object.entries(v)) {
    const spec = fields[k];
    if (spec) {
      // null is how YAML writes "not set"; Istio treats it as absent.
      if (value !== null) out[k] = check(spec, value, join(path, k), r);
    } else if (known.includes(k)) {
      r.warn(join(path, k), "an Istio field mini-pilot does not use; ignored");
    } else {
      r.error(join(path, k), `unknown field (known here: ${[...Object.keys(fields), ...known].sort().join(", ")})`);
    }
  }
  return out;
}

function checkOneOf(spec: Extract<FieldSpec, { t: "oneOf" }>, v: unknown, path: string, r: Report): unknown {
  if (!isPlainObject(v)) return r.error(path, `want an object, got ${typeName(v)}`);
  const kinds = Object.keys(v).filter((k) => !(k in spec.common));
  const all = [...Object.keys(spec.choices), ...spec.knownChoices];
  if (kinds.length !== 1) return r.error(path, `want exactly one provider (${all.join(", ")}), got ${kinds.length ? kinds.join(", ") : "none"}`);
  const kind = kinds[0]!;
  const out = checkObject(spec.common, [], Object.fromEntries(Object.entries(v).filter(([k]) => k in spec.common)), path, r) ?? {};
  const choice = spec.choices[kind];
  if (choice) out[kind] = check(choice, v[kind], join(path, kind), r);
  else if (spec.knownChoices.includes(kind)) out.other = kind;
  else r.error(join(path, kind), `unknown provider (known: ${all.join(", ")})`);
  return out;
}

/**
 * The same rules as a DestinationRule's localityLbSetting; the mesh-wide one
 * is checked as if outlier detection were set (Istio does so: it has no
 * outlier detection of its own).
 */
function checkLocalityLb(v: unknown, r: Report): LocalityLbSetting | undefined {
  const ctx = new Ctx({});
  const out = localityLbSetting(v, "localityLbSetting", ctx);
  for (const d of ctx.diagnostics) {
    if (d.severity === "error") r.error(d.field ?? "localityLbSetting", d.message);
    else r.warn(d.field ?? "localityLbSetting", d.message);
  }
  return out;
}

/** Cross-field rules: providers have unique names and the fields they need; default providers exist and can trace. */
function checkProviders(c: MeshConfig, error: (path: string, m: string) => void): void {
  const byName = new Map<string, ExtensionProviderConfig>();
  (c.extensionProviders ?? []).forEach((p, i) => {
    const at = `extensionProviders[${i}]`;
    if (!p.name) error(`${at}.name`, "a provider needs a name");
    else if (byName.has(p.name)) error(`${at}.name`, `"${p.name}" is defined twice`);
    else byName.set(p.name, p);
    for (const kind of ["zipkin", "opentelemetry"] as const) {
      const body = p[kind];
      if (!body) continue;
      if (!body.service) error(`${at}.${kind}.service`, "required (the collector's host, e.g. zipkin.istio-system.svc.cluster.local)");
      if (!body.port) error(`${at}.${kind}.port`, "required (the collector's port)");
    }
    if (p.opentelemetry?.http && p.opentelemetry.grpc) error(`${at}.opentelemetry`, "give http or grpc, not both");
  });
  (c.defaultProviders?.tracing ?? []).forEach((name, i) => {
    const p = byName.get(name);
    if (!p) error(`defaultProviders.tracing[${i}]`, `no extensionProviders entry named "${name}"`);
    else if (!p.zipkin && !p.opentelemetry)
      error(`defaultProviders.tracing[${i}]`, `provider "${name}" (${p.other}) cannot trace; use a zipkin or opentelemetry provider`);
  });
  if ((c.defaultProviders?.tracing ?? []).length > 1) error("defaultProviders.tracing", "give one tracing provider (Envoy sends spans to one tracer)");
}
