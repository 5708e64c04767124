/**
 * Canonical proto3 JSON <-> protobufjs wire objects, driven by proto reflection.
 *
 * Everything a person reads or writes (resource files, static configs,
 * config_dump, `translate` output) is in Envoy's documented JSON/YAML form:
 * snake_case field names, durations as "0.25s", wrapper types as plain values,
 * enums by name, `Any` with "@type", `Struct` as plain objects. protobufjs maps
 * only `Any` natively and silently drops unknown keys, so this module does the
 * whole mapping itself and refuses unknown keys with a path.
 *
 * `fromJson` returns a plain object that protobufjs' encoder accepts directly
 * (enums as numbers, Any as {type_url, value: bytes}, maps with sorted keys so
 * the same input always yields the same bytes).
 */
import * as protobuf from "protobufjs";
import { typeForUrl } from "./protos";

export class ProtoJsonError extends Error {
  constructor(
    readonly fieldPath: string,
    readonly reason: string,
  ) {
    super(`${fieldPath || "<root>"}: ${reason}`);
    this.name = "ProtoJsonError";
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Wire = Record<string, unknown>;

const WRAPPERS = new Set([
  "google.protobuf.DoubleValue",
  "google.protobuf.FloatValue",
  "google.protobuf.Int64Value",
  "google.protobuf.UInt64Value",
  "google.protobuf.Int32Value",
  "google.protobuf.UInt32Value",
  "google.protobuf.BoolValue",
  "google.protobuf.StringValue",
  "google.protobuf.BytesValue",
]);

const INT64_TYPES = new Set(["int64", "uint64", "sint64", "fixed64", "sfixed64"]);
const UNSIGNED = new Set(["uint32", "fixed32", "uint64", "fixed64"]);

function fullName(t: protobuf.ReflectionObject): string {
  return t.fullName.startsWith(".") ? t.fullName.slice(1) : t.fullName;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "an object";
  return `${typeof v} ${JSON.stringify(v)}`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

// ---------------------------------------------------------------- durations

const DURATION_RE = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/;
const MAX_DURATION_SECONDS = 315_576_000_000;

/** "1.5s" -> {seconds: 1, nanos: 500000000}; throws on any other form. */
export function parseDuration(text: string, at: string): { seconds: number; nanos: number } {
  const m = DURATION_RE.exec(text);
  if (!m) throw new ProtoJsonError(at, `expected a duration like "0.25s", got ${JSON.stringify(text)}`);
  const sign = m[1] ? -1 : 1;
  const seconds = Number(m[2]);
  if (seconds > MAX_DURATION_SECONDS) throw new ProtoJsonError(at, `duration ${text} is out of range`);
  const nanos = m[3] ? Number(m[3].padEnd(9, "0")) : 0;
  return { seconds: sign * seconds, nanos: sign * nanos };
}

export function formatDuration(seconds: number, nanos: number): string {
  const negative = seconds < 0 || nanos < 0;
  const s = Math.abs(seconds);
  const n = Math.abs(nanos);
  let frac = "";
  if (n !== 0) {
    frac = String(n).padStart(9, "0");
    // proto3 JSON uses 0, 3, 6 or 9 fractional digits.
    if (frac.endsWith("000000")) frac = frac.slice(0, 3);
    else if (frac.endsWith("000")) frac = frac.slice(0, 6);
    frac = "." + frac;
  }
  return `${negative ? "-" : ""}${s}${frac}s`;
}

// ---------------------------------------------------------------- JSON -> wire

/** Convert canonical JSON for `type` into an encoder-ready object; throws ProtoJsonError. */
export function fromJson(type: protobuf.Type, json: unknown, at = ""): Wire {
  const special = wellKnownFromJson(type, json, at);
  if (special !== undefined) return special;
  if (!isPlainObject(json)) throw new ProtoJsonError(at, `expected an object for ${fullName(type)}, got ${describe(json)}`);
  const out: Wire = {};
  const oneofSeen = new Map<string, string>();
  for (const key of Object.keys(json)) {
    const value = json[key];
    const field = fieldByJsonKey(type, key);
    const fieldAt = at ? `${at}.${key}` : key;
    if (!field) throw new ProtoJsonError(fieldAt, `unknown field "${key}" in ${fullName(type)}`);
    if (value === null || value === undefined) continue; // proto3 JSON: null means "not set"
    if (field.partOf) {
      const other = oneofSeen.get(field.partOf.name);
      if (other) throw new ProtoJsonError(fieldAt, `"${other}" and "${field.name}" are both set, but only one of oneof "${field.partOf.name}" may be`);
      oneofSeen.set(field.partOf.name, field.name);
    }
    out[field.name] = fieldFromJson(field, value, fieldAt);
  }
  return out;
}

function fieldByJsonKey(type: protobuf.Type, key: string): protobuf.Field | undefined {
  const direct = type.fields[key];
  if (direct) return direct;
  // Accept lowerCamelCase too, the other spelling proto3 JSON allows.
  return type.fieldsArray.find((f) => camel(f.name) === key);
}

function camel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

function fieldFromJson(field: protobuf.Field, value: unknown, at: string): unknown {
  field.resolve();
  if (field instanceof protobuf.MapField) {
    if (!isPlainObject(value)) throw new ProtoJsonError(at, `expected a map (object), got ${describe(value)}`);
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) out[k] = singleFromJson(field, value[k], `${at}.${k}`);
    return out;
  }
  if (field.repeated) {
    if (!Array.isArray(value)) throw new ProtoJsonError(at, `expected a list, got ${describe(value)}`);
    return value.map((v, i) => singleFromJson(field, v, `${at}[${i}]`));
  }
  return singleFromJson(field, value, at);
}

function singleFromJson(field: protobuf.Field, value: unknown, at: string): unknown {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Type) return fromJson(rt, value, at);
  if (rt instanceof protobuf.Enum) return enumFromJson(rt, value, at);
  return scalarFromJson(field.type, value, at);
}

function enumFromJson(e: protobuf.Enum, value: unknown, at: string): number {
  if (typeof value === "number" && Number.isInteger(value)) return value;
  if (typeof value === "string" && Object.prototype.hasOwnProperty.call(e.values, value)) return e.values[value] as number;
  const names = Object.keys(e.values).join(", ");
  throw new ProtoJsonError(at, `expected one of ${names} (${fullName(e)}), got ${describe(value)}`);
}

function scalarFromJson(kind: string, value: unknown, at: string): unknown {
  switch (kind) {
    case "string":
      if (typeof value !== "string") throw new ProtoJsonError(at, `expected a string, got ${describe(value)}`);
      return value;
    case "bool":
      if (typeof value !== "boolean") throw new ProtoJsonError(at, `expected true or false, got ${describe(value)}`);
      return value;
    case "bytes":
      if (typeof value !== "string") throw new ProtoJsonError(at, `expected base64 bytes, got ${describe(value)}`);
      return Buffer.from(value, "base64");
    case "double":
    case "float":
      if (typeof value === "number") return value;
      if (value === "NaN" || value === "Infinity" || value === "-Infinity") return Number(value);
      if (typeof value === "string" && value.trim() !== "" && !Number.isNaN(Number(value))) return Number(value);
      throw new ProtoJsonError(at, `expected a number, got ${describe(value)}`);
    default:
      return integerFromJson(kind, value, at);
  }
}

function integerFromJson(kind: string, value: unknown, at: string): number | string {
  let text: string;
  if (typeof value === "number") text = String(value);
  else if (typeof value === "string") text = value.trim();
  else throw new ProtoJsonError(at, `expected an integer, got ${describe(value)}`);
  if (!/^-?\d+$/.test(text)) throw new ProtoJsonError(at, `expected an integer, got ${describe(value)}`);
  const big = BigInt(text);
  const bits = INT64_TYPES.has(kind) ? 64n : 32n;
  const unsigned = UNSIGNED.has(kind);
  const min = unsigned ? 0n : -(1n << (bits - 1n));
  const max = unsigned ? (1n << bits) - 1n : (1n << (bits - 1n)) - 1n;
  if (big < min || big > max) throw new ProtoJsonError(at, `${text} is out of range for ${kind}`);
  // Numbers when exact; protobufjs accepts decimal strings for 64-bit values.
  return Number.isSafeInteger(Number(big)) ? Number(big) : big.toString();
}

function wellKnownFromJson(type: protobuf.Type, json: unknown, at: string): Wire | undefined {
  const name = fullName(type);
  if (WRAPPERS.has(name)) {
    if (isPlainObject(json) && Object.keys(json).length === 1 && "value" in json) {
      json = json.value; // tolerate the explicit {value: x} spelling
    }
    return { value: scalarFromJson(type.fields.value!.type, json, at) };
  }
  switch (name) {
    case "google.protobuf.Duration":
      if (typeof json !== "string") throw new ProtoJsonError(at, `expected a duration like "0.25s", got ${describe(json)}`);
      return parseDuration(json, at);
    case "google.protobuf.Timestamp": {
      if (typeof json !== "string") throw new ProtoJsonError(at, `expected an RFC 3339 timestamp, got ${describe(json)}`);
      const ms = Date.parse(json);
      if (Number.isNaN(ms)) throw new ProtoJsonError(at, `expected an RFC 3339 timestamp, got ${describe(json)}`);
      return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
    }
    case "google.protobuf.Any":
      return anyFromJson(json, at);
    case "google.protobuf.Struct":
      if (!isPlainObject(json)) throw new ProtoJsonError(at, `expected an object, got ${describe(json)}`);
      return structFromJson(json, at);
    case "google.protobuf.Value":
      return valueFromJson(json, at);
    case "google.protobuf.ListValue":
      if (!Array.isArray(json)) throw new ProtoJsonError(at, `expected a list, got ${describe(json)}`);
      return { values: json.map((v, i) => valueFromJson(v, `${at}[${i}]`)) };
    case "google.protobuf.FieldMask":
      if (typeof json !== "string") throw new ProtoJsonError(at, `expected a comma-separated field mask, got ${describe(json)}`);
      return { paths: json === "" ? [] : json.split(",") };
    case "google.protobuf.Empty":
      if (!isPlainObject(json) || Object.keys(json).length > 0) throw new ProtoJsonError(at, `expected {}, got ${describe(json)}`);
      return {};
    default:
      return undefined;
  }
}

function structFromJson(json: Record<string, unknown>, at: string): Wire {
  const fields: Record<string, unknown> = {};
  for (const k of Object.keys(json).sort()) fields[k] = valueFromJson(json[k], `${at}.${k}`);
  return { fields };
}

// protobufjs' bundled google.protobuf.Value uses camelCase field names.
function valueFromJson(json: unknown, at: string): Wire {
  if (json === null || json === undefined) return { nullValue: 0 };
  if (typeof json === "number") return { numberValue: json };
  if (typeof json === "string") return { stringValue: json };
  if (typeof json === "boolean") return { boolValue: json };
  if (Array.isArray(json)) return { listValue: { values: json.map((v, i) => valueFromJson(v, `${at}[${i}]`)) } };
  if (isPlainObject(json)) return { structValue: structFromJson(json, at) };
  throw new ProtoJsonError(at, `cannot represent ${describe(json)} as a JSON value`);
}

function anyFromJson(json: unknown, at: string): Wire {
  if (!isPlainObject(json)) throw new ProtoJsonError(at, `expected an object with "@type", got ${describe(json)}`);
  const typeUrl = json["@type"];
  if (typeof typeUrl !== "string" || typeUrl === "") throw new ProtoJsonError(`${at}.@type`, `an Any needs "@type"`);
  const inner = typeForUrl(typeUrl);
  if (!inner) throw new ProtoJsonError(`${at}.@type`, `unknown type ${typeUrl}`);
  const rest: Record<string, unknown> = {};
  for (const k of Object.keys(json)) if (k !== "@type") rest[k] = json[k];
  // Well-known types inside an Any carry their JSON under "value".
  const body = isWellKnown(inner) ? rest.value : rest;
  const wire = fromJson(inner, body, at);
  return { type_url: typeUrl, value: inner.encode(wire).finish() };
}

function isWellKnown(t: protobuf.Type): boolean {
  const name = fullName(t);
  return name.startsWith("google.protobuf.") && (WRAPPERS.has(name) || wellKnownNames.has(name));
}
const wellKnownNames = new Set([
  "google.protobuf.Duration",
  "google.protobuf.Timestamp",
  "google.protobuf.Any",
  "google.protobuf.Struct",
  "google.protobuf.Value",
  "google.protobuf.ListValue",
  "google.protobuf.FieldMask",
  "google.protobuf.Empty",
]);

// ---------------------------------------------------------------- wire -> JSON

/** Decode bytes of `type` into canonical JSON. */
export function decodeToJson(type: protobuf.Type, bytes: Uint8Array): Json {
  return toJson(type, type.decode(bytes) as unknown as Wire);
}

/** A decoded (or encoder-ready) message to canonical JSON: unset and default scalars are omitted. */
export function toJson(type: protobuf.Type, msg: Wire): Json {
  const special = wellKnownToJson(type, msg);
  if (special !== undefined) return special;
  const out: Record<string, Json> = {};
  for (const field of type.fieldsArray) {
    if (!Object.prototype.hasOwnProperty.call(msg, field.name)) continue;
    const value = msg[field.name];
    if (value === null || value === undefined) continue;
    field.resolve();
    if (field instanceof protobuf.MapField) {
      const m = value as Record<string, unknown>;
      const keys = Object.keys(m).sort();
      if (keys.length === 0) continue;
      const o: Record<string, Json> = {};
      for (const k of keys) o[k] = singleToJson(field, m[k]);
      out[field.name] = o;
    } else if (field.repeated) {
      const arr = value as unknown[];
      if (arr.length === 0) continue;
      out[field.name] = arr.map((v) => singleToJson(field, v));
    } else {
      const hasPresence = field.partOf !== null || field.resolvedType instanceof protobuf.Type;
      if (!hasPresence && isDefaultScalar(value)) continue;
      out[field.name] = singleToJson(field, value);
    }
  }
  return out;
}

function isDefaultScalar(v: unknown): boolean {
  if (v === 0 || v === "" || v === false) return true;
  if (v instanceof Uint8Array) return v.length === 0;
  if (typeof v === "object" && v !== null && "low" in v && "high" in v) {
    const l = v as { low: number; high: number };
    return l.low === 0 && l.high === 0;
  }
  return false;
}

function singleToJson(field: protobuf.Field, value: unknown): Json {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Type) return toJson(rt, value as Wire);
  if (rt instanceof protobuf.Enum) return rt.valuesById[value as number] ?? (value as number);
  return scalarToJson(field.type, value);
}

function scalarToJson(kind: string, value: unknown): Json {
  if (kind === "bytes") return Buffer.from(value as Uint8Array).toString("base64");
  if (INT64_TYPES.has(kind)) return longToString(value, kind.startsWith("u") || kind === "fixed64");
  if ((kind === "double" || kind === "float") && typeof value === "number" && !Number.isFinite(value)) return String(value);
  return value as Json;
}

function longToString(v: unknown, unsigned: boolean): string {
  if (typeof v === "number" || typeof v === "string") return String(v);
  const l = v as { low: number; high: number };
  const big = (BigInt(l.high >>> 0) << 32n) | BigInt(l.low >>> 0);
  return (unsigned ? big : BigInt.asIntN(64, big)).toString();
}

function wellKnownToJson(type: protobuf.Type, msg: Wire): Json | undefined {
  const name = fullName(type);
  if (WRAPPERS.has(name)) {
    const f = type.fields.value!;
    return scalarToJson(f.type, msg.value ?? defaultScalar(f.type));
  }
  switch (name) {
    case "google.protobuf.Duration":
      return formatDuration(Number(longToString(msg.seconds ?? 0, false)), Number(msg.nanos ?? 0));
    case "google.protobuf.Timestamp": {
      const ms = Number(longToString(msg.seconds ?? 0, false)) * 1000 + Math.round(Number(msg.nanos ?? 0) / 1e6);
      return new Date(ms).toISOString();
    }
    case "google.protobuf.Any":
      return anyToJson(msg);
    case "google.protobuf.Struct":
      return structToJson(msg);
    case "google.protobuf.Value":
      return valueToJson(msg);
    case "google.protobuf.ListValue":
      return ((msg.values as Wire[]) ?? []).map(valueToJson);
    case "google.protobuf.FieldMask":
      return ((msg.paths as string[]) ?? []).join(",");
    case "google.protobuf.Empty":
      return {};
    default:
      return undefined;
  }
}

function defaultScalar(kind: string): unknown {
  if (kind === "bool") return false;
  if (kind === "string") return "";
  if (kind === "bytes") return new Uint8Array();
  return 0;
}

function structToJson(msg: Wire): Json {
  const fields = (msg.fields as Record<string, Wire>) ?? {};
  const out: Record<string, Json> = {};
  for (const k of Object.keys(fields).sort()) out[k] = valueToJson(fields[k]!);
  return out;
}

function valueToJson(v: Wire): Json {
  const has = (k: string) => Object.prototype.hasOwnProperty.call(v, k) && v[k] != null;
  if (has("structValue")) return structToJson(v.structValue as Wire);
  if (has("listValue")) return (((v.listValue as Wire).values as Wire[] | undefined) ?? []).map(valueToJson);
  if (has("stringValue")) return v.stringValue as string;
  if (has("numberValue")) return v.numberValue as number;
  if (has("boolValue")) return v.boolValue as boolean;
  return null;
}

function anyToJson(msg: Wire): Json {
  const typeUrl = String(msg.type_url ?? "");
  const inner = typeForUrl(typeUrl);
  const bytes = (msg.value as Uint8Array) ?? new Uint8Array();
  if (!inner) return { "@type": typeUrl, value_base64: Buffer.from(bytes).toString("base64") };
  const body = decodeToJson(inner, bytes);
  if (isWellKnown(inner)) return { "@type": typeUrl, value: body };
  return { "@type": typeUrl, ...(body as Record<string, Json>) };
}
