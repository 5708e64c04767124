/**
 * The gRPC edge: ADS (SotW + delta) and the per-type LDS/RDS/CDS/EDS services.
 * Requests are decoded with the Envoy protos; responses are already bytes, so
 * the response serializer is the identity.
 */
import * as grpc from "@grpc/grpc-js";
import { messageType } from "../xds/protos";
import { toJson } from "../xds/json";
import { CLUSTER, ENDPOINT, LISTENER, PUSH_ORDER, ROUTE, XdsTypeUrl, SHORT_NAME } from "../xds/types";
import { Mode, XdsRequest, XdsStream } from "./stream";
import { NodeInfo, SnapshotSource } from "./snapshot-source";

type Decoded = Record<string, unknown>;

interface Method {
  service: string;
  method: string;
  mode: Mode;
  types: readonly XdsTypeUrl[];
}

const METHODS: Method[] = [
  { service: "envoy.service.discovery.v3.AggregatedDiscoveryService", method: "StreamAggregatedResources", mode: "sotw", types: PUSH_ORDER },
  { service: "envoy.service.discovery.v3.AggregatedDiscoveryService", method: "DeltaAggregatedResources", mode: "delta", types: PUSH_ORDER },
  ...(
    [
      ["envoy.service.listener.v3.ListenerDiscoveryService", "Listeners", LISTENER],
      ["envoy.service.route.v3.RouteDiscoveryService", "Routes", ROUTE],
      ["envoy.service.cluster.v3.ClusterDiscoveryService", "Clusters", CLUSTER],
      ["envoy.service.endpoint.v3.EndpointDiscoveryService", "Endpoints", ENDPOINT],
    ] as const
  ).flatMap(([service, noun, type]) => [
    { service, method: `Stream${noun}`, mode: "sotw" as const, types: [type] },
    { service, method: `Delta${noun}`, mode: "delta" as const, types: [type] },
  ]),
];

export interface ServerOptions {
  /** Max concurrent streams per HTTP/2 connection. */
  maxConcurrentStreams?: number;
  onStreamOpen?(s: XdsStream): void;
  onStreamClose?(s: XdsStream): void;
  log?: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
}

/** Decode a request of either variant into the stream's shape. */
export function decodeRequest(mode: Mode, bytes: Buffer): XdsRequest {
  const type = messageType(mode === "sotw" ? "envoy.service.discovery.v3.DiscoveryRequest" : "envoy.service.discovery.v3.DeltaDiscoveryRequest");
  const m = type.decode(bytes) as unknown as Decoded;
  const err = m.error_detail as { message?: string; code?: number } | null | undefined;
  const base = {
    typeUrl: String(m.type_url ?? ""),
    node: m.node ? nodeInfo(m.node as Decoded) : undefined,
    responseNonce: String(m.response_nonce ?? ""),
    errorMessage: err ? err.message || `rejected (code ${err.code ?? 0})` : undefined,
  };
  if (mode === "sotw") return { ...base, names: (m.resource_names as string[]) ?? [] };
  return {
    ...base,
    subscribe: (m.resource_names_subscribe as string[]) ?? [],
    unsubscribe: (m.resource_names_unsubscribe as string[]) ?? [],
    initialVersions: { ...((m.initial_resource_versions as Record<string, string>) ?? {}) },
  };
}

function nodeInfo(n: Decoded): NodeInfo {
  const metadata = n.metadata ? (toJson(messageType("google.protobuf.Struct"), n.metadata as Decoded) as Record<string, unknown>) : {};
  const loc = n.locality as { region?: string; zone?: string; sub_zone?: string } | undefined;
  return {
    id: String(n.id ?? ""),
    cluster: String(n.cluster ?? ""),
    metadata,
    ...(loc ? { locality: { region: loc.region ?? "", zone: loc.zone ?? "", sub_zone: loc.sub_zone ?? "" } } : {}),
    ...(n.user_agent_name ? { userAgent: String(n.user_agent_name) } : {}),
  };
}

/** The xDS gRPC server over a SnapshotSource. */
export class XdsServer {
  private readonly server: grpc.Server;
  private readonly streams = new Set<XdsStream>();
  private nextId = 0;

  constructor(
    private readonly source: SnapshotSource,
    private readonly options: ServerOptions = {},
  ) {
    this.server = new grpc.Server({
      "grpc.max_concurrent_streams": options.maxConcurrentStreams ?? 100_000,
      "grpc.max_receive_message_length": 16 * 1024 * 1024,
      "grpc.max_send_message_length": 256 * 1024 * 1024,
      "grpc.keepalive_permit_without_calls": 1,
      "grpc.http2.min_ping_interval_without_data_ms": 5000,
    });
    for (const m of METHODS) this.addMethod(m);
  }

  private addMethod(m: Method): void {
    const def: grpc.MethodDefinition<Buffer, Buffer> = {
      path: `/${m.service}/${m.method}`,
      requestStream: true,
      responseStream: true,
      requestSerialize: (b: Buffer) => b,
      requestDeserialize: (b: Buffer) => b,
      responseSerialize: (b: Buffer) => b,
      responseDeserialize: (b: Buffer) => b,
    };
    const handler = (call: grpc.ServerDuplexStream<Buffer, Buffer>) => this.handle(m, call);
    this.server.addService({ [m.method]: def } as grpc.ServiceDefinition, { [m.method]: handler });
  }

  private handle(m: Method, call: grpc.ServerDuplexStream<Buffer, Buffer>): void {
    const id = `${m.mode}-${++this.nextId}`;
    const stream = new XdsStream(id, m.mode, m.types, this.source, {
      write: (b) => call.write(b),
      fail: (code, details) => {
        this.options.log?.warn({ stream: id, proxy: stream.proxyId, code, details }, "closing xDS stream");
        call.emit("error", { code, details });
      },
    });
    this.streams.add(stream);
    this.options.onStreamOpen?.(stream);
    const done = () => {
      if (!this.streams.delete(stream)) return;
      stream.close();
      this.options.onStreamClose?.(stream);
    };
    call.on("data", (bytes: Buffer) => {
      let req: XdsRequest;
      try {
        req = decodeRequest(m.mode, bytes);
      } catch (e) {
        stream.close();
        call.emit("error", { code: grpc.status.INVALID_ARGUMENT, details: `malformed request: ${(e as Error).message}` });
        return;
      }
      stream.onRequest(req);
    });
    call.on("drain", () => stream.onDrain());
    call.on("end", () => {
      done();
      call.end();
    });
    call.on("error", done);
    call.on("cancelled", done);
    call.on("close", done);
  }

  /** Bind and start; resolves to the bound port (useful with port 0). */
  listen(address: string, credentials = grpc.ServerCredentials.createInsecure()): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(address, credentials, (err, port) => (err ? reject(err) : resolve(port)));
    });
  }

  /** Stop accepting, end open streams cleanly, wait up to `graceMs`, then force. */
  async shutdown(graceMs = 5000): Promise<void> {
    for (const s of this.streams) s.close();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      timer.unref();
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  forceShutdown(): void {
    this.server.forceShutdown();
  }

  /** Per proxy and type: what was sent, acked, rejected (for /debug/syncz). */
  syncz(): object[] {
    return [...this.streams]
      .map((s) => ({
        proxy: s.proxyId ?? null,
        stream: s.id,
        connectedAt: new Date(s.connectedAt).toISOString(),
        types: Object.fromEntries(
          s.syncState().map((t) => [
            SHORT_NAME[t.typeUrl],
            {
              status: t.status,
              sentVersion: t.sync.sentVersion ?? null,
              sentNonce: t.sync.sentNonce ?? null,
              ackedVersion: t.sync.ackedVersion ?? null,
              ackedNonce: t.sync.ackedNonce ?? null,
              lastError: t.sync.nack
                ? { version: t.sync.nack.version, nonce: t.sync.nack.nonce, message: t.sync.nack.message, at: new Date(t.sync.nack.at).toISOString() }
                : null,
              responses: t.sync.responses ?? 0,
              bytes: t.sync.bytes ?? 0,
              subscription: t.subscription,
            },
          ]),
        ),
      }))
      .sort((a, b) => String(a.proxy).localeCompare(String(b.proxy)) || a.stream.localeCompare(b.stream));
  }

  get streamCount(): number {
    return this.streams.size;
  }
}
