/**
 * One proxy for the replica failover measurement: an ADS stream (SotW or
 * delta) that behaves like Envoy (CDS and LDS wildcard, EDS and RDS for the
 * names those name, every response ACKed) and, when its stream dies, connects
 * to the next control plane address at once, as Envoy does through a Service
 * whose dead endpoint is gone:
 *  - delta resumes with `initial_resource_versions` = what it holds, so a
 *    replica with the same config has nothing to send;
 *  - SotW asks again with the version it holds and gets the full state.
 *
 * It keeps what it holds per type (name → version and content hash) and, after
 * a reconnect, compares what the new replica says with it: `restoredAt` is when
 * every type it held has been answered on the new stream; `lost`/`changed`
 * count resources the new replica removed or sent with other content.
 */
import * as crypto from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { messageType } from "../../src/xds/protos";
import { decodeToJson, fromJson } from "../../src/xds/json";
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, messageName, type XdsTypeUrl } from "../../src/xds/types";

export type Mode = "sotw" | "delta";
const ORDER: XdsTypeUrl[] = [CLUSTER, LISTENER, ENDPOINT, ROUTE];
const ADS = "/envoy.service.discovery.v3.AggregatedDiscoveryService";

export interface ProxySpec {
  nodeId: string;
  metadata: Record<string, unknown>;
}

interface Held {
  /** SotW: version_info of the last accepted response; delta: unused. */
  version: string;
  /** name -> resource version (delta) or content hash (SotW). */
  resources: Map<string, string>;
}

type AnyMsg = { type_url: string; value: Uint8Array };

let types: { sotwReq: protobufType; sotwRes: protobufType; deltaReq: protobufType; deltaRes: protobufType; struct: protobufType } | undefined;
type protobufType = ReturnType<typeof messageType>;
function pb() {
  types ??= {
    sotwReq: messageType("envoy.service.discovery.v3.DiscoveryRequest"),
    sotwRes: messageType("envoy.service.discovery.v3.DiscoveryResponse"),
    deltaReq: messageType("envoy.service.discovery.v3.DeltaDiscoveryRequest"),
    deltaRes: messageType("envoy.service.discovery.v3.DeltaDiscoveryResponse"),
    struct: messageType("google.protobuf.Struct"),
  };
  return types;
}

/** EDS/RDS names a cluster or listener names, by content hash: a resumed stream resends the same bytes, decoded once. */
const namedBy = new Map<string, string[]>();
function namesNamedBy(t: XdsTypeUrl, a: AnyMsg): string[] {
  const key = sha(a.value);
  let names = namedBy.get(key);
  if (names) return names;
  const json = JSON.stringify(decodeToJson(messageType(messageName(a.type_url)), a.value));
  names = [];
  if (t === CLUSTER) {
    const o = JSON.parse(json) as { name: string; type?: string; eds_cluster_config?: { service_name?: string } };
    if (o.type === "EDS") names.push(o.eds_cluster_config?.service_name || o.name);
  } else {
    for (const m of json.matchAll(/"route_config_name":"([^"]+)"/g)) names.push(m[1]!);
  }
  namedBy.set(key, names);
  return names;
}

const sha = (b: Uint8Array) => crypto.createHash("sha1").update(b).digest("hex").slice(0, 16);

export class FailoverClient {
  private call: grpc.ClientDuplexStream<Buffer, Buffer> | undefined;
  private target = 0;
  private readonly held = new Map<XdsTypeUrl, Held>();
  /** Names of EDS/RDS this client asks for (from the clusters and listeners it holds). */
  private readonly wanted = new Map<XdsTypeUrl, string[]>();
  /** Types answered on the current stream. */
  private answered = new Set<XdsTypeUrl>();
  /** What it held when the stream died (compared with what the new replica sends). */
  private before: Map<XdsTypeUrl, Held> | undefined;
  configuredAt?: number;
  disconnectedAt?: number;
  restoredAt?: number;
  lost = 0;
  changed = 0;
  /** SotW: a type whose version_info differs on the new replica (the versions should be identical). */
  versionChanges = 0;
  /** Resources the new replica sent (delta: ideally none). */
  resentResources = 0;
  streams = 0;
  errors: string[] = [];

  constructor(
    readonly index: number,
    readonly mode: Mode,
    private readonly proxy: ProxySpec,
    private readonly clients: grpc.Client[],
    firstTarget: number,
  ) {
    this.target = firstTarget;
  }

  get connectedTo(): number {
    return this.target;
  }

  start(): void {
    this.open();
  }

  close(): void {
    const c = this.call;
    this.call = undefined;
    c?.cancel();
  }

  /** What it holds, comparable between two clients of the same identity and mode. */
  versions(): Record<string, unknown> {
    return Object.fromEntries(
      ORDER.filter((t) => this.held.has(t)).map((t) => {
        const h = this.held.get(t)!;
        return [t, { version: h.version, resources: [...h.resources].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) }];
      }),
    );
  }

  /** Holding at least CDS, LDS, and EDS/RDS when they were named. */
  configured(): boolean {
    return ORDER.every((t) => this.held.has(t) || ((t === ENDPOINT || t === ROUTE) && (this.wanted.get(t) ?? []).length === 0));
  }

  private open(): void {
    this.streams++;
    this.answered = new Set();
    const client = this.clients[this.target]!;
    const delta = this.mode === "delta";
    const { sotwReq, deltaReq, sotwRes, deltaRes } = pb();
    const reqType = delta ? deltaReq : sotwReq;
    const call = client.makeBidiStreamRequest(
      `${ADS}/${delta ? "DeltaAggregatedResources" : "StreamAggregatedResources"}`,
      (o: object) => Buffer.from(reqType.encode(reqType.fromObject(o)).finish()),
      (b: Buffer) => b,
    );
    this.call = call;
    let sentNode = false;
    const node = () => {
      if (sentNode) return undefined;
      sentNode = true;
      return { id: this.proxy.nodeId, cluster: "failover", metadata: fromJson(pb().struct, this.proxy.metadata) };
    };
    this.write = (msg) => {
      const n = node();
      call.write({ ...msg, ...(n ? { node: n } : {}) } as unknown as Buffer);
    };
    call.on("data", (b: Buffer) => {
      try {
        if (delta) this.onDelta(deltaRes.decode(b) as unknown as DeltaResponse);
        else this.onSotw(sotwRes.decode(b) as unknown as SotwResponse);
      } catch (e) {
        this.errors.push((e as Error).message);
      }
    });
    const ended = () => {
      if (this.call !== call) return;
      this.call = undefined;
      this.failover();
    };
    call.on("error", ended);
    call.on("end", ended);
    // What Envoy asks first: CDS and LDS (wildcard); on a resumed stream, also what it holds.
    for (const t of ORDER) {
      if (t === CLUSTER || t === LISTENER || this.held.has(t)) this.request(t);
    }
  }

  private write: (msg: Record<string, unknown>) => void = () => undefined;

  /** The stream died: remember what we hold and go to the next address at once. */
  private failover(): void {
    this.disconnectedAt ??= performance.now();
    this.before = new Map([...this.held].map(([t, h]) => [t, { version: h.version, resources: new Map(h.resources) }]));
    this.target = (this.target + 1) % this.clients.length;
    this.open();
  }

  private request(t: XdsTypeUrl, nonce = "", error?: string): void {
    const names = t === ENDPOINT || t === ROUTE ? (this.wanted.get(t) ?? []) : [];
    const h = this.held.get(t);
    if (this.mode === "sotw") {
      this.write({
        type_url: t,
        resource_names: names,
        version_info: h?.version ?? "",
        response_nonce: nonce,
        ...(error ? { error_detail: { code: 3, message: error } } : {}),
      });
      return;
    }
    if (nonce) {
      this.write({ type_url: t, response_nonce: nonce });
      return;
    }
    const initial = Object.fromEntries(h?.resources ?? []);
    this.write({ type_url: t, resource_names_subscribe: names, initial_resource_versions: initial });
  }

  private onSotw(r: SotwResponse): void {
    const t = r.type_url as XdsTypeUrl;
    const resources = new Map<string, string>();
    const bodies: AnyMsg[] = r.resources ?? [];
    for (const a of bodies) resources.set(nameOf(a), sha(a.value));
    this.held.set(t, { version: r.version_info, resources });
    this.follow(t, bodies);
    this.write({
      type_url: t,
      resource_names: t === ENDPOINT || t === ROUTE ? (this.wanted.get(t) ?? []) : [],
      version_info: r.version_info,
      response_nonce: r.nonce,
    });
    this.answer(t, (prev) => {
      if (prev.version !== r.version_info) this.versionChanges++;
      this.resentResources += resources.size;
      for (const [n, h] of prev.resources) {
        if (!resources.has(n)) this.lost++;
        else if (resources.get(n) !== h) this.changed++;
      }
    });
  }

  private onDelta(r: DeltaResponse): void {
    const t = r.type_url as XdsTypeUrl;
    const h = this.held.get(t) ?? { version: "", resources: new Map<string, string>() };
    const prev = this.before?.get(t);
    for (const res of r.resources ?? []) {
      if (prev?.resources.has(res.name) && prev.resources.get(res.name) !== res.version && !this.answered.has(t)) this.changed++;
      h.resources.set(res.name, res.version);
    }
    for (const n of r.removed_resources ?? []) {
      if (prev?.resources.has(n) && !this.answered.has(t)) this.lost++;
      h.resources.delete(n);
    }
    this.held.set(t, h);
    this.follow(
      t,
      (r.resources ?? []).map((x) => x.resource),
    );
    this.request(t, r.nonce);
    this.answer(t, () => {
      this.resentResources += (r.resources ?? []).length;
    });
  }

  /** First answer of a type on this stream: compare with what was held, and note when everything is back. */
  private answer(t: XdsTypeUrl, compare: (prev: Held) => void): void {
    if (this.answered.has(t)) return;
    this.answered.add(t);
    const prev = this.before?.get(t);
    if (prev) compare(prev);
    const now = performance.now();
    if (this.configuredAt === undefined && this.configured()) this.configuredAt = now;
    if (this.before && this.restoredAt === undefined && [...this.before.keys()].every((k) => this.answered.has(k))) this.restoredAt = now;
  }

  /** EDS names from EDS clusters, RDS names from the listeners' connection managers; ask for them when they change. */
  private follow(t: XdsTypeUrl, bodies: (AnyMsg | undefined)[]): void {
    if (t !== CLUSTER && t !== LISTENER) return;
    const next = new Set<string>();
    const all = this.mode === "sotw" ? bodies : undefined;
    for (const a of all ?? bodies) {
      if (!a) continue;
      for (const n of namesNamedBy(t, a)) next.add(n);
    }
    const follower = t === CLUSTER ? ENDPOINT : ROUTE;
    // Delta sends only what changed: keep the names of resources not in this response.
    const keep = this.mode === "delta" ? (this.wanted.get(follower) ?? []) : [];
    const names = [...new Set([...keep, ...next])].sort();
    const before = this.wanted.get(follower) ?? [];
    if (names.join("\n") === before.join("\n")) return;
    this.wanted.set(follower, names);
    if (this.mode === "sotw") {
      this.write({ type_url: follower, resource_names: names, version_info: this.held.get(follower)?.version ?? "", response_nonce: "" });
    } else {
      const added = names.filter((n) => !before.includes(n));
      if (added.length) this.write({ type_url: follower, resource_names_subscribe: added });
    }
  }
}

interface SotwResponse {
  version_info: string;
  nonce: string;
  type_url: string;
  resources?: AnyMsg[];
}

interface DeltaResponse {
  system_version_info: string;
  nonce: string;
  type_url: string;
  resources?: { name: string; version: string; resource: AnyMsg }[];
  removed_resources?: string[];
}

/**
 * The resource's name without decoding it: field 1 of Cluster, Listener,
 * RouteConfiguration (name) and ClusterLoadAssignment (cluster_name), so the
 * harness's own CPU does not inflate the failover time it measures.
 */
function nameOf(a: AnyMsg): string {
  const b = a.value;
  let i = 0;
  const varint = (): number => {
    let v = 0;
    for (let shift = 0; ; shift += 7) {
      const x = b[i++]!;
      v += (x & 0x7f) * 2 ** shift;
      if (x < 0x80) return v;
    }
  };
  while (i < b.length) {
    const key = varint();
    const wire = key & 7;
    if (key >>> 3 === 1 && wire === 2) {
      const len = varint();
      return Buffer.from(b.buffer, b.byteOffset + i, len).toString("utf8");
    }
    if (wire === 0) varint();
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else if (wire === 2) i += varint();
    else throw new Error(`unexpected wire type ${wire}`);
  }
  return "";
}
