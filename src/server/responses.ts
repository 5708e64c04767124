/**
 * DiscoveryResponse / DeltaDiscoveryResponse bytes, concatenated from the
 * pre-framed resource encodings. Nothing here encodes a resource.
 */
import { EncodedResource } from "../xds/resource";
import { frameBytes, frameString } from "../xds/wire";

/** Bodies shared by every stream that sends the same content; only the nonce differs. */
const sotwBodies = new Map<string, Buffer>();
const MAX_BODIES = 4096;

/**
 * DiscoveryResponse{version_info=1, resources=2, type_url=4, nonce=5}.
 * `contentKey` must identify `resources` exactly (the body cache key); it is
 * `version` unless the response carries only part of that version.
 */
export function sotwResponse(typeUrl: string, version: string, resources: readonly EncodedResource[], nonce: string, contentKey = version): Buffer {
  const key = typeUrl + "\n" + version + "\n" + contentKey;
  let body = sotwBodies.get(key);
  if (!body) {
    const parts: Buffer[] = [frameString(1, version)];
    for (const r of resources) parts.push(r.sotwFrame);
    parts.push(frameString(4, typeUrl));
    body = Buffer.concat(parts);
    if (sotwBodies.size >= MAX_BODIES) sotwBodies.delete(sotwBodies.keys().next().value as string);
    sotwBodies.set(key, body);
  }
  return Buffer.concat([body, frameString(5, nonce)]);
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
