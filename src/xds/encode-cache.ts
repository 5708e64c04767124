/**
 * Interns encoded resources by content, so a resource that many proxy views
 * generate identically is encoded once. Keyed by the resource's canonical JSON
 * text; bounded, least recently used first out.
 */
import { EncodedResource, encodeResource } from "./resource";
import { XdsTypeUrl } from "./types";

export class EncodeCache {
  private readonly entries = new Map<string, EncodedResource>();
  /** Misses: resources actually encoded. */
  encodes = 0;

  constructor(private readonly maxEntries = 200_000) {}

  encode(typeUrl: XdsTypeUrl, json: unknown): EncodedResource {
    const key = typeUrl + "\n" + JSON.stringify(json);
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const fresh = encodeResource(typeUrl, json);
    this.encodes++;
    this.entries.set(key, fresh);
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    return fresh;
  }

  get size(): number {
    return this.entries.size;
  }
}
