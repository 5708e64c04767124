/**
 * Interns encoded resources by content, so a resource that many proxy views
 * generate identically is encoded once. Keyed by the resource's canonical JSON
 * text; bounded, least recently used first out. Generators share some objects
 * across views (ClusterLoadAssignments), so an identity lookup comes first and
 * skips even the key's text.
 */
import { EncodedResource, encodeResource } from "./resource";
import { XdsTypeUrl } from "./types";

export class EncodeCache {
  private readonly entries = new Map<string, EncodedResource>();
  private readonly byIdentity = new WeakMap<object, EncodedResource>();
  /** Misses: resources actually encoded. */
  encodes = 0;

  constructor(private readonly maxEntries = 200_000) {}

  /** `json` must not be mutated afterwards: identical objects are assumed to stay identical. */
  encode(typeUrl: XdsTypeUrl, json: unknown): EncodedResource {
    if (typeof json !== "object" || json === null) return this.byText(typeUrl, json);
    const known = this.byIdentity.get(json);
    if (known && known.typeUrl === typeUrl) return known;
    const found = this.byText(typeUrl, json);
    this.byIdentity.set(json, found);
    return found;
  }

  private byText(typeUrl: XdsTypeUrl, json: unknown): EncodedResource {
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
