/**
 * Replica failover: a fleet of proxies split over two (or more) control plane
 * replicas; one replica is killed; how long until each of its proxies is
 * served by another, and did any lose or change config on the way?
 *
 * The caller starts the replicas (same config source) and says how to kill
 * one; this connects the fleet (half SotW, half delta, dealt round-robin over
 * the replicas), waits until every proxy holds its full config, checks that
 * proxies with the same identity get identical versions from every replica,
 * kills replica 0 and waits until all its proxies are restored elsewhere.
 */
import * as grpc from "@grpc/grpc-js";
import { FailoverClient, type Mode, type ProxySpec } from "./client";

export interface FailoverOptions {
  /** xDS addresses (host:port), one per replica. */
  targets: string[];
  proxies: ProxySpec[];
  /** Kill replica `i` the way it fails (SIGKILL); resolves once it is gone. */
  kill(i: number): Promise<void>;
  timeoutMs?: number;
  log?: (msg: string) => void;
}

export interface FailoverResult {
  proxies: number;
  /** Proxies that were on the killed replica, by mode. */
  moved: { sotw: number; delta: number };
  /** ms from the kill until each moved proxy held all its types again, sorted. */
  restoreMs: number[];
  /** ms from the kill until the last moved proxy saw its stream end (how fast the death is noticed). */
  detectMs: number;
  /** Time until the last moved proxy was restored (the failover time). */
  failoverMs: number;
  p50Ms: number;
  p99Ms: number;
  lost: number;
  changed: number;
  /** SotW types whose version_info differed on the new replica. */
  versionChanges: number;
  /** Resources sent again on resumption: SotW full state; delta should be 0 with identical versions. */
  resent: { sotw: number; delta: number };
  /** Same identity, different replica: did both send the same versions? (checked before the kill) */
  sameVersionsAcrossReplicas: boolean;
  notRestored: number;
  errors: string[];
}

const PROXIES_PER_CONNECTION = 50;

async function until(what: string, timeoutMs: number, done: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`failover: ${what} not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const pct = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : 0);

export async function measureFailover(o: FailoverOptions): Promise<FailoverResult> {
  const log = o.log ?? (() => undefined);
  const timeoutMs = o.timeoutMs ?? 60_000;
  // One HTTP/2 connection per target for every PROXIES_PER_CONNECTION proxies (a server caps concurrent streams per
  // connection, and real proxies each have their own); a local subchannel pool keeps grpc-js from sharing them.
  const channelSets: grpc.Client[][] = [];
  const channelsFor = (i: number): grpc.Client[] => {
    const k = Math.floor(i / PROXIES_PER_CONNECTION);
    channelSets[k] ??= o.targets.map(
      (t) =>
        new grpc.Client(t, grpc.credentials.createInsecure(), { "grpc.max_receive_message_length": 64 * 1024 * 1024, "grpc.use_local_subchannel_pool": 1 }),
    );
    return channelSets[k]!;
  };
  const modeOf = (i: number): Mode => (Math.floor(i / o.targets.length) % 2 === 0 ? "sotw" : "delta");
  const clients = o.proxies.map((p, i) => new FailoverClient(i, modeOf(i), p, channelsFor(i), i % o.targets.length));
  try {
    for (const c of clients) c.start();
    await until("every proxy configured", timeoutMs, () => clients.every((c) => c.configuredAt !== undefined));
    log(`${clients.length} proxies configured (${o.targets.length} replicas)`);

    // The same identities on the other replica: versions must be identical (deterministic generation).
    const twins = o.proxies
      .slice(0, Math.min(o.proxies.length, 8))
      .map((p, i) => new FailoverClient(-1 - i, modeOf(i), p, channelsFor(i), (i + 1) % o.targets.length));
    for (const c of twins) c.start();
    await until("the twin proxies configured", timeoutMs, () => twins.every((c) => c.configuredAt !== undefined));
    const sameVersionsAcrossReplicas = twins.every((tw, i) => JSON.stringify(tw.versions()) === JSON.stringify(clients[i]!.versions()));
    for (const c of twins) c.close();

    const moved = clients.filter((c) => c.connectedTo === 0);
    const started = performance.now();
    await o.kill(0);
    log(`replica 0 killed; ${moved.length} proxies move`);
    await until("every moved proxy restored", timeoutMs, () => moved.every((c) => c.restoredAt !== undefined)).catch((e: Error) => log(e.message));
    const restoreMs = moved
      .filter((c) => c.restoredAt !== undefined)
      .map((c) => Math.round((c.restoredAt! - started) * 10) / 10)
      .sort((a, b) => a - b);
    const sum = (f: (c: FailoverClient) => number, of = moved) => of.reduce((n, c) => n + f(c), 0);
    return {
      proxies: clients.length,
      moved: { sotw: moved.filter((c) => c.mode === "sotw").length, delta: moved.filter((c) => c.mode === "delta").length },
      restoreMs,
      failoverMs: restoreMs.at(-1) ?? NaN,
      detectMs: Math.round(Math.max(...moved.map((c) => (c.disconnectedAt ?? NaN) - started)) * 10) / 10,
      p50Ms: pct(restoreMs, 50),
      p99Ms: pct(restoreMs, 99),
      lost: sum((c) => c.lost),
      changed: sum((c) => c.changed),
      versionChanges: sum((c) => c.versionChanges),
      resent: {
        sotw: sum(
          (c) => c.resentResources,
          moved.filter((c) => c.mode === "sotw"),
        ),
        delta: sum(
          (c) => c.resentResources,
          moved.filter((c) => c.mode === "delta"),
        ),
      },
      sameVersionsAcrossReplicas,
      notRestored: moved.filter((c) => c.restoredAt === undefined).length,
      errors: [...new Set(clients.flatMap((c) => c.errors))].slice(0, 5),
    };
  } finally {
    for (const c of clients) c.close();
    for (const ch of channelSets.flat()) ch.close();
  }
}
