/**
 * DiscoveryRequest / DeltaDiscoveryRequest bytes to the stream's request shape.
 */
import { messageType } from "../xds/protos";
import { toJson } from "../xds/json";
import { NodeInfo } from "../cache/snapshot-cache";
import { Mode, XdsRequest } from "./stream";

type Decoded = Record<string, unknown>;

/**
 * Decode a request of either variant. `withNode` false skips `node` (Envoy
 * repeats it on every SotW request; only the first one's counts), so its
 * metadata is converted once per stream, not once per ACK.
 */
export function decodeRequest(mode: Mode, bytes: Buffer, withNode = true): XdsRequest {
  const type = messageType(mode === "sotw" ? "envoy.service.discovery.v3.DiscoveryRequest" : "envoy.service.discovery.v3.DeltaDiscoveryRequest");
  const m = type.decode(bytes) as unknown as Decoded;
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

/** The payloads of every length-delimited occurrence of `field` at the top level of `buf`. */
function lengthDelimited(buf: Uint8Array, field: number): Uint8Array[] {
  const out: Uint8Array[] = [];
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
  while (i < buf.length) {
    const tag = varint();
    const wire = tag % 8;
    if (wire === 0) varint();
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else if (wire === 2) {
      const len = varint();
      if (Math.floor(tag / 8) === field) out.push(buf.subarray(i, i + len));
      i += len;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
  return out;
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
