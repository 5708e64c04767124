/**
 * A resource encoded once: the message bytes, its Any, and the pre-framed pieces a
 * SotW or delta response is concatenated from. Every stream that sends this
 * version of the resource reuses these bytes.
 */
import { createHash } from "node:crypto";
import { fromJson, decodeToJson } from "./json";
import { messageType } from "./protos";
import { NAME_FIELD, SECRET, XdsTypeUrl, messageName } from "./types";
import { frameBytes, frameString } from "./wire";

export interface EncodedResource {
  readonly typeUrl: XdsTypeUrl;
  readonly name: string;
  /** Content hash of the message bytes: same bytes, same version. */
  readonly version: string;
  readonly bytes: Uint8Array;
  /** `resources` entry (field 2) of a DiscoveryResponse: framed Any. */
  readonly sotwFrame: Buffer;
  /** `resources` entry (field 2) of a DeltaDiscoveryResponse: framed Resource{name, version, resource}. */
  readonly deltaFrame: Buffer;
}

/**
 * Encode a resource given in canonical JSON. Throws ProtoJsonError (with the
 * field path) when the object does not fit the proto.
 */
export function encodeResource(typeUrl: XdsTypeUrl, json: unknown): EncodedResource {
  const type = messageType(messageName(typeUrl));
  const wire = fromJson(type, json);
  const bytes = type.encode(wire).finish();
  const name = String(wire[NAME_FIELD[typeUrl]] ?? "");
  return fromBytes(typeUrl, name, bytes);
}

/** Wrap already-encoded message bytes (e.g. from a benchmark dump). */
export function fromBytes(typeUrl: XdsTypeUrl, name: string, bytes: Uint8Array): EncodedResource {
  const version = createHash("sha256").update(bytes).digest("hex").slice(0, 16);
  const any = Buffer.concat([frameString(1, typeUrl), frameBytes(2, bytes)]);
  const resource = Buffer.concat([frameString(1, version), frameBytes(2, any), frameString(3, name)]);
  return {
    typeUrl,
    name,
    version,
    bytes,
    sotwFrame: frameBytes(2, any),
    deltaFrame: frameBytes(2, resource),
  };
}

/** Canonical JSON of an encoded resource (config_dump, translate, tests). */
export function resourceToJson(r: EncodedResource): unknown {
  return decodeToJson(messageType(messageName(r.typeUrl)), r.bytes);
}

/** Fields that hold key material: shown as "[redacted]", as Envoy's own config_dump hides them. */
const SENSITIVE_FIELDS = new Set(["private_key", "password"]);

/**
 * Canonical JSON for people to read (/debug/config_dump): an SDS Secret's
 * private key (and key password) replaced by "[redacted]". Only the Secret
 * type carries key material; other types are returned as they are.
 */
export function resourceToRedactedJson(r: EncodedResource): unknown {
  const json = resourceToJson(r);
  return r.typeUrl === SECRET ? redact(json) : json;
}

function redact(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(redact);
  if (typeof v !== "object" || v === null) return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, SENSITIVE_FIELDS.has(k) ? "[redacted]" : redact(x)]));
}
