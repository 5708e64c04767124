/**
 * One simulated Envoy on one ADS stream, independent of the transport: response
 * bytes in, request bytes out. It behaves like Envoy on the wire — node on the
 * first request, CDS and LDS wildcard, EDS and RDS by the names those responses
 * name, an ACK (or NACK) for every response — and records when it ACKed the
 * first response carrying each armed change.
 *
 * Changes are recognised by content, never by version strings (go-control-plane
 * reports the snapshot version we give it, mini-pilot a content hash): every
 * change embeds a unique marker string in the resources it touches, and the
 * client looks for it with Buffer.indexOf in responses of the expected types.
 * A later change to the same resource ("track") supersedes an earlier one: a
 * SotW server may coalesce them, so seeing the later marker also settles the
 * earlier change.
 */
import {
  CLUSTER,
  ENDPOINT,
  LISTENER,
  ROUTE,
  deltaRequest,
  listenerRouteNames,
  readDeltaResponse,
  readSotwResponse,
  resourceName,
  sotwRequest,
} from "./messages";
import { Span, findField, forEachField, readVarint, spanString } from "../wire";

export type Mode = "sotw" | "delta";
export type TypeUrl = typeof CLUSTER | typeof ENDPOINT | typeof LISTENER | typeof ROUTE;

/** A change the fleet waits for: per type, the marker that proves the client has it. */
export interface ArmedChange {
  id: number;
  /** Changes on one track touch the same resources; a later one supersedes an earlier one. */
  track: string;
  markers: Partial<Record<TypeUrl, Buffer>>;
}

export interface ClientCounters {
  bytes: number;
  responses: number;
  acks: number;
  nacks: number;
  disconnects: number;
}

interface Pending {
  change: ArmedChange;
  remaining: Set<TypeUrl>;
  last: number;
}

interface TypeState {
  version: string;
  nonce: string;
  /** SotW: resources in the last accepted response. */
  count: number;
  acked: boolean;
  /** EDS/RDS: the names subscribed to, sorted. */
  names: string[];
  /** Delta: what the client holds, name -> version. */
  held: Map<string, string>;
  /** EDS/RDS: a first request was sent. */
  requested: boolean;
  /** When the last response of this type arrived. */
  lastAt?: number;
}

/** Wall-clock-ish milliseconds with sub-ms precision, comparable across processes on one machine. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

export class FleetClient {
  private types = new Map<TypeUrl, TypeState>();
  private sentNode = false;
  /** Delta: cluster -> EDS name, listener -> route names. */
  private clusterEds = new Map<string, string>();
  private listenerRoutes = new Map<string, Set<string>>();
  private pending: Pending[] = [];
  /** change id -> time of the ACK that completed it. */
  readonly results = new Map<number, number>();
  configuredAt?: number;

  constructor(
    readonly index: number,
    private readonly mode: Mode,
    private readonly node: Buffer,
    private readonly send: (msg: Buffer) => void,
    readonly counters: ClientCounters,
    /** A response containing this marker is NACKed (fault tests). */
    private readonly nackMarker?: Buffer,
    private readonly hooks: { done?(changeId: number): void; configured?(): void } = {},
  ) {}

  /** For reports about clients that missed a change: what they are waiting for and what they last got. */
  debugState(): object {
    return {
      pending: this.pending.map((p) => ({ change: p.change.id, waitingFor: [...p.remaining].map((t) => t.slice(t.lastIndexOf(".") + 1)) })),
      types: Object.fromEntries(
        [...this.types].map(([t, st]) => [
          t.slice(t.lastIndexOf(".") + 1),
          { version: st.version, nonce: st.nonce, acked: st.acked, names: st.names.length, count: st.count, lastAt: st.lastAt },
        ]),
      ),
    };
  }

  /** Opening requests: CDS then LDS, both wildcard. */
  start(): void {
    this.types.clear();
    this.sentNode = false;
    this.clusterEds.clear();
    this.listenerRoutes.clear();
    for (const t of [CLUSTER, LISTENER] as TypeUrl[]) {
      this.types.set(t, newState());
      this.request(t, [], "", "");
    }
  }

  arm(change: ArmedChange): void {
    if (this.results.has(change.id)) return;
    this.pending.push({ change, remaining: new Set(Object.keys(change.markers) as TypeUrl[]), last: 0 });
  }

  onMessage(buf: Buffer): void {
    this.counters.bytes += buf.length + 5;
    this.counters.responses++;
    if (this.mode === "sotw") this.onSotw(buf);
    else this.onDelta(buf);
  }

  // ------------------------------------------------------------------ SotW

  private onSotw(buf: Buffer): void {
    const r = readSotwResponse(buf);
    const t = r.typeUrl as TypeUrl;
    const st = this.state(t);
    st.lastAt = now();
    if (this.nackMarker && buf.indexOf(this.nackMarker) >= 0) {
      st.nonce = r.nonce;
      this.counters.nacks++;
      this.request(t, st.names, st.version, r.nonce, `rejected by the bench fleet (marker ${this.nackMarker.toString()})`);
      return;
    }
    const found = this.matchMarkers(t, buf);
    let follow: { type: TypeUrl; names: string[] } | undefined;
    if (t === CLUSTER) follow = { type: ENDPOINT, names: edsNames(buf, r.resources) };
    else if (t === LISTENER) {
      const routes = new Set<string>();
      for (const v of r.resources) listenerRouteNames(buf, v, routes);
      follow = { type: ROUTE, names: sorted(routes) };
    }
    st.version = r.version;
    st.nonce = r.nonce;
    st.count = r.resources.length;
    st.acked = true;
    this.request(t, st.names, r.version, r.nonce);
    this.counters.acks++;
    this.settle(found, t, now());
    if (follow) {
      const fs = this.state(follow.type);
      if (!sameList(fs.names, follow.names) || (!fs.requested && follow.names.length > 0)) {
        fs.names = follow.names;
        fs.requested = true;
        this.request(follow.type, fs.names, fs.version, fs.nonce);
      }
    }
    this.checkConfigured();
  }

  // ------------------------------------------------------------------ delta

  private onDelta(buf: Buffer): void {
    const r = readDeltaResponse(buf);
    const t = r.typeUrl as TypeUrl;
    const st = this.state(t);
    st.lastAt = now();
    if (this.nackMarker && buf.indexOf(this.nackMarker) >= 0) {
      this.counters.nacks++;
      this.deltaSend(t, { nonce: r.nonce, error: `rejected by the bench fleet (marker ${this.nackMarker.toString()})` });
      return;
    }
    const found = this.matchMarkers(t, buf);
    for (const res of r.resources) st.held.set(res.name, res.version);
    for (const n of r.removed) st.held.delete(n);
    let follow: { type: TypeUrl; want: Set<string> } | undefined;
    if (t === CLUSTER) {
      for (const res of r.resources) {
        const eds = res.value && clusterEdsName(buf, res.value);
        if (eds) this.clusterEds.set(res.name, eds);
        else this.clusterEds.delete(res.name);
      }
      for (const n of r.removed) this.clusterEds.delete(n);
      follow = { type: ENDPOINT, want: new Set(this.clusterEds.values()) };
    } else if (t === LISTENER) {
      for (const res of r.resources) {
        if (!res.value) continue;
        const routes = new Set<string>();
        listenerRouteNames(buf, res.value, routes);
        this.listenerRoutes.set(res.name, routes);
      }
      for (const n of r.removed) this.listenerRoutes.delete(n);
      const want = new Set<string>();
      for (const s of this.listenerRoutes.values()) for (const n of s) want.add(n);
      follow = { type: ROUTE, want };
    }
    st.version = r.systemVersion;
    st.nonce = r.nonce;
    st.acked = true;
    this.deltaSend(t, { nonce: r.nonce });
    this.counters.acks++;
    this.settle(found, t, now());
    if (follow) {
      const fs = this.state(follow.type);
      const have = new Set(fs.names);
      const subscribe = [...follow.want].filter((n) => !have.has(n)).sort();
      const unsubscribe = fs.names.filter((n) => !follow!.want.has(n));
      if (subscribe.length > 0 || unsubscribe.length > 0) {
        fs.names = sorted(follow.want);
        fs.requested = true;
        for (const n of unsubscribe) fs.held.delete(n);
        this.deltaSend(follow.type, { subscribe, unsubscribe });
      }
    }
    this.checkConfigured();
  }

  private deltaSend(t: TypeUrl, r: { subscribe?: string[]; unsubscribe?: string[]; nonce?: string; error?: string }): void {
    const node = this.sentNode ? undefined : this.node;
    this.sentNode = true;
    this.send(deltaRequest({ typeUrl: t, ...r, ...(node ? { node } : {}) }));
  }

  // ------------------------------------------------------------------ shared

  private request(t: TypeUrl, names: readonly string[], version: string, nonce: string, error?: string): void {
    if (this.mode === "delta") {
      // First delta request for a wildcard type: empty subscribe means wildcard.
      this.deltaSend(t, {});
      return;
    }
    const node = this.sentNode ? undefined : this.node;
    this.sentNode = true;
    this.send(sotwRequest({ version, names, typeUrl: t, nonce, ...(node ? { node } : {}), ...(error ? { error } : {}) }));
  }

  private state(t: TypeUrl): TypeState {
    let st = this.types.get(t);
    if (!st) this.types.set(t, (st = newState()));
    return st;
  }

  /**
   * Pending changes whose marker for `t` is in `buf`, with older same-track
   * changes they supersede. Markers of the form `bmk-<seq>-<rand>` are all found
   * in one pass over the response, however many changes are armed; other
   * (literal) markers are searched for one by one.
   */
  private matchMarkers(t: TypeUrl, buf: Buffer): Pending[] {
    if (this.pending.length === 0) return [];
    let tokens: Set<string> | undefined;
    const found: Pending[] = [];
    const settledTracks = new Set<string>();
    for (let i = this.pending.length - 1; i >= 0; i--) {
      const p = this.pending[i]!;
      if (!p.remaining.has(t)) continue;
      let hit = settledTracks.has(p.change.track);
      if (!hit) {
        const m = p.change.markers[t]!;
        if (isPrefixed(m)) hit = (tokens ??= markerTokens(buf)).has(m.toString("latin1"));
        else hit = buf.indexOf(m) >= 0;
      }
      if (hit) {
        found.push(p);
        settledTracks.add(p.change.track);
      }
    }
    return found;
  }

  private settle(found: Pending[], t: TypeUrl, at: number): void {
    if (found.length === 0) return;
    for (const p of found) {
      p.remaining.delete(t);
      p.last = Math.max(p.last, at);
      if (p.remaining.size === 0) {
        this.results.set(p.change.id, p.last);
        this.hooks.done?.(p.change.id);
      }
    }
    this.pending = this.pending.filter((p) => p.remaining.size > 0);
  }

  private checkConfigured(): void {
    if (this.configuredAt !== undefined) return;
    const c = this.types.get(CLUSTER),
      l = this.types.get(LISTENER),
      e = this.types.get(ENDPOINT),
      r = this.types.get(ROUTE);
    if (!c?.acked || !l?.acked || !e?.acked || !r?.acked) return;
    if (this.mode === "sotw") {
      if (e.count < e.names.length || r.count < r.names.length) return;
    } else {
      for (const n of e.names) if (!e.held.has(n)) return;
      for (const n of r.names) if (!r.held.has(n)) return;
    }
    this.configuredAt = now();
    this.hooks.configured?.();
  }
}

/** Every generated marker starts with this (see resources.ts newMarker). */
export const MARKER_PREFIX = Buffer.from("bmk-");
const MARKER_RAND = 6;

function isAlnum(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x7a);
}

function isPrefixed(m: Buffer): boolean {
  return m.length > MARKER_PREFIX.length && m.subarray(0, MARKER_PREFIX.length).equals(MARKER_PREFIX);
}

/** All `bmk-<seq>-<rand6>` tokens in a buffer, in one indexOf pass. */
export function markerTokens(buf: Buffer): Set<string> {
  const out = new Set<string>();
  let i = buf.indexOf(MARKER_PREFIX);
  while (i >= 0) {
    let j = i + MARKER_PREFIX.length;
    while (j < buf.length && isAlnum(buf[j]!)) j++;
    if (j < buf.length && buf[j] === 0x2d && j + 1 + MARKER_RAND <= buf.length) {
      out.add(buf.toString("latin1", i, j + 1 + MARKER_RAND));
    }
    i = buf.indexOf(MARKER_PREFIX, i + MARKER_PREFIX.length);
  }
  return out;
}

function newState(): TypeState {
  return { version: "", nonce: "", count: 0, acked: false, names: [], held: new Map(), requested: false };
}

/**
 * The EDS name Envoy subscribes to for a cluster: eds_cluster_config(3).service_name(2),
 * else the cluster name; undefined for a cluster that is not EDS (type(2) != 3).
 */
function clusterEdsName(buf: Buffer, cluster: Span): string | undefined {
  let type = 0;
  let eds: Span | undefined;
  forEachField(buf, cluster.start, cluster.end, (f, wt, s, e) => {
    if (f === 2 && wt === 0) type = readVarint(buf, s)[0];
    else if (f === 3 && wt === 2) eds = { start: s, end: e };
  });
  if (type !== 3) return undefined;
  const service = eds && spanString(buf, findField(buf, eds.start, eds.end, 2));
  return service || resourceName(buf, cluster);
}

function edsNames(buf: Buffer, clusters: Span[]): string[] {
  const out: string[] = [];
  for (const c of clusters) {
    const n = clusterEdsName(buf, c);
    if (n !== undefined) out.push(n);
  }
  return out.sort();
}

function sorted(names: Iterable<string>): string[] {
  return [...names].sort();
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
