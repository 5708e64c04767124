/**
 * DiscoveryResponse / DeltaDiscoveryResponse bytes, concatenated from the
 * pre-framed resource encodings. Nothing here encodes a resource.
 */
import { EncodedResource } from "../xds/resource";
import { frameBytes, frameString } from "../xds/wire";
import { Steps, runSteps } from "../util/steps";

interface SharedResponse {
  nonce: string;
  body: Buffer;
  bytes: Buffer;
}

/**
 * Whole SotW responses shared by every stream that sends the same content: the
 * nonce is the response's own id ("s" + this cache's counter), so thousands
 * of streams write one buffer and nothing is copied per stream. A stream that
 * would get the same response twice in a row gets a private nonce instead.
 * Bounded by count and by bytes, oldest first out. One per server.
 */
export class SharedSotwResponses {
  private readonly responses = new Map<string, SharedResponse>();
  private bytesHeld = 0;
  private responseIds = 0;

  constructor(
    private readonly maxResponses = 4096,
    private readonly maxBytes = 256 * 1024 * 1024,
  ) {}

  /**
   * DiscoveryResponse{version_info=1, resources=2, type_url=4, nonce=5}.
   * `contentKey` must identify `resources` exactly (the cache key); it is
   * `version` unless the response carries only part of that version.
   * `lastNonce` is the stream's previous nonce for this type; `privateNonce`
   * makes a stream-local one when the shared nonce would repeat it.
   */
  response(
    typeUrl: string,
    version: string,
    resources: readonly EncodedResource[],
    lastNonce: string | undefined,
    privateNonce: () => string,
    contentKey = version,
    /** "delta": a DeltaDiscoveryResponse with no removals (same field numbers up to the nonce; resources framed as Resource). */
    variant: "sotw" | "delta" = "sotw",
  ): { nonce: string; bytes: Buffer } {
    const key = variant + "\n" + typeUrl + "\n" + version + "\n" + contentKey;
    let shared = this.responses.get(key);
    if (!shared) {
      const parts: Buffer[] = [frameString(1, version)];
      for (const r of resources) parts.push(variant === "sotw" ? r.sotwFrame : r.deltaFrame);
      parts.push(frameString(4, typeUrl));
      const body = Buffer.concat(parts);
      const nonce = "s" + (++this.responseIds).toString(36);
      shared = { nonce, body, bytes: Buffer.concat([body, frameString(5, nonce)]) };
      this.responses.set(key, shared);
      this.bytesHeld += shared.bytes.length;
      this.evict();
    }
    if (shared.nonce !== lastNonce) return { nonce: shared.nonce, bytes: shared.bytes };
    const nonce = privateNonce();
    return { nonce, bytes: Buffer.concat([shared.body, frameString(5, nonce)]) };
  }

  private evict(): void {
    while (this.responses.size > 1 && (this.responses.size > this.maxResponses || this.bytesHeld > this.maxBytes)) {
      const [oldest, r] = this.responses.entries().next().value as [string, SharedResponse];
      this.responses.delete(oldest);
      this.bytesHeld -= r.bytes.length;
    }
  }
}

/** One unshared SotW response (tests, tools); servers use a SharedSotwResponses. */
export function sotwResponse(
  typeUrl: string,
  version: string,
  resources: readonly EncodedResource[],
  lastNonce: string | undefined,
  privateNonce: () => string,
  contentKey = version,
): { nonce: string; bytes: Buffer } {
  return new SharedSotwResponses(1).response(typeUrl, version, resources, lastNonce, privateNonce, contentKey);
}

/** DeltaDiscoveryResponse{system_version_info=1, resources=2, type_url=4, nonce=5, removed_resources=6}. */
export function deltaResponse(
  typeUrl: string,
  systemVersion: string,
  resources: readonly EncodedResource[],
  removed: readonly string[],
  nonce: string,
): Buffer {
  return runSteps(deltaResponseSteps(typeUrl, systemVersion, resources, removed, nonce));
}

/** deltaResponse, framing removed names a few thousand per step (100,000 of them take tens of milliseconds). */
export function* deltaResponseSteps(
  typeUrl: string,
  systemVersion: string,
  resources: readonly EncodedResource[],
  removed: readonly string[],
  nonce: string,
): Steps<Buffer> {
  const parts: Buffer[] = [frameString(1, systemVersion)];
  for (const r of resources) parts.push(r.deltaFrame);
  parts.push(frameString(4, typeUrl), frameString(5, nonce));
  for (let i = 0; i < removed.length; i++) {
    parts.push(frameBytes(6, Buffer.from(removed[i]!, "utf8")));
    if (i % REMOVED_PER_STEP === REMOVED_PER_STEP - 1) yield;
  }
  return Buffer.concat(parts);
}

const REMOVED_PER_STEP = 2048;
