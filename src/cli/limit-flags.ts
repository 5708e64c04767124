/**
 * `serve`'s flags for what one client may cost the server (src/server/limits.ts).
 * One vocabulary with the folder limits: `--max-…-size` takes a byte size
 * (16Mi, 4M, 1048576), `--max-…` a count, `--…-time`/`--…-timeout` a duration
 * (30s, 500ms). Defaults come from DEFAULT_LIMITS, so help and code agree.
 */
import { DEFAULT_LIMITS, ServerLimits } from "../server/limits";
import { parseByteSize } from "../sources/file/byte-size";
import { parseIstioDuration } from "../model/validate";
import { CliError, FlagSpec, ParsedFlags } from "../util/flags";

type Unit = "bytes" | "count" | "ms";

interface LimitFlag {
  limit: keyof ServerLimits;
  unit: Unit;
  help: string;
}

/** Flag name -> the limit it sets. */
export const LIMIT_FLAG_TABLE: Record<string, LimitFlag> = {
  "max-xds-message-size": { limit: "maxReceiveMessageBytes", unit: "bytes", help: "largest xDS request a client may send (istiod: 4 MiB)" },
  "max-node-metadata-size": { limit: "maxNodeMetadataBytes", unit: "bytes", help: "largest node.metadata a client may send" },
  "max-names-per-request": { limit: "maxNamesPerRequest", unit: "count", help: "resource names one request may carry" },
  "max-names-per-stream": { limit: "maxSubscribedNamesPerStream", unit: "count", help: "names one stream may be subscribed to" },
  "max-names-total": { limit: "maxSubscribedNamesTotal", unit: "count", help: "names all streams together may be subscribed to" },
  "max-requests-per-second": { limit: "requestsPerSecond", unit: "count", help: "sustained requests a second per connection" },
  "max-request-burst": { limit: "requestBurst", unit: "count", help: "requests a connection may send in a burst" },
  "max-name-changes-per-second": { limit: "subscribedNamesPerSecond", unit: "count", help: "subscription changes (names) a second per connection" },
  "max-name-change-burst": { limit: "subscribedNamesBurst", unit: "count", help: "subscription changes (names) a connection may make in a burst" },
  "request-time-per-second": {
    limit: "requestCpuMsPerSecond",
    unit: "ms",
    help: "event-loop time a connection's requests may take a second, per open stream; more waits, it is not refused",
  },
  "request-time-burst": { limit: "requestCpuBurstMs", unit: "ms", help: "request time a connection may save up, per open stream" },
  "max-streams-per-connection": { limit: "maxStreamsPerConnection", unit: "count", help: "HTTP/2 streams per connection" },
  "max-connections": { limit: "maxConnections", unit: "count", help: "open client connections (more are refused)" },
  "keepalive-time": { limit: "keepaliveTimeMs", unit: "ms", help: "ping a connection idle this long (istiod: 30s)" },
  "keepalive-timeout": { limit: "keepaliveTimeoutMs", unit: "ms", help: "close a connection whose ping is not answered within this (istiod: 10s)" },
  "handshake-timeout": { limit: "handshakeTimeoutMs", unit: "ms", help: "close a connection that has not started HTTP/2 by then" },
};

const ARG: Record<Unit, string> = { bytes: "SIZE", count: "N", ms: "DURATION" };

/** A default as a user would write it: 4Mi, 100000, 30s. */
function show(value: number, unit: Unit): string {
  if (unit === "ms") return value % 1000 === 0 ? `${value / 1000}s` : `${value}ms`;
  if (unit === "bytes") {
    for (const [suffix, n] of [
      ["Gi", 1024 ** 3],
      ["Mi", 1024 ** 2],
      ["Ki", 1024],
    ] as const)
      if (value % n === 0) return `${value / n}${suffix}`;
  }
  return String(value);
}

export const LIMIT_FLAGS: Record<string, FlagSpec> = Object.fromEntries(
  Object.entries(LIMIT_FLAG_TABLE).map(([name, f]) => [
    name,
    { type: "string", arg: ARG[f.unit], default: show(DEFAULT_LIMITS[f.limit], f.unit), help: f.help },
  ]),
);

function parse(name: string, unit: Unit, text: string): number {
  if (unit === "bytes") {
    const n = parseByteSize(text);
    if (n === undefined) throw new CliError(`--${name} wants a size like 4Mi, 512Ki or 1048576, got "${text}"`);
    return n;
  }
  if (unit === "ms") {
    const d = parseIstioDuration(text);
    if (!d.ok || d.ms <= 0) throw new CliError(`--${name} wants a positive duration like 30s or 500ms, got "${text}"`);
    return d.ms;
  }
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < 1) throw new CliError(`--${name} wants a positive whole number, got "${text}"`);
  return n;
}

/** The server limits the flags set (every one, defaults included), checked. */
export function serverLimits(f: ParsedFlags): ServerLimits {
  const out = { ...DEFAULT_LIMITS } as ServerLimits;
  for (const [name, spec] of Object.entries(LIMIT_FLAG_TABLE)) {
    const given = f[name];
    if (given === undefined) continue;
    out[spec.limit] = parse(name, spec.unit, String(given));
  }
  if (out.subscribedNamesBurst < out.maxNamesPerRequest)
    throw new CliError(
      `--max-name-change-burst (${out.subscribedNamesBurst}) must be at least --max-names-per-request (${out.maxNamesPerRequest}): a request that big could never pass`,
    );
  return out;
}
