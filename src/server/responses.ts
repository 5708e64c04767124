/**
 * DiscoveryResponse / DeltaDiscoveryResponse bytes, concatenated from the
 * pre-framed resource encodings. Nothing here encodes a resource.
 */
import { EncodedResource } from "../xds/resource";
import { frameBytes, frameString } from "../xds/wire";

/**
 * Whole SotW responses shared by every stream that sends the same content: the
 * nonce is the response's own id ("s" + a process-wide counter), so thousands
 * of streams write one buffer and nothing is copied per stream. A stream that
 * would get the same response twice in a row gets a private nonce instead.
 */
interface SharedResponse {
  nonce: string;
  body: Buffer;
  bytes: Buffer;
}
const sotwResponses = new Map<string, SharedResponse>();
const MAX_RESPONSES = 4096;
let responseIds = 0;

/**
 * DiscoveryResponse{version_info=1, resources=2, type_url=4, nonce=5}.
 * `contentKey` must identify `resources` exactly (the cache key); it is
 * `version` unless the response carries only part of that version.
 * `lastNonce` is the stream's previous nonce for this type; `privateNonce`
 * makes a stream-local one when the shared nonce would repeat it.
 */
export function sotwResponse(
  typeUrl: string,
  version: string,
  resources: readonly EncodedResource[],
  lastNonce: string | undefined,
  privateNonce: () => string,
  contentKey = version,
): { nonce: string; bytes: Buffer } {
  const key = typeUrl + "\n" + version + "\n" + contentKey;
  let shared = sotwResponses.get(key);
  if (!shared) {
    const parts: Buffer[] = [frameString(1, version)];
    for (const r of resources) parts.push(r.sotwFrame);
    parts.push(frameString(4, typeUrl));
    const body = Buffer.concat(parts);
    const nonce = "s" + (++responseIds).toString(36);
    shared = { nonce, body, bytes: Buffer.concat([body, frameString(5, nonce)]) };
    if (sotwResponses.size >= MAX_RESPONSES) sotwResponses.delete(sotwResponses.keys().next().value as string);
    sotwResponses.set(key, shared);
  }
  if (shared.nonce !== lastNonce) return { nonce: shared.nonce, bytes: shared.bytes };
  const nonce = privateNonce();
  return { nonce, bytes: Buffer.concat([shared.body, frameString(5, nonce)]) };
}

/** DeltaDiscoveryResponse{system_version_info=1, resources=2, type_url=4, nonce=5, removed_resources=6}. */
export function deltaResponse(
  typeUrl: string,
  systemVersion: string,
  resources: readonly EncodedResource[],
  removed: readonly string[],
  nonce: string,
): Buffer {
  const parts: Buffer[] = [frameString(1, systemVersion)];
  for (const r of resources) parts.push(r.deltaFrame);
  parts.push(frameString(4, typeUrl), frameString(5, nonce));
  for (const name of removed) parts.push(frameBytes(6, Buffer.from(name, "utf8")));
  return Buffer.concat(parts);
}
