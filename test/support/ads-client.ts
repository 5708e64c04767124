/**
 * A raw xDS client for tests: grpc-js bidi streams with requests encoded by the
 * Envoy protos, responses decoded (resources to canonical JSON). It does exactly
 * what a test tells it, so protocol rules can be exercised one message at a time.
 */
import * as grpc from "@grpc/grpc-js";
import { messageType } from "../../src/xds/protos";
import { decodeToJson, fromJson } from "../../src/xds/json";
import { NAME_FIELD, XdsTypeUrl, messageName } from "../../src/xds/types";

export const NODE_ID = "sidecar~10.1.0.5~bill-client-1.default~default.svc.cluster.local";

export interface SotwResponse {
  typeUrl: string;
  version: string;
  nonce: string;
  names: string[];
  resources: Record<string, unknown>[];
}

export interface DeltaResponse {
  typeUrl: string;
  systemVersion: string;
  nonce: string;
  resources: { name: string; version: string; body: Record<string, unknown> }[];
  removed: string[];
}

export interface StreamEnd {
  code: number;
  details: string;
}

class Inbox<T> {
  private readonly items: T[] = [];
  private waiters: ((v: T) => void)[] = [];
  ended?: StreamEnd;
  private endWaiters: ((e: StreamEnd) => void)[] = [];

  push(v: T): void {
    const w = this.waiters.shift();
    if (w) w(v);
    else this.items.push(v);
  }
  end(e: StreamEnd): void {
    this.ended = e;
    for (const w of this.endWaiters) w(e);
  }
  next(timeoutMs: number): Promise<T> {
    const v = this.items.shift();
    if (v !== undefined) return Promise.resolve(v);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no response within ${timeoutMs}ms${this.ended ? ` (stream ended: ${this.ended.code} ${this.ended.details})` : ""}`));
      }, timeoutMs);
      const waiter = (x: T) => {
        clearTimeout(timer);
        resolve(x);
      };
      this.waiters.push(waiter);
    });
  }
  /** Resolves with whatever arrives within `ms`, [] if nothing. */
  async drain(ms: number): Promise<T[]> {
    await new Promise((r) => setTimeout(r, ms));
    return this.items.splice(0);
  }
  whenEnded(timeoutMs: number): Promise<StreamEnd> {
    if (this.ended) return Promise.resolve(this.ended);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("stream did not end")), timeoutMs);
      this.endWaiters.push((e) => {
        clearTimeout(t);
        resolve(e);
      });
    });
  }
}

function resourceName(typeUrl: string, body: Record<string, unknown>): string {
  return String(body[NAME_FIELD[typeUrl as XdsTypeUrl] ?? "name"] ?? "");
}

/** `metadata` is plain JSON; it goes on the wire as a google.protobuf.Struct (fromObject alone would drop it). */
function nodeJson(id: string, metadata: Record<string, unknown>, cluster = "test") {
  return { id, cluster, metadata: fromJson(messageType("google.protobuf.Struct"), metadata) };
}

const ADS = "/envoy.service.discovery.v3.AggregatedDiscoveryService";

export class TestSotwStream {
  readonly inbox = new Inbox<SotwResponse>();
  private sentNode = false;
  private readonly call: grpc.ClientDuplexStream<Buffer, Buffer>;

  constructor(
    client: grpc.Client,
    private readonly nodeId = NODE_ID,
    private readonly metadata: Record<string, unknown> = {},
    path = `${ADS}/StreamAggregatedResources`,
    /** Node `cluster` (pilot-agent sends `<app>.<namespace>`; istiod uses it as the tracing service name). */
    private readonly nodeCluster = "test",
  ) {
    const reqType = messageType("envoy.service.discovery.v3.DiscoveryRequest");
    const resType = messageType("envoy.service.discovery.v3.DiscoveryResponse");
    this.call = client.makeBidiStreamRequest(
      path,
      (o: object) => Buffer.from(reqType.encode(reqType.fromObject(o)).finish()),
      (b: Buffer) => b,
    );
    this.call.on("data", (b: Buffer) => {
      const m = resType.decode(b) as unknown as { version_info: string; nonce: string; type_url: string; resources: { type_url: string; value: Uint8Array }[] };
      const resources = m.resources.map((a) => decodeToJson(messageType(messageName(a.type_url)), a.value) as Record<string, unknown>);
      this.inbox.push({ typeUrl: m.type_url, version: m.version_info, nonce: m.nonce, names: resources.map((r) => resourceName(m.type_url, r)), resources });
    });
    this.call.on("error", (e: grpc.ServiceError) => this.inbox.end({ code: e.code, details: e.details }));
    this.call.on("end", () => this.inbox.end({ code: 0, details: "" }));
  }

  send(req: { typeUrl: string; names?: string[]; nonce?: string; version?: string; error?: string; noNode?: boolean }): void {
    const msg: Record<string, unknown> = {
      type_url: req.typeUrl,
      resource_names: req.names ?? [],
      response_nonce: req.nonce ?? "",
      version_info: req.version ?? "",
    };
    if (!this.sentNode && !req.noNode) {
      msg.node = nodeJson(this.nodeId, this.metadata, this.nodeCluster);
      this.sentNode = true;
    }
    if (req.error) msg.error_detail = { code: 3, message: req.error };
    this.call.write(msg as unknown as Buffer);
  }

  /** ACK (or NACK with `error`) a response, keeping the given subscription. */
  ack(r: SotwResponse, names: string[] = [], error?: string): void {
    this.send({ typeUrl: r.typeUrl, names, nonce: r.nonce, version: r.version, ...(error ? { error } : {}) });
  }

  next(timeoutMs = 2000): Promise<SotwResponse> {
    return this.inbox.next(timeoutMs);
  }

  close(): void {
    this.call.end();
    this.call.cancel();
  }
}

export class TestDeltaStream {
  readonly inbox = new Inbox<DeltaResponse>();
  private sentNode = false;
  private readonly call: grpc.ClientDuplexStream<Buffer, Buffer>;

  constructor(
    client: grpc.Client,
    private readonly nodeId = NODE_ID,
    private readonly metadata: Record<string, unknown> = {},
    path = `${ADS}/DeltaAggregatedResources`,
  ) {
    const reqType = messageType("envoy.service.discovery.v3.DeltaDiscoveryRequest");
    const resType = messageType("envoy.service.discovery.v3.DeltaDiscoveryResponse");
    this.call = client.makeBidiStreamRequest(
      path,
      (o: object) => Buffer.from(reqType.encode(reqType.fromObject(o)).finish()),
      (b: Buffer) => b,
    );
    this.call.on("data", (b: Buffer) => {
      const m = resType.decode(b) as unknown as {
        system_version_info: string;
        nonce: string;
        type_url: string;
        removed_resources: string[];
        resources: { name: string; version: string; resource: { type_url: string; value: Uint8Array } }[];
      };
      this.inbox.push({
        typeUrl: m.type_url,
        systemVersion: m.system_version_info,
        nonce: m.nonce,
        removed: [...m.removed_resources],
        resources: m.resources.map((r) => ({
          name: r.name,
          version: r.version,
          body: decodeToJson(messageType(messageName(r.resource.type_url)), r.resource.value) as Record<string, unknown>,
        })),
      });
    });
    this.call.on("error", (e: grpc.ServiceError) => this.inbox.end({ code: e.code, details: e.details }));
    this.call.on("end", () => this.inbox.end({ code: 0, details: "" }));
  }

  send(req: { typeUrl: string; subscribe?: string[]; unsubscribe?: string[]; nonce?: string; error?: string; initial?: Record<string, string> }): void {
    const msg: Record<string, unknown> = {
      type_url: req.typeUrl,
      resource_names_subscribe: req.subscribe ?? [],
      resource_names_unsubscribe: req.unsubscribe ?? [],
      response_nonce: req.nonce ?? "",
      initial_resource_versions: req.initial ?? {},
    };
    if (!this.sentNode) {
      msg.node = nodeJson(this.nodeId, this.metadata);
      this.sentNode = true;
    }
    if (req.error) msg.error_detail = { code: 3, message: req.error };
    this.call.write(msg as unknown as Buffer);
  }

  ack(r: DeltaResponse, error?: string): void {
    this.send({ typeUrl: r.typeUrl, nonce: r.nonce, ...(error ? { error } : {}) });
  }

  next(timeoutMs = 2000): Promise<DeltaResponse> {
    return this.inbox.next(timeoutMs);
  }

  close(): void {
    this.call.end();
    this.call.cancel();
  }
}

export function connect(port: number): grpc.Client {
  return new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}
