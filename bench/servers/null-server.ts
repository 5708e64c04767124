/**
 * The floor: a "null" xDS server on the same transport as mini-pilot (grpc-js,
 * identity serializers) that writes the same pre-encoded bytes with no logic
 * beyond subscriptions and ACK tracking — one response per type in flight, a
 * new one when the content for that subscription changed. Requests are read
 * with the bench's hand-written top-level parser, never decoded in full.
 * Whatever mini-pilot spends above this is the price of its logic.
 */
import * as grpc from "@grpc/grpc-js";
import { createHash } from "node:crypto";
import { forEachField, lenField, spanString, strField } from "../wire";
import { SnapshotBody, announce, processStats, rawResource, startControlHttp } from "./control-http";

const CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
const EDS = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
const LDS = "type.googleapis.com/envoy.config.listener.v3.Listener";
const RDS = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
const ORDER = [CDS, EDS, LDS, RDS];
const WILDCARD = new Set([CDS, LDS]);

interface Res {
  name: string;
  version: string;
  sotwFrame: Buffer;
  deltaFrame: Buffer;
}

interface TypeSnap {
  version: string;
  byName: Map<string, Res>;
  sorted: Res[];
  /** subscription key -> the whole SotW response, shared by every stream (see `shared`). */
  bodies: Map<string, Shared>;
  /** "fromVersion|subKey" -> delta update (resources + removed), for streams in sync at fromVersion. */
  diffs: Map<string, { frames: Buffer; names: Res[]; removed: string[]; shared?: Shared }>;
}

interface TypeState {
  wildcard: boolean;
  names: Set<string>;
  subKey: string;
  nonce: string;
  awaiting: boolean;
  mustSend: boolean;
  sentKey: string;
  /** Delta: what the client holds. */
  held: Map<string, string>;
  /** Delta: held equals the selection of this type version. */
  syncedAt?: string;
}

/**
 * A response built once and written to every stream that needs it, nonce
 * included: the nonce is the response's own id ("s<n>"), unique per stream and
 * type because a stream never gets the same shared response twice in a row
 * (if it would, it gets a copy with a private nonce instead).
 */
interface Shared {
  id: string;
  full: Buffer;
  /** The response without its nonce field, for the private-nonce fallback. */
  body: Buffer;
  /** SotW: identifies the content for one subscription. */
  contentKey?: string;
}

let sharedCounter = 0;
function shared(body: Buffer): Shared {
  const id = `s${(++sharedCounter).toString(36)}`;
  return { id, full: Buffer.concat([body, strField(5, id)]), body };
}

/** Streams flushed per event-loop turn on a snapshot change (0: all at once). */
const FANOUT_BATCH = Number(process.env.FLOOR_FANOUT_BATCH ?? 64);

function fanOut(list: FloorStream[]): void {
  if (FANOUT_BATCH <= 0) {
    for (const s of list) s.flush();
    return;
  }
  let i = 0;
  const step = () => {
    const end = Math.min(list.length, i + FANOUT_BATCH);
    for (; i < end; i++) list[i]!.flush();
    if (i < list.length) setImmediate(step);
  };
  step();
}

const snap = new Map<string, TypeSnap>();
let interned = new Map<string, Res>();
let typeCounter = 0;
let encodes = 0;
const streams = new Set<FloorStream>();

function applySnapshot(body: SnapshotBody): object {
  const next = new Map<string, Res>();
  for (const t of ORDER) {
    const list = (body.resources[t] ?? []).map((b64) => {
      let r = next.get(b64) ?? interned.get(b64);
      if (!r) {
        encodes++;
        const raw = rawResource(t, b64);
        const version = createHash("sha1").update(raw.any).digest("base64url").slice(0, 12);
        r = {
          name: raw.name,
          version,
          sotwFrame: lenField(2, raw.any),
          deltaFrame: lenField(2, Buffer.concat([strField(1, version), lenField(2, raw.any), strField(3, raw.name)])),
        };
      }
      next.set(b64, r);
      return r;
    });
    const before = snap.get(t);
    if (before && before.sorted.length === list.length && list.every((r) => before.byName.get(r.name) === r)) continue;
    const sorted = [...list].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    snap.set(t, { version: `t${++typeCounter}`, byName: new Map(sorted.map((r) => [r.name, r])), sorted, bodies: new Map(), diffs: new Map() });
  }
  interned = next;
  fanOut([...streams]);
  return { nodes: streams.size };
}

class FloorStream {
  private readonly types = new Map<string, TypeState>();
  private nonce = 0;

  constructor(
    private readonly delta: boolean,
    private readonly write: (b: Buffer) => void,
  ) {}

  onRequest(buf: Buffer): void {
    let typeUrl = "";
    let nonce = "";
    const names: string[] = [];
    const unsub: string[] = [];
    forEachField(buf, 0, buf.length, (f, wt, s, e) => {
      if (wt !== 2) return;
      const str = () => spanString(buf, { start: s, end: e });
      if (!this.delta) {
        if (f === 3) names.push(str());
        else if (f === 4) typeUrl = str();
        else if (f === 5) nonce = str();
      } else {
        if (f === 2) typeUrl = str();
        else if (f === 3) names.push(str());
        else if (f === 4) unsub.push(str());
        else if (f === 6) nonce = str();
      }
    });
    let st = this.types.get(typeUrl);
    const first = !st;
    if (!st) {
      st = { wildcard: false, names: new Set(), subKey: "", nonce: "", awaiting: false, mustSend: true, sentKey: "", held: new Map() };
      this.types.set(typeUrl, st);
    }
    if (this.delta) {
      if (first && WILDCARD.has(typeUrl) && names.length === 0) st.wildcard = true;
      const before = st.names.size + (st.wildcard ? 1 : 0);
      for (const n of names) {
        if (n === "*") st.wildcard = true;
        else st.names.add(n);
      }
      for (const n of unsub) {
        if (n === "*") st.wildcard = false;
        else st.names.delete(n);
        st.held.delete(n);
      }
      if (names.length > 0 || unsub.length > 0 || st.names.size + (st.wildcard ? 1 : 0) !== before) {
        st.mustSend = names.length > 0 || st.mustSend;
        st.syncedAt = undefined;
        st.subKey = subKey(st);
      }
      if (nonce !== "" && nonce === st.nonce) st.awaiting = false;
    } else {
      const wildcard = WILDCARD.has(typeUrl) && (names.length === 0 || names.includes("*"));
      const key =
        (wildcard ? "*\n" : "") +
        [...names]
          .filter((n) => n !== "*")
          .sort()
          .join("\n");
      if (nonce === "" || key !== st.subKey) {
        st.wildcard = wildcard;
        st.names = new Set(names.filter((n) => n !== "*"));
        st.subKey = key;
        st.mustSend = true;
      }
      if (nonce === "" || nonce === st.nonce) st.awaiting = false;
    }
    this.flush();
  }

  flush(): void {
    for (const t of ORDER) {
      const st = this.types.get(t);
      const ts = snap.get(t);
      if (!st || !ts || (st.awaiting && !st.mustSend)) continue;
      if (this.delta) this.pushDelta(t, st, ts);
      else this.pushSotw(t, st, ts);
    }
  }

  private pushSotw(t: string, st: TypeState, ts: TypeSnap): void {
    let body = ts.bodies.get(st.subKey);
    if (!body) {
      const selected = select(ts, st);
      const parts = [strField(1, ts.version)];
      for (const r of selected) parts.push(r.sotwFrame);
      parts.push(strField(4, t));
      // Content key: what the subscription gets, so a change elsewhere in the type is not resent.
      body = { ...shared(Buffer.concat(parts)), contentKey: st.wildcard ? ts.version : selected.map((r) => r.version).join(",") };
      ts.bodies.set(st.subKey, body);
    }
    const key = body.contentKey! + "|" + st.subKey;
    if (!st.mustSend && key === st.sentKey) return;
    this.sendShared(st, key, body);
  }

  private pushDelta(t: string, st: TypeState, ts: TypeSnap): void {
    const diffKey = st.syncedAt !== undefined ? `${st.syncedAt}|${st.subKey}` : undefined;
    let d = diffKey !== undefined ? ts.diffs.get(diffKey) : undefined;
    if (!d) {
      const selected = select(ts, st);
      const names = selected.filter((r) => st.held.get(r.name) !== r.version);
      const wanted = new Set(selected.map((r) => r.name));
      const removed = [...st.held.keys()].filter((n) => !wanted.has(n));
      for (const n of st.names) if (!wanted.has(n) && !st.held.has(n)) removed.push(n);
      d = { frames: Buffer.concat(names.map((r) => r.deltaFrame)), names, removed };
      if (diffKey !== undefined) ts.diffs.set(diffKey, d);
    }
    if (!st.mustSend && d.names.length === 0 && d.removed.length === 0) {
      st.syncedAt = ts.version;
      return;
    }
    if (!d.shared) {
      const parts = [strField(1, ts.version), d.frames, strField(4, t)];
      for (const n of d.removed) parts.push(strField(6, n));
      d.shared = shared(Buffer.concat(parts));
    }
    for (const r of d.names) st.held.set(r.name, r.version);
    for (const n of d.removed) st.held.delete(n);
    st.syncedAt = ts.version;
    this.sendShared(st, ts.version, d.shared);
  }

  private sendShared(st: TypeState, key: string, r: Shared): void {
    if (st.nonce !== r.id) {
      st.nonce = r.id;
      this.send(st, key, r.full);
      return;
    }
    st.nonce = `p${(++this.nonce).toString(36)}`;
    this.send(st, key, Buffer.concat([r.body, strField(5, st.nonce)]));
  }

  private send(st: TypeState, key: string, bytes: Buffer): void {
    st.mustSend = false;
    st.awaiting = true;
    st.sentKey = key;
    this.write(bytes);
  }
}

function subKey(st: TypeState): string {
  return (st.wildcard ? "*\n" : "") + [...st.names].sort().join("\n");
}

function select(ts: TypeSnap, st: TypeState): Res[] {
  if (st.wildcard) return ts.sorted;
  const out: Res[] = [];
  for (const n of [...st.names].sort()) {
    const r = ts.byName.get(n);
    if (r) out.push(r);
  }
  return out;
}

async function main(): Promise<void> {
  const server = new grpc.Server({ "grpc.max_concurrent_streams": 100_000, "grpc.max_send_message_length": 256 * 1024 * 1024 });
  for (const [method, delta] of [
    ["StreamAggregatedResources", false],
    ["DeltaAggregatedResources", true],
  ] as const) {
    const def: grpc.MethodDefinition<Buffer, Buffer> = {
      path: `/envoy.service.discovery.v3.AggregatedDiscoveryService/${method}`,
      requestStream: true,
      responseStream: true,
      requestSerialize: (b: Buffer) => b,
      requestDeserialize: (b: Buffer) => b,
      responseSerialize: (b: Buffer) => b,
      responseDeserialize: (b: Buffer) => b,
    };
    server.addService({ [method]: def } as grpc.ServiceDefinition, {
      [method]: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        const s = new FloorStream(delta, (b) => call.write(b));
        streams.add(s);
        const done = () => streams.delete(s);
        call.on("data", (b: Buffer) => s.onRequest(b));
        call.on("end", () => {
          done();
          call.end();
        });
        call.on("error", done);
        call.on("cancelled", done);
        call.on("close", done);
      },
    });
  }
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const web = await startControlHttp({ snapshot: applySnapshot, stats: () => ({ ...processStats(), encodes, streamsOpen: streams.size }) });
  announce(port, web, async () => server.forceShutdown());
}

void main().catch((e: Error) => {
  process.stderr.write(`floor server: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
