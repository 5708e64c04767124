/**
 * Redaction for anything that shows config to a person or a tool (config_dump,
 * CSDS): every field the Envoy API marks `(udpa.annotations.sensitive)` —
 * private keys, passwords, generic secrets, session ticket keys, HMAC secrets —
 * is replaced by "[redacted]", the way Envoy's own admin /config_dump does.
 * Driven by the proto annotations, not a list of field names, so a Secret type
 * added later (SDS) is covered without touching this file; `Any` fields are
 * opened and redacted inside.
 */
import * as protobuf from "protobufjs";
import { typeForUrl } from "./protos";

export const REDACTED = "[redacted]";
const SENSITIVE = "(udpa.annotations.sensitive)";

type Wire = Record<string, unknown>;

/** Whether a message type can hold a sensitive field (through nested messages or an Any). */
const mayHoldSecrets = new Map<string, boolean>();

function reachesSensitive(type: protobuf.Type, seen = new Set<string>()): boolean {
  const known = mayHoldSecrets.get(type.fullName);
  if (known !== undefined) return known;
  if (seen.has(type.fullName)) return false;
  seen.add(type.fullName);
  let result = false;
  for (const f of type.fieldsArray) {
    f.resolve();
    if (f.options?.[SENSITIVE] === true) result = true;
    else if (f.resolvedType instanceof protobuf.Type) {
      // An Any may carry anything: assume the worst and look inside at run time.
      if (f.resolvedType.fullName === ".google.protobuf.Any" || reachesSensitive(f.resolvedType, seen)) result = true;
    }
    if (result) break;
  }
  mayHoldSecrets.set(type.fullName, result);
  return result;
}

/** Message bytes of `typeUrl` with sensitive fields redacted (the same bytes when there is nothing to redact). */
export function redactBytes(typeUrl: string, bytes: Uint8Array): Uint8Array {
  const type = typeForUrl(typeUrl);
  if (!type || !reachesSensitive(type)) return bytes;
  const msg = type.decode(bytes) as unknown as Wire;
  return redactMessage(type, msg) ? type.encode(msg).finish() : bytes;
}

/** Redacts a decoded message in place; returns whether anything changed. */
function redactMessage(type: protobuf.Type, msg: Wire): boolean {
  let changed = false;
  for (const f of type.fieldsArray) {
    // Decoded messages keep unset fields' defaults on the prototype: only own properties were on the wire.
    if (!Object.prototype.hasOwnProperty.call(msg, f.name)) continue;
    const value = msg[f.name];
    if (value === undefined || value === null) continue;
    f.resolve();
    if (f.options?.[SENSITIVE] === true) {
      msg[f.name] = f.repeated ? (value as unknown[]).map((v) => redactedValue(f, v)) : redactedValue(f, value);
      changed = true;
      continue;
    }
    if (!(f.resolvedType instanceof protobuf.Type)) continue;
    const inner = f.resolvedType;
    const items = f.repeated ? (value as Wire[]) : f.map ? Object.values(value as Record<string, Wire>) : [value as Wire];
    for (const item of items) changed = redactNested(inner, item) || changed;
  }
  return changed;
}

function redactNested(type: protobuf.Type, msg: Wire): boolean {
  if (type.fullName === ".google.protobuf.Any") {
    const url = String(msg.type_url ?? "");
    const bytes = msg.value as Uint8Array | undefined;
    if (!bytes) return false;
    const redacted = redactBytes(url, bytes);
    if (redacted === bytes) return false;
    msg.value = redacted;
    return true;
  }
  if (!reachesSensitive(type)) return false;
  return redactMessage(type, msg);
}

/**
 * As Envoy's MessageUtil::redact does: a sensitive string or bytes field
 * becomes "[redacted]"; a sensitive message keeps its shape with every string
 * and bytes inside it "[redacted]" (a DataSource's inline_string,
 * inline_bytes, even filename). Matching Envoy exactly lets `proxy-status`
 * compare a redacted dump with Envoy's own.
 */
function redactedValue(f: protobuf.Field, value: unknown): unknown {
  if (f.resolvedType instanceof protobuf.Type) return redactAll(f.resolvedType, value as Wire);
  if (f.type === "bytes") return Buffer.from(REDACTED);
  if (f.type === "string") return REDACTED;
  return value;
}

function redactAll(type: protobuf.Type, msg: Wire): Wire {
  const out: Wire = {};
  for (const f of type.fieldsArray) {
    // Decoded messages keep unset fields' defaults on the prototype: only own properties were on the wire.
    if (!Object.prototype.hasOwnProperty.call(msg, f.name)) continue;
    const value = msg[f.name];
    if (value === undefined || value === null) continue;
    f.resolve();
    out[f.name] = f.repeated ? (value as unknown[]).map((v) => redactedValue(f, v)) : redactedValue(f, value);
  }
  return out;
}
