/**
 * protoc-gen-validate (PGV) constraints, checked the way Envoy checks them.
 *
 * Envoy refuses (NACKs, or fails to start on) any config that breaks a
 * `(validate.rules)` option in its protos: an empty cluster name, a route with
 * no action, `connect_timeout: 0s`. Those rules live in the .proto files we load
 * anyway, so instead of re-stating them by hand this module reads them through
 * protobufjs reflection (`field.parsedOptions`) and applies them to an
 * encoder-ready object (the output of `fromJson`) or a decoded message.
 *
 * `checkRules` returns one line per violation, `<field path>: <what is wrong>`,
 * with the same path spelling as `fromJson` errors (`a.b[0].c`, map keys as
 * `.key`). Any fields are decoded by type URL and checked too; an Any whose type
 * is not loaded is skipped (fromJson already refuses those).
 *
 * Semantics follow PGV's C++ validators, which are what Envoy runs: rules on an
 * unset message/wrapper/oneof field do not apply (except `required`), scalar
 * rules on plain proto3 fields apply to the default value, `strict: false` header
 * regexes only refuse NUL, CR and LF.
 */
import * as net from "node:net";
import * as protobuf from "protobufjs";
import { RE2 } from "re2-wasm";
import { typeForUrl } from "./protos";
import { formatDuration } from "./json";

type Obj = Record<string, unknown>;
type Rules = Record<string, unknown>;

const INTEGER_KINDS = new Set(["int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32", "fixed64", "sfixed32", "sfixed64"]);
const NUMERIC_KINDS = new Set([...INTEGER_KINDS, "float", "double"]);
const WRAPPER_KIND: Record<string, string> = {
  "google.protobuf.DoubleValue": "double",
  "google.protobuf.FloatValue": "float",
  "google.protobuf.Int64Value": "int64",
  "google.protobuf.UInt64Value": "uint64",
  "google.protobuf.Int32Value": "int32",
  "google.protobuf.UInt32Value": "uint32",
  "google.protobuf.BoolValue": "bool",
  "google.protobuf.StringValue": "string",
  "google.protobuf.BytesValue": "bytes",
};

/** Check every PGV rule reachable from `msg` (a `fromJson` result or a decoded message). */
export function checkRules(type: protobuf.Type, msg: unknown, at = ""): string[] {
  const out: string[] = [];
  visitMessage(type, msg, at, out);
  return out;
}

// ---------------------------------------------------------------- reading the options

interface FieldPlan {
  field: protobuf.Field;
  rules: Rules | undefined;
  /** Walk into the value: its type (or an Any) can hold rules. */
  recurse: boolean;
}

interface TypePlan {
  skip: boolean;
  fields: FieldPlan[];
  requiredOneofs: protobuf.OneOf[];
}

const plans = new Map<protobuf.Type, TypePlan>();
const reachesRules = new Map<protobuf.Type, boolean>();

function typeName(t: protobuf.ReflectionObject): string {
  return t.fullName.startsWith(".") ? t.fullName.slice(1) : t.fullName;
}

/**
 * Rules the loaded protos (the API snapshot `@grpc/grpc-js-xds` ships) still
 * have but the Envoy we target dropped: checking them would refuse config that
 * Envoy takes and istiod sends (`envoy --mode validate` is the judge).
 */
const DROPPED_IN_NEWER_ENVOY = new Set([
  // istiod's c-ares resolver config sets only udp_max_queries; Envoy 1.40 lets resolvers be empty.
  "envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig.resolvers",
]);

/** `(validate.rules)` of a field as one nested object, from either options spelling. */
function fieldRules(field: protobuf.Field): Rules | undefined {
  if (DROPPED_IN_NEWER_ENVOY.has(typeName(field))) return undefined;
  let merged: unknown;
  const add = (path: string[], value: unknown): void => {
    let nested = value;
    for (const key of [...path].reverse()) nested = { [key]: nested };
    merged = deepMerge(merged, nested);
  };
  const PREFIX = "(validate.rules)";
  for (const entry of parsedOptions(field)) {
    for (const [key, value] of Object.entries(entry as Obj)) {
      if (key === PREFIX) add([], value);
      else if (key.startsWith(PREFIX + ".")) add(key.slice(PREFIX.length + 1).split("."), value);
    }
  }
  if (merged === undefined && field.options) {
    // Only the flattened spelling is there (e.g. a Root built without parsedOptions).
    for (const [key, value] of Object.entries(field.options)) {
      if (key.startsWith(PREFIX + ".")) add(key.slice(PREFIX.length + 1).split("."), value);
    }
  }
  return isObj(merged) ? merged : undefined;
}

/** Options can repeat a rule block (`[(validate.rules).string.min_len = 1, (validate.rules).string.max_bytes = 9]`). */
function deepMerge(a: unknown, b: unknown): unknown {
  if (!isObj(a) || !isObj(b)) return b;
  const out: Obj = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = deepMerge(out[k], v);
  return out;
}

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** protobufjs types `parsedOptions` loosely; at run time it is a list of one-key objects. */
function parsedOptions(obj: { parsedOptions?: unknown }): Obj[] {
  return Array.isArray(obj.parsedOptions) ? (obj.parsedOptions as Obj[]) : [];
}

function optionTrue(obj: protobuf.ReflectionObject | protobuf.OneOf, name: string): boolean {
  if (obj.options?.[name] === true) return true;
  return parsedOptions(obj).some((o) => o[name] === true);
}

function planFor(type: protobuf.Type): TypePlan {
  let plan = plans.get(type);
  if (plan) return plan;
  const skip = optionTrue(type, "(validate.disabled)") || optionTrue(type, "(validate.ignored)");
  const fields: FieldPlan[] = [];
  for (const field of type.fieldsArray) {
    field.resolve();
    const rules = fieldRules(field);
    const rt = field.resolvedType;
    const recurse = rt instanceof protobuf.Type && !isSkipped(rules, field) && typeReachesRules(rt);
    if (rules || recurse) fields.push({ field, rules, recurse });
  }
  const requiredOneofs = type.oneofsArray.filter((o) => optionTrue(o, "(validate.required)"));
  plan = { skip, fields, requiredOneofs };
  plans.set(type, plan);
  return plan;
}

function isSkipped(rules: Rules | undefined, field: protobuf.Field): boolean {
  if (!rules) return false;
  const elem = field.map ? (rules.map as Rules | undefined)?.values : field.repeated ? (rules.repeated as Rules | undefined)?.items : rules;
  return ((elem as Rules | undefined)?.message as Rules | undefined)?.skip === true;
}

/** Whether any rule (or an Any, whose contents may have rules) is reachable from `type`. */
function typeReachesRules(type: protobuf.Type): boolean {
  const known = reachesRules.get(type);
  if (known !== undefined) return known;
  const seen = new Set<protobuf.Type>();
  const stack = [type];
  let found = false;
  while (stack.length && !found) {
    const t = stack.pop()!;
    if (seen.has(t)) continue;
    seen.add(t);
    if (reachesRules.get(t) === true || typeName(t) === "google.protobuf.Any") found = true;
    else if (t.oneofsArray.some((o) => optionTrue(o, "(validate.required)"))) found = true;
    else {
      for (const f of t.fieldsArray) {
        f.resolve();
        if (fieldRules(f)) found = true;
        if (f.resolvedType instanceof protobuf.Type && !seen.has(f.resolvedType)) stack.push(f.resolvedType);
      }
    }
  }
  // "Yes" holds for the root only (the search stopped early); "no" holds for
  // every type it reached, since all of them were searched.
  reachesRules.set(type, found);
  if (!found) for (const t of seen) reachesRules.set(t, false);
  return found;
}

// ---------------------------------------------------------------- walking values

function has(msg: Obj, name: string): boolean {
  return Object.prototype.hasOwnProperty.call(msg, name) && msg[name] !== null && msg[name] !== undefined;
}

function join(at: string, name: string): string {
  return at ? `${at}.${name}` : name;
}

function visitMessage(type: protobuf.Type, msg: unknown, at: string, out: string[]): void {
  if (!isObj(msg)) return;
  if (typeName(type) === "google.protobuf.Any") return visitAny(msg, at, out);
  const plan = planFor(type);
  if (plan.skip) return;
  for (const oneof of plan.requiredOneofs) {
    if (!oneof.oneof.some((name) => has(msg, name))) {
      out.push(`${join(at, oneof.name)}: value is required: set one of ${oneof.oneof.join(", ")}`);
    }
  }
  for (const { field, rules, recurse } of plan.fields) {
    const present = has(msg, field.name);
    // PGV: nothing applies to a oneof member (or proto3 optional) that is not set.
    if (field.partOf && !present) continue;
    const fat = join(at, field.name);
    const value = msg[field.name];
    if (field.map) visitMap(field, rules, present ? (value as Obj) : {}, fat, recurse, out);
    else if (field.repeated) visitRepeated(field, rules, present ? (value as unknown[]) : [], fat, recurse, out);
    else {
      if (rules) checkSingle(field, rules, value, present, fat, out);
      if (recurse && present) visitMessage(field.resolvedType as protobuf.Type, value, fat, out);
    }
  }
}

function visitAny(msg: Obj, at: string, out: string[]): void {
  const typeUrl = typeof msg.type_url === "string" ? msg.type_url : "";
  const inner = typeUrl ? typeForUrl(typeUrl) : undefined;
  if (!inner) return;
  const bytes = msg.value instanceof Uint8Array ? msg.value : new Uint8Array();
  let decoded: unknown;
  try {
    decoded = inner.decode(bytes);
  } catch (e) {
    out.push(`${at || "<root>"}: cannot decode ${typeUrl}: ${(e as Error).message}`);
    return;
  }
  visitMessage(inner, decoded, at, out);
}

function visitRepeated(field: protobuf.Field, rules: Rules | undefined, items: unknown[], at: string, recurse: boolean, out: string[]): void {
  const r = rules?.repeated as Rules | undefined;
  if (r && !(r.ignore_empty === true && items.length === 0)) {
    if (r.min_items !== undefined && items.length < num(r.min_items)) out.push(`${at}: value must contain at least ${num(r.min_items)} item(s)`);
    if (r.max_items !== undefined && items.length > num(r.max_items)) out.push(`${at}: value must contain no more than ${num(r.max_items)} item(s)`);
    if (r.unique === true) {
      const seen = new Set<string>();
      for (const item of items) {
        const key = uniqueKey(item);
        if (seen.has(key)) {
          out.push(`${at}: repeated value must contain unique items`);
          break;
        }
        seen.add(key);
      }
    }
  }
  const itemRules = r?.items as Rules | undefined;
  items.forEach((item, i) => {
    const iat = `${at}[${i}]`;
    if (itemRules) checkSingle(field, itemRules, item, true, iat, out);
    if (recurse) visitMessage(field.resolvedType as protobuf.Type, item, iat, out);
  });
}

function visitMap(field: protobuf.Field, rules: Rules | undefined, entries: Obj, at: string, recurse: boolean, out: string[]): void {
  const r = rules?.map as Rules | undefined;
  const keys = Object.keys(entries).sort();
  if (r && !(r.ignore_empty === true && keys.length === 0)) {
    if (r.min_pairs !== undefined && keys.length < num(r.min_pairs)) out.push(`${at}: value must contain at least ${num(r.min_pairs)} pair(s)`);
    if (r.max_pairs !== undefined && keys.length > num(r.max_pairs)) out.push(`${at}: value must contain no more than ${num(r.max_pairs)} pair(s)`);
  }
  const keyKind = (field as unknown as protobuf.MapField).keyType;
  for (const k of keys) {
    const kat = `${at}.${k}`;
    const keyRules = (r?.keys as Rules | undefined)?.[keyKind] as Rules | undefined;
    if (keyRules) checkScalar(keyKind, keyRules, keyKind === "bool" ? k === "true" : k, `${at} key ${JSON.stringify(k)}`, out);
    const value = entries[k];
    if (r?.no_sparse === true && (value === null || value === undefined)) out.push(`${kat}: map values cannot be unset`);
    const valueRules = r?.values as Rules | undefined;
    if (valueRules) checkSingle(field, valueRules, value, value !== null && value !== undefined, kat, out);
    if (recurse) visitMessage(field.resolvedType as protobuf.Type, value, kat, out);
  }
}

// ---------------------------------------------------------------- one value

function checkSingle(field: protobuf.Field, rules: Rules, value: unknown, present: boolean, at: string, out: string[]): void {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Type) {
    const name = typeName(rt);
    const m = rules.message as Rules | undefined;
    if (m?.required === true && !present) out.push(`${at}: value is required`);
    if (name === "google.protobuf.Duration") return checkTime(rules.duration as Rules | undefined, value, present, at, out, "duration");
    if (name === "google.protobuf.Timestamp") return checkTime(rules.timestamp as Rules | undefined, value, present, at, out, "timestamp");
    if (name === "google.protobuf.Any") return checkAnyRules(rules.any as Rules | undefined, value, present, at, out);
    const kind = WRAPPER_KIND[name];
    if (kind && present && isObj(value)) {
      const r = rules[kind] as Rules | undefined;
      if (r) checkScalar(kind, r, value.value ?? scalarDefault(kind), at, out);
    }
    return;
  }
  if (rt instanceof protobuf.Enum) {
    const r = rules.enum as Rules | undefined;
    if (r) checkEnum(rt, r, present ? value : 0, at, out);
    return;
  }
  const r = rules[field.type] as Rules | undefined;
  if (r) checkScalar(field.type, r, present ? value : scalarDefault(field.type), at, out);
}

function scalarDefault(kind: string): unknown {
  if (kind === "string") return "";
  if (kind === "bool") return false;
  if (kind === "bytes") return new Uint8Array();
  return 0;
}

function checkEnum(e: protobuf.Enum, r: Rules, raw: unknown, at: string, out: string[]): void {
  const value = typeof raw === "string" ? (e.values[raw] ?? NaN) : Number(raw);
  const nameOf = (n: number): string => e.valuesById[n] ?? String(n);
  if (r.const !== undefined && value !== enumNum(e, r.const)) out.push(`${at}: value must equal ${nameOf(enumNum(e, r.const))}`);
  if (r.defined_only === true && e.valuesById[value] === undefined) out.push(`${at}: value must be one of the defined enum values, got ${String(raw)}`);
  const inList = list(r.in).map((x) => enumNum(e, x));
  if (inList.length && !inList.includes(value)) out.push(`${at}: value must be in list [${inList.map(nameOf).join(", ")}]`);
  const notIn = list(r.not_in).map((x) => enumNum(e, x));
  if (notIn.includes(value)) out.push(`${at}: value must not be ${nameOf(value)}`);
}

function enumNum(e: protobuf.Enum, x: unknown): number {
  return typeof x === "string" ? (e.values[x] ?? NaN) : Number(x);
}

function checkScalar(kind: string, r: Rules, value: unknown, at: string, out: string[]): void {
  if (NUMERIC_KINDS.has(kind)) return checkNumber(kind, r, value, at, out);
  if (kind === "bool") {
    if (r.const !== undefined && value !== r.const) out.push(`${at}: value must equal ${String(r.const)}`);
    return;
  }
  if (kind === "string") return checkString(r, typeof value === "string" ? value : String(value ?? ""), at, out);
  if (kind === "bytes") return checkBytes(r, value instanceof Uint8Array ? value : new Uint8Array(), at, out);
}

// ---------------------------------------------------------------- numbers, durations

type Num = bigint | number;

function toBig(v: unknown): bigint {
  if (typeof v === "bigint") return v;
  if (typeof v === "number") return BigInt(Math.trunc(v));
  if (typeof v === "string") return BigInt(v.trim() || "0");
  if (isObj(v) && typeof (v as { toString?: unknown }).toString === "function") return BigInt(String(v)); // Long
  return 0n;
}

function num(v: unknown): number {
  return Number(v);
}

function list(v: unknown): unknown[] {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

/**
 * const / lt / lte / gt / gte / in / not_in, shared by numbers, durations and
 * timestamps. When the lower bound is above the upper one PGV reads the pair as
 * an exclusive range ("outside [a, b]").
 */
function checkOrdered(r: Rules, value: Num, conv: (x: unknown) => Num, show: (x: Num) => string, at: string, out: string[]): void {
  const eq = (a: Num, b: Num): boolean => a === b;
  if (r.const !== undefined && !eq(value, conv(r.const))) out.push(`${at}: value must equal ${show(conv(r.const))}`);
  const lo = r.gt !== undefined ? { v: conv(r.gt), strict: true } : r.gte !== undefined ? { v: conv(r.gte), strict: false } : undefined;
  const hi = r.lt !== undefined ? { v: conv(r.lt), strict: true } : r.lte !== undefined ? { v: conv(r.lte), strict: false } : undefined;
  const above = lo ? (lo.strict ? value > lo.v : value >= lo.v) : true;
  const below = hi ? (hi.strict ? value < hi.v : value <= hi.v) : true;
  if (lo && hi) {
    const l = `${lo.strict ? "(" : "["}${show(lo.v)}`;
    const h = `${show(hi.v)}${hi.strict ? ")" : "]"}`;
    if (lo.v <= hi.v) {
      if (!(above && below)) out.push(`${at}: value must be inside range ${l}, ${h}`);
    } else if (!(above || below)) {
      out.push(`${at}: value must be ${lo.strict ? "greater than" : "at least"} ${show(lo.v)} or ${hi.strict ? "less than" : "at most"} ${show(hi.v)}`);
    }
  } else if (lo && !above) {
    out.push(`${at}: value must be greater than ${lo.strict ? "" : "or equal to "}${show(lo.v)}`);
  } else if (hi && !below) {
    out.push(`${at}: value must be less than ${hi.strict ? "" : "or equal to "}${show(hi.v)}`);
  }
  const inList = list(r.in).map(conv);
  if (inList.length && !inList.some((x) => eq(x, value))) out.push(`${at}: value must be in list [${inList.map(show).join(", ")}]`);
  const notIn = list(r.not_in).map(conv);
  if (notIn.some((x) => eq(x, value))) out.push(`${at}: value must not be in list [${notIn.map(show).join(", ")}]`);
}

function checkNumber(kind: string, r: Rules, value: unknown, at: string, out: string[]): void {
  const isInt = INTEGER_KINDS.has(kind);
  if (r.ignore_empty === true && (isInt ? toBigSafe(value) === 0n : Number(value) === 0)) return;
  if (isInt) {
    checkOrdered(r, toBig(value), toBig, String, at, out);
  } else {
    checkOrdered(r, Number(value), Number, (x) => String(x), at, out);
  }
}

function toBigSafe(v: unknown): bigint | undefined {
  try {
    return toBig(v);
  } catch {
    return undefined;
  }
}

/** Durations and timestamps as nanoseconds; an empty rule object (`gt {}`) is zero. */
function toNanos(v: unknown): bigint {
  if (!isObj(v)) return 0n;
  return toBig(v.seconds ?? 0) * 1_000_000_000n + toBig(v.nanos ?? 0);
}

function showDuration(n: Num): string {
  const b = BigInt(n);
  return formatDuration(Number(b / 1_000_000_000n), Number(b % 1_000_000_000n));
}

function showTimestamp(n: Num): string {
  return new Date(Number(BigInt(n) / 1_000_000n)).toISOString();
}

function checkTime(r: Rules | undefined, value: unknown, present: boolean, at: string, out: string[], kind: "duration" | "timestamp"): void {
  if (!r) return;
  if (r.required === true && !present) out.push(`${at}: value is required`);
  if (!present) return;
  const show = kind === "duration" ? showDuration : showTimestamp;
  const nanos = toNanos(value);
  checkOrdered(r, nanos, toNanos, show, at, out);
  if (kind === "timestamp") {
    const now = BigInt(Date.now()) * 1_000_000n;
    const within = r.within !== undefined ? toNanos(r.within) : undefined;
    if (r.lt_now === true && !(nanos < now)) out.push(`${at}: value must be in the past`);
    if (r.gt_now === true && !(nanos > now)) out.push(`${at}: value must be in the future`);
    if (within !== undefined && (nanos - now > within || now - nanos > within)) out.push(`${at}: value must be within ${showDuration(within)} of now`);
  }
}

function checkAnyRules(r: Rules | undefined, value: unknown, present: boolean, at: string, out: string[]): void {
  if (!r) return;
  if (r.required === true && !present) out.push(`${at}: value is required`);
  if (!present || !isObj(value)) return;
  const url = String(value.type_url ?? "");
  const inList = list(r.in).map(String);
  if (inList.length && !inList.includes(url)) out.push(`${at}: type URL must be in list [${inList.join(", ")}]`);
  if (list(r.not_in).map(String).includes(url)) out.push(`${at}: type URL must not be ${url}`);
}

// ---------------------------------------------------------------- strings, bytes

/** PGV's header regexes; `strict: false` relaxes both to "no NUL, CR or LF". */
const HEADER_NAME = /^:?[0-9a-zA-Z!#$%&'*+-.^_|~`]+$/;
// eslint-disable-next-line no-control-regex
const HEADER_VALUE = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;
// eslint-disable-next-line no-control-regex
const HEADER_LOOSE = /^[^\u0000\u000A\u000D]*$/;
const HOSTNAME = /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

const re2Cache = new Map<string, RE2>();

/** PGV patterns are RE2 (Go/C++), not JS regular expressions. */
function re2(pattern: string): RE2 {
  let re = re2Cache.get(pattern);
  if (!re) {
    re = new RE2(pattern, "u");
    re2Cache.set(pattern, re);
  }
  return re;
}

function checkString(r: Rules, s: string, at: string, out: string[]): void {
  if (r.ignore_empty === true && s === "") return;
  const chars = [...s].length;
  const bytes = Buffer.byteLength(s, "utf8");
  const q = JSON.stringify;
  if (r.const !== undefined && s !== r.const) out.push(`${at}: value must equal ${q(r.const)}`);
  if (r.len !== undefined && chars !== num(r.len)) out.push(`${at}: value length must be ${num(r.len)} characters`);
  if (r.min_len !== undefined && chars < num(r.min_len)) out.push(`${at}: value length must be at least ${num(r.min_len)} characters`);
  if (r.max_len !== undefined && chars > num(r.max_len)) out.push(`${at}: value length must be at most ${num(r.max_len)} characters`);
  if (r.len_bytes !== undefined && bytes !== num(r.len_bytes)) out.push(`${at}: value length must be ${num(r.len_bytes)} bytes`);
  if (r.min_bytes !== undefined && bytes < num(r.min_bytes)) out.push(`${at}: value length must be at least ${num(r.min_bytes)} bytes`);
  if (r.max_bytes !== undefined && bytes > num(r.max_bytes)) out.push(`${at}: value length must be at most ${num(r.max_bytes)} bytes`);
  if (typeof r.pattern === "string" && !re2(r.pattern).test(s)) out.push(`${at}: value does not match regex pattern ${q(r.pattern)}`);
  if (typeof r.prefix === "string" && !s.startsWith(r.prefix)) out.push(`${at}: value does not have prefix ${q(r.prefix)}`);
  if (typeof r.suffix === "string" && !s.endsWith(r.suffix)) out.push(`${at}: value does not have suffix ${q(r.suffix)}`);
  if (typeof r.contains === "string" && !s.includes(r.contains)) out.push(`${at}: value does not contain substring ${q(r.contains)}`);
  if (typeof r.not_contains === "string" && s.includes(r.not_contains)) out.push(`${at}: value contains substring ${q(r.not_contains)}`);
  const inList = list(r.in).map(String);
  if (inList.length && !inList.includes(s)) out.push(`${at}: value must be in list [${inList.map((x) => q(x)).join(", ")}]`);
  if (list(r.not_in).map(String).includes(s)) out.push(`${at}: value must not be ${q(s)}`);
  const wk = wellKnownString(r, s);
  if (wk) out.push(`${at}: ${wk}, got ${q(s)}`);
}

/** The `well_known` oneof of StringRules; returns what is wrong, if anything. */
function wellKnownString(r: Rules, s: string): string | undefined {
  if (r.well_known_regex !== undefined) {
    const strict = r.strict !== false;
    const which = String(r.well_known_regex);
    if (which === "HTTP_HEADER_NAME" || which === "1") {
      if (!(strict ? HEADER_NAME : HEADER_LOOSE).test(s)) return strict ? "value must be a valid HTTP header name" : "value must not contain NUL, CR or LF";
    } else if (which === "HTTP_HEADER_VALUE" || which === "2") {
      if (!(strict ? HEADER_VALUE : HEADER_LOOSE).test(s)) return strict ? "value must be a valid HTTP header value" : "value must not contain NUL, CR or LF";
    }
    return undefined;
  }
  if (r.email === true && !/^[^@\s]+@[^@\s]+$/.test(s)) return "value must be a valid email address";
  if (r.hostname === true && !HOSTNAME.test(s)) return "value must be a valid hostname";
  if (r.ip === true && net.isIP(s) === 0) return "value must be a valid IP address";
  if (r.ipv4 === true && !net.isIPv4(s)) return "value must be a valid IPv4 address";
  if (r.ipv6 === true && !net.isIPv6(s)) return "value must be a valid IPv6 address";
  if (r.address === true && net.isIP(s) === 0 && !HOSTNAME.test(s)) return "value must be a valid hostname or IP address";
  if (r.uuid === true && !UUID.test(s)) return "value must be a valid UUID";
  if (r.uri === true && !isAbsoluteUri(s)) return "value must be an absolute URI";
  if (r.uri_ref === true && /\s/.test(s)) return "value must be a valid URI reference";
  return undefined;
}

function isAbsoluteUri(s: string): boolean {
  try {
    return new URL(s).protocol !== "";
  } catch {
    return false;
  }
}

function checkBytes(r: Rules, b: Uint8Array, at: string, out: string[]): void {
  if (r.ignore_empty === true && b.length === 0) return;
  const buf = Buffer.from(b);
  const asBytes = (x: unknown): Buffer => (x instanceof Uint8Array ? Buffer.from(x) : Buffer.from(String(x), "utf8"));
  if (r.const !== undefined && !buf.equals(asBytes(r.const))) out.push(`${at}: value must equal the configured bytes`);
  if (r.len !== undefined && buf.length !== num(r.len)) out.push(`${at}: value length must be ${num(r.len)} bytes`);
  if (r.min_len !== undefined && buf.length < num(r.min_len)) out.push(`${at}: value length must be at least ${num(r.min_len)} bytes`);
  if (r.max_len !== undefined && buf.length > num(r.max_len)) out.push(`${at}: value length must be at most ${num(r.max_len)} bytes`);
  if (typeof r.pattern === "string" && !re2(r.pattern).test(buf.toString("utf8")))
    out.push(`${at}: value does not match regex pattern ${JSON.stringify(r.pattern)}`);
  if (r.prefix !== undefined && !buf.subarray(0, asBytes(r.prefix).length).equals(asBytes(r.prefix)))
    out.push(`${at}: value does not have the required prefix`);
  if (r.suffix !== undefined && !buf.subarray(buf.length - asBytes(r.suffix).length).equals(asBytes(r.suffix)))
    out.push(`${at}: value does not have the required suffix`);
  if (r.contains !== undefined && buf.indexOf(asBytes(r.contains)) < 0) out.push(`${at}: value does not contain the required bytes`);
  const inList = list(r.in).map(asBytes);
  if (inList.length && !inList.some((x) => x.equals(buf))) out.push(`${at}: value must be in the configured list`);
  if (
    list(r.not_in)
      .map(asBytes)
      .some((x) => x.equals(buf))
  )
    out.push(`${at}: value must not be in the configured list`);
  if (r.ip === true && buf.length !== 4 && buf.length !== 16) out.push(`${at}: value must be a valid IP address (4 or 16 bytes)`);
  if (r.ipv4 === true && buf.length !== 4) out.push(`${at}: value must be a valid IPv4 address (4 bytes)`);
  if (r.ipv6 === true && buf.length !== 16) out.push(`${at}: value must be a valid IPv6 address (16 bytes)`);
}

function uniqueKey(item: unknown): string {
  if (item instanceof Uint8Array) return "b:" + Buffer.from(item).toString("base64");
  if (isObj(item) && !("low" in item)) return "o:" + JSON.stringify(item);
  return `${typeof item}:${String(item)}`;
}
