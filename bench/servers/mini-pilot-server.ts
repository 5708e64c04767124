/**
 * mini-pilot under test: the real XdsServer + SnapshotCache, fed through the
 * same HTTP API as the go-control-plane peer. Each resource's bytes are wrapped
 * once (`fromBytes`, counted in `wrapped`) and reused while unchanged, and a
 * type whose resources did not change keeps its TypeSnapshot — what a producer
 * using the EncodeCache and `replaceTypes` does.
 *
 * Proxies are grouped by namespace (parsed from the node id); every group gets
 * the same snapshot object, as the fleet's proxies all have the same config.
 */
import { XdsServer } from "../../src/server/grpc-server";
import { XdsStream } from "../../src/server/stream";
import { SnapshotCache } from "../../src/cache/snapshot-cache";
import { Snapshot, TypeSnapshot, makeSnapshot, makeTypeSnapshot, replaceTypes } from "../../src/cache/snapshot";
import { EncodedResource, fromBytes } from "../../src/xds/resource";
import { envoyRoot } from "../../src/xds/protos";
import { ALL_TYPES, XdsTypeUrl, isXdsTypeUrl } from "../../src/xds/types";
import { SnapshotBody, announce, processStats, rawResource, startControlHttp } from "./control-http";
import { TraceRecorder } from "./response-trace";
import type { StreamIO, XdsRequest } from "../../src/server/stream";
import type { ServerLimits } from "../../src/server/limits";

/** BENCH_RECORD=1: record every response for the floor to replay (response-trace.ts). */
const recorder = process.env.BENCH_RECORD === "1" ? new TraceRecorder() : undefined;

/** Wraps a stream's request and write paths for the recorder (the bench's own hook; src/server has none). */
function recordStream(st: XdsStream): void {
  if (!recorder) return;
  const hooks = recorder.open(st.id.startsWith("delta") ? "delta" : "sotw");
  const inner = st as unknown as { io: StreamIO; onRequest(r: XdsRequest): void };
  const io = inner.io;
  inner.io = {
    write: (b) => {
      hooks.onWrite(b);
      return io.write(b);
    },
    fail: (code, message) => io.fail(code, message),
  };
  const onRequest = inner.onRequest.bind(st);
  inner.onRequest = (r) => {
    hooks.onRequest(r.node?.id ?? st.proxyId);
    onRequest(r);
  };
}

let current: Snapshot | undefined;
const groups = new Set<string>();
let interned = new Map<string, EncodedResource>();
let snapshotsSet = 0;
/** Resources wrapped with `fromBytes` (the bench's "encodes"). */
let wrapped = 0;

function groupOf(nodeId: string): string {
  const podNs = nodeId.split("~")[2] ?? "";
  return podNs.slice(podNs.indexOf(".") + 1) || "default";
}

const cache = new SnapshotCache(
  (node) => {
    const g = groupOf(node.id);
    groups.add(g);
    return { ok: true, group: g };
  },
  { onFirstWatch: (g) => current && cache.set(g, current) },
);

function applySnapshot(body: SnapshotBody): object {
  const started = process.hrtime.bigint();
  if (recorder) recorder.snapshots++;
  const nextInterned = new Map<string, EncodedResource>();
  const changed: Partial<Record<XdsTypeUrl, TypeSnapshot>> = {};
  const all: EncodedResource[] = [];
  for (const t of ALL_TYPES) {
    const list = (body.resources[t] ?? []).map((b64) => {
      let r = nextInterned.get(b64) ?? interned.get(b64);
      if (!r) {
        const raw = rawResource(t, b64);
        r = fromBytes(t, raw.name, raw.value);
        wrapped++;
      }
      nextInterned.set(b64, r);
      return r;
    });
    all.push(...list);
    const before = current?.types[t];
    const same = before && before.resources.size === list.length && list.every((r) => before.resources.get(r.name) === r);
    if (!same) changed[t] = makeTypeSnapshot(list);
  }
  for (const t of Object.keys(body.resources)) if (!isXdsTypeUrl(t)) throw new Error(`unsupported type URL "${t}"`);
  interned = nextInterned;
  current = current ? replaceTypes(current, changed) : makeSnapshot(all);
  for (const g of groups) cache.set(g, current);
  snapshotsSet++;
  return { nodes: groups.size, version: current.version, setMicros: Number(process.hrtime.bigint() - started) / 1000 };
}

/**
 * Event-loop stalls of this server over its life: a 100 ms timer that fires
 * late by more than 1 s means the loop was held that long. A held loop is what
 * makes timers (gRPC keepalive, the handshake timeout) expire before the
 * socket data that answers them is read.
 */
const loop = { maxStallMs: 0, stallsOver1s: 0, stallsOver10s: 0 };
let lastTick = performance.now();
setInterval(() => {
  const now = performance.now();
  const late = now - lastTick - 100;
  lastTick = now;
  loop.maxStallMs = Math.max(loop.maxStallMs, Math.round(late));
  if (late >= 1000) loop.stallsOver1s++;
  if (late >= 10_000) loop.stallsOver10s++;
}, 100).unref();

/** Open streams, for the diagnostics of clients that missed a change. */
const streams = new Set<XdsStream>();

/** What the server thinks of one proxy's streams: sync state, plus the stream's flow-control flags. */
function debugStreams(server: XdsServer, proxy: string): object {
  const mine = [...streams].filter((s) => s.proxyId === proxy);
  const sync = server.syncz().filter((x) => (x as { proxy: string | null }).proxy === proxy);
  const flags = mine.map((s) => {
    const f = s as unknown as { blocked?: boolean; closed?: boolean; snapshot?: { version: string } };
    return { stream: s.id, blocked: f.blocked, closed: f.closed, snapshotVersion: f.snapshot?.version, latestVersion: current?.version };
  });
  return { proxy, flags, sync };
}

async function main(): Promise<void> {
  // Load the Envoy protos now, as `mini-pilot serve` does while loading its config,
  // so the first requests do not pay for it.
  envoyRoot();
  // BENCH_LIMITS: JSON of server limits to override (diagnosis: e.g. keepalive off, to tell its closes from others).
  const limits = process.env.BENCH_LIMITS ? (JSON.parse(process.env.BENCH_LIMITS) as Partial<ServerLimits>) : undefined;
  const server = new XdsServer(cache, {
    ...(limits ? { limits } : {}),
    // BENCH_TURN_BUDGET_MS: the server's per-turn budget of stream work ("Infinity": none), for before/after runs.
    ...(process.env.BENCH_TURN_BUDGET_MS ? { turnBudgetMs: Number(process.env.BENCH_TURN_BUDGET_MS) } : {}),
    onStreamOpen: (st) => {
      streams.add(st);
      recordStream(st);
    },
    onStreamClose: (st) => streams.delete(st),
  });
  const port = await server.listen("127.0.0.1:0");
  const web = await startControlHttp({
    snapshot: applySnapshot,
    stats: () => ({ ...processStats(), encodes: wrapped, streamsOpen: server.streamCount, groups: groups.size, snapshotsSet, loop: { ...loop } }),
    debug: (proxy) => debugStreams(server, proxy),
    ...(recorder ? { saveRecording: (file: string) => recorder.save(file) } : {}),
  });
  announce(port, web, () => server.shutdown(1000));
}

void main().catch((e: Error) => {
  process.stderr.write(`mini-pilot bench server: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
