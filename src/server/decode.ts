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
    ...(node ? { node: nodeInfo(node), nodeMetadataBytes: metadataBytes(node) } : {}),
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

/** Size of `node.metadata` on the wire, for the metadata limit. */
function metadataBytes(n: Decoded): number {
  if (!n.metadata) return 0;
  const struct = messageType("google.protobuf.Struct");
  return struct.encode(n.metadata as Decoded).finish().length;
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
