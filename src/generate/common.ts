/**
 * Small JSON builders shared by every generator: ADS config sources, typed
 * configs, durations, percentages. Output is canonical proto3 JSON (snake_case).
 */
import { parseIstioDuration } from "../model/validate/duration";
import { formatDuration } from "../xds/json";
import type { Address, AnyMessageName, AnyOf, ConfigSource, EnvoyMessages, FractionalPercent, SocketAddress } from "./envoy";

export const TYPE_PREFIX = "type.googleapis.com/";

/** An Any: `{"@type": ..., ...fields}`, its fields checked against the named message. */
export function typed<N extends AnyMessageName>(messageName: N, fields: EnvoyMessages[N] = {}): AnyOf<N> {
  return { "@type": `${TYPE_PREFIX}${messageName}`, ...fields } as AnyOf<N>;
}

/** A proxyless gRPC client's config source, as istiod's grpcgen writes it: just ADS (no fetch timeout, API version implied). */
export function grpcConfigSource(): ConfigSource {
  return { ads: {} };
}

/** Where dynamic resources come from: the ADS stream the proxy already has. */
export function adsConfigSource(): ConfigSource {
  return { ads: {}, initial_fetch_timeout: "0s", resource_api_version: "V3" };
}

/** Milliseconds -> proto3 JSON duration ("0.250s", "10s"). */
export function msToDuration(ms: number): string {
  const totalNs = Math.round(ms * 1e6);
  const seconds = Math.trunc(totalNs / 1e9);
  return formatDuration(seconds, totalNs - seconds * 1e9);
}

/**
 * An Istio duration ("10s", "1m30s", "250ms") -> proto3 JSON. Input has been
 * validated; anything unparsable falls back to `fallback` so generation never throws.
 */
export function istioDuration(text: string | undefined, fallback?: string): string | undefined {
  if (text === undefined) return fallback;
  const r = parseIstioDuration(text);
  return r.ok ? msToDuration(Math.max(0, r.ms)) : fallback;
}

/** Whole seconds of an Istio duration (for uint32 second fields like TCP keepalive). */
export function istioSeconds(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const r = parseIstioDuration(text);
  return r.ok ? Math.max(0, Math.floor(r.ms / 1000)) : undefined;
}

/** Istio percentage (0-100, fractional) -> FractionalPercent per million. */
export function percentPerMillion(value: number): FractionalPercent {
  return { numerator: Math.round(Math.min(100, Math.max(0, value)) * 10_000), denominator: "MILLION" };
}

export function socketAddress(address: string, port: number): Address & { socket_address: SocketAddress } {
  return { socket_address: { address, port_value: port } };
}

export function byName<T extends { name?: unknown }>(a: T, b: T): number {
  const x = String(a.name ?? "");
  const y = String(b.name ?? "");
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Sorted copy of a string-keyed record's keys. */
export function sortedKeys(r: Record<string, unknown> | undefined): string[] {
  return Object.keys(r ?? {}).sort();
}
