/**
 * DiscoveryRequest / DeltaDiscoveryRequest bytes to the stream's request shape.
 */
import { messageType } from "../xds/protos";
import { toJson } from "../xds/json";
import { NodeInfo } from "../cache/snapshot-cache";
import { Mode, XdsRequest } from "./stream";
import { NAMES_PER_STEP } from "./should-respond";
import type { Steps } from "../util/steps";

type Decoded = Record<string, unknown>;

/**
 * Decode a request of either variant. `withNode` false skips `node` (Envoy
 * repeats it on every SotW request; only the first one's counts), so its
 * metadata is converted once per stream, not once per ACK.
 */
export function decodeRequest(mode: Mode, bytes: Buffer, withNode = true): XdsRequest {
  const type = messageType(mode === "sotw" ? "envoy.service.discovery.v3.DiscoveryRequest" : "envoy.service.discovery.v3.DeltaDiscoveryRequest");
  return fromDecoded(mode, type.decode(bytes) as unknown as Decoded, bytes, withNode);
}

/** Requests naming more resources than this have their names decoded in steps (`decodeRequestInSteps`). */
export const DECODE_NAMES_IN_STEPS_ABOVE = NAMES_PER_STEP;

/**
 * A request whose names are decoded in steps: everything but the names is
 * decoded now (node, type, nonce, error), and `names` fills the request's
 * name lists NAMES_PER_STEP at a time, so decoding 100,000 names (~20 ms in
 * one go with protobufjs) runs in the stream's slices like the rest of its
 * work. The request's name lists are empty until `names` has run to the end.
 * Throws, as decodeRequest does, on bytes that are not a message.
 */
export function decodeRequestInSteps(mode: Mode, bytes: Buffer, withNode = true): { request: XdsRequest; names: Steps<void> } {
  const type = messageType(mode === "sotw" ? "envoy.service.discovery.v3.DiscoveryRequest" : "envoy.service.discovery.v3.DeltaDiscoveryRequest");
  const nameFields = mode === "sotw" ? SOTW_NAME_FIELDS : DELTA_NAME_FIELDS;
  const rest: Uint8Array[] = [];
  const names: { field: number; start: number; end: number }[] = [];
  walkTopLevel(bytes, (field, start, end, tagStart) => {
    if (nameFields.has(field)) names.push({ field, start, end });
    else rest.push(bytes.subarray(tagStart, end));
  });
  const request = fromDecoded(mode, type.decode(Buffer.concat(rest)) as unknown as Decoded, bytes, withNode);
  return { request, names: fillNames(mode, bytes, names, request) };
}

function* fillNames(mode: Mode, bytes: Buffer, fields: { field: number; start: number; end: number }[], request: XdsRequest): Steps<void> {
  const sotw: string[] = [];
  const subscribe: string[] = [];
  const unsubscribe: string[] = [];
  const initial: Record<string, string> = {};
  for (let i = 0; i < fields.length; i++) {
    const { field, start, end } = fields[i]!;
    if (mode === "sotw") sotw.push(bytes.toString("utf8", start, end));
    else if (field === 3) subscribe.push(bytes.toString("utf8", start, end));
    else if (field === 4) unsubscribe.push(bytes.toString("utf8", start, end));
    else {
      // A map entry: key (1) and value (2), both strings; the last of a repeated key wins, as in a decoded map.
      let key = "";
      let value = "";
      const entry = bytes.subarray(start, end);
      walkTopLevel(entry, (f, s, e) => {
        if (f === 1) key = entry.toString("utf8", s, e);
        else if (f === 2) value = entry.toString("utf8", s, e);
      });
      initial[key] = value;
    }
    if (i % NAMES_PER_STEP === NAMES_PER_STEP - 1) yield;
  }
  if (mode === "sotw") request.names = sotw;
  else Object.assign(request, { subscribe, unsubscribe, initialVersions: initial });
}

function fromDecoded(mode: Mode, m: Decoded, bytes: Buffer, withNode: boolean): XdsRequest {
  const err = m.error_detail as { message?: string; code?: number } | null | undefined;
  const node = withNode && m.node ? (m.node as Decoded) : undefined;
  const base = {
    typeUrl: String(m.type_url ?? ""),
    ...(node ? { node: nodeInfo(node), nodeMetadataBytes: metadataBytes(bytes, mode === "sotw" ? 2 : 1) } : {}),
    responseNonce: String(m.response_nonce ?? ""),
    errorMessage: err ? err.message || `rejected (code ${err.code ?? 0})` : undefined,
  };
  if (mode === "sotw") return { ...base, names: (m.resource_names as string[]) ?? [] };
  return {
    ...base,
    subscribe: (m.resource_names_subscribe as string[]) ?? [],
    unsubscribe: (m.resource_names_unsubscribe as string[]) ?? [],
    initialVersions: { ...((m.initial_resource_versions as Record<string, string>) ?? {}) },
  };
}

/**
 * Size of `node.metadata` (Node field 3) on the wire, read from the request
 * bytes: `nodeField` is where the request keeps its node.
 */
function metadataBytes(request: Uint8Array, nodeField: number): number {
  let total = 0;
  for (const node of lengthDelimited(request, nodeField)) for (const md of lengthDelimited(node, 3)) total += md.length;
  return total;
}

/**
 * Resource names a request carries, counted on the wire without decoding it:
 * one top-level scan that skips over every field, so a request the name
 * budget will refuse costs a pass over its bytes, not a decode of its strings.
 * SotW: `resource_names` (3). Delta: `resource_names_subscribe` (3),
 * `resource_names_unsubscribe` (4) and `initial_resource_versions` (5) map
 * entries. For a request without repeated map keys this equals
 * `namesInRequest` of its decoded form; a repeated key counts every time it is
 * sent (each one is decoding work). Throws on bytes that are not a message.
 */
export function namesOnWire(mode: Mode, bytes: Uint8Array): number {
  const fields = mode === "sotw" ? SOTW_NAME_FIELDS : DELTA_NAME_FIELDS;
  let n = 0;
  walkTopLevel(bytes, (field) => {
    if (fields.has(field)) n++;
  });
  return n;
}

const SOTW_NAME_FIELDS: ReadonlySet<number> = new Set([3]);
const DELTA_NAME_FIELDS: ReadonlySet<number> = new Set([3, 4, 5]);

/** The payloads of every length-delimited occurrence of `field` at the top level of `buf`. */
function lengthDelimited(buf: Uint8Array, field: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  walkTopLevel(buf, (f, start, end) => {
    if (f === field) out.push(buf.subarray(start, end));
  });
  return out;
}

/**
 * Call `onField` for each top-level field of `buf`: its number, payload bounds
 * and where its tag starts. Length-delimited fields have their payload; other
 * wire types are reported as a whole (start = end = their end), groups not at all.
 */
function walkTopLevel(buf: Uint8Array, onField: (field: number, start: number, end: number, tagStart: number) => void): void {
  let i = 0;
  const varint = (): number => {
    let n = 0;
    let mul = 1;
    for (;;) {
      if (i >= buf.length) throw new Error("truncated varint");
      const b = buf[i++]!;
      n += (b & 0x7f) * mul;
      if (b < 0x80) return n;
      mul *= 128;
    }
  };
  /** Open groups (deprecated wire types 3/4, which a decoder still accepts): their field numbers. */
  const groups: number[] = [];
  while (i < buf.length) {
    const tagStart = i;
    const tag = varint();
    const wire = tag % 8;
    const field = Math.floor(tag / 8);
    if (wire === 0 || wire === 1 || wire === 5) {
      if (wire === 0) varint();
      else i += wire === 1 ? 8 : 4;
      if (i > buf.length) throw new Error("truncated fixed-size field");
      // Only the payload-less form: namesOnWire counts length-delimited name fields alone.
      if (groups.length === 0) onField(-field, i, i, tagStart);
    } else if (wire === 2) {
      const len = varint();
      if (i + len > buf.length) throw new Error("truncated length-delimited field");
      if (groups.length === 0) onField(field, i, i + len, tagStart);
      i += len;
    } else if (wire === 3) groups.push(field);
    else if (wire === 4 && groups.at(-1) === field) groups.pop();
    else throw new Error(`unexpected wire type ${wire}`);
  }
  if (i > buf.length || groups.length > 0) throw new Error("truncated message");
}

function nodeInfo(n: Decoded): NodeInfo {
  const metadata = n.metadata ? (toJson(messageType("google.protobuf.Struct"), n.metadata as Decoded) as Record<string, unknown>) : {};
  const loc = n.locality as { region?: string; zone?: string; sub_zone?: string } | undefined;
  return {
    id: String(n.id ?? ""),
    cluster: String(n.cluster ?? ""),
    metadata,
    ...(loc ? { locality: { region: loc.region ?? "", zone: loc.zone ?? "", sub_zone: loc.sub_zone ?? "" } } : {}),
    ...(n.user_agent_name ? { userAgent: String(n.user_agent_name) } : {}),
  };
}
