/**
 * The gRPC edge: ADS (SotW + delta) and the per-type LDS/RDS/CDS/EDS/SDS services.
 * Requests are decoded with the Envoy protos; responses are already bytes, so
 * the response serializer is the identity.
 */
import * as grpc from "@grpc/grpc-js";
import { hostname } from "node:os";
import { CLUSTER, ENDPOINT, LISTENER, PUSH_ORDER, ROUTE, SECRET, XdsTypeUrl, SHORT_NAME } from "../xds/types";
import { SnapshotSource } from "../cache/snapshot-cache";
import { Mode, StreamIO, XdsRequest, XdsStream } from "./stream";
import { SotwStream } from "./sotw-stream";
import { DeltaStream } from "./delta-stream";
import { DECODE_NAMES_IN_STEPS_ABOVE, decodeRequest, decodeRequestInSteps, namesOnWire } from "./decode";
import type { Steps } from "../util/steps";
import { STREAM_SLICE_MS, StreamContext, TURN_BUDGET_MS, createStreamContext } from "./context";
import { RateBudget, ServerLimits, STATUS, newRateBudget } from "./limits";
import { ConnectionGate } from "./connections";
import { ACCESS_STATUS, AccessControl, CallCredentials, UnaryMethod, bearerToken, statusOf } from "./access";
import { addCsdsService } from "./csds";
import type { XdsObserver } from "./observer";
import { rawStreamingMethod } from "../util/raw-method";
import { onStreamEnd } from "../util/stream-end";
import { RepeatedSotwNames } from "./repeated-names";

export { decodeRequest } from "./decode";

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
      ["envoy.service.secret.v3.SecretDiscoveryService", "Secrets", SECRET],
    ] as const
  ).flatMap(([service, noun, type]) => [
    { service, method: `Stream${noun}`, mode: "sotw" as const, types: [type] },
    { service, method: `Delta${noun}`, mode: "delta" as const, types: [type] },
  ]),
];

export interface ServerOptions {
  /** Per-request, per-stream and per-connection limits; unset ones take DEFAULT_LIMITS. */
  limits?: Partial<ServerLimits>;
  /** Max concurrent streams per HTTP/2 connection (same as limits.maxStreamsPerConnection). */
  maxConcurrentStreams?: number;
  /** Unary methods (e.g. a certificate service) answered on listeners that have an AccessControl. */
  unary?: UnaryMethod[];
  onStreamOpen?(s: XdsStream): void;
  onStreamClose?(s: XdsStream): void;
  /** Told about nodes, responses, NACKs and convergence (metrics). */
  observer?: XdsObserver;
  /** Stream work of all streams per event-loop turn before the rest waits for the next turn (default TURN_BUDGET_MS; Infinity: none). */
  turnBudgetMs?: number;
  /** This server's name in /debug/syncz (the replica a proxy is connected to); default the host name. */
  replica?: string;
  log?: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
}

function newStream(
  mode: Mode,
  id: string,
  types: readonly XdsTypeUrl[],
  source: SnapshotSource,
  io: StreamIO,
  ctx: StreamContext,
  rate: RateBudget,
): XdsStream {
  return mode === "sotw" ? new SotwStream(id, types, source, io, ctx, rate) : new DeltaStream(id, types, source, io, ctx, rate);
}

/** The xDS gRPC server over a SnapshotSource. */
export class XdsServer {
  private readonly server: grpc.Server;
  private readonly streams = new Set<XdsStream>();
  private readonly ctx: StreamContext;
  private readonly gates: ConnectionGate[] = [];
  /** The access control of each listener that has one. */
  private readonly guarded = new Map<ConnectionGate, AccessControl>();
  /** Rate budgets by connection (peer address), dropped when the connection closes. */
  private readonly rates = new Map<string, RateBudget>();
  private nextId = 0;

  constructor(
    private readonly source: SnapshotSource,
    private readonly options: ServerOptions = {},
  ) {
    this.ctx = createStreamContext(
      {
        ...(options.maxConcurrentStreams !== undefined ? { maxStreamsPerConnection: options.maxConcurrentStreams } : {}),
        ...options.limits,
      },
      Date.now,
      STREAM_SLICE_MS,
      options.turnBudgetMs ?? TURN_BUDGET_MS,
    );
    const limits = this.ctx.limits;
    this.server = new grpc.Server({
      "grpc.max_concurrent_streams": limits.maxStreamsPerConnection,
      "grpc.max_receive_message_length": limits.maxReceiveMessageBytes,
      "grpc.max_send_message_length": 256 * 1024 * 1024,
      // Server keepalive: a dead or frozen client does not hold its streams forever.
      "grpc.keepalive_time_ms": limits.keepaliveTimeMs,
      "grpc.keepalive_timeout_ms": limits.keepaliveTimeoutMs,
      "grpc.keepalive_permit_without_calls": 1,
      "grpc.http2.min_ping_interval_without_data_ms": 5000,
    });
    if (options.observer) this.ctx.observer = options.observer;
    for (const m of METHODS) this.addMethod(m);
    for (const u of options.unary ?? []) this.addUnary(u);
    // CSDS shows every proxy's config: answered on open (plaintext, local) listeners only, never on one that
    // authenticates callers and limits each to its own namespace.
    addCsdsService(
      this.server,
      () => this.streams,
      (peer) =>
        this.accessFor(peer)
          ? "client status (CSDS) is not served on the secure xDS port: it would show every proxy's config to any caller; read it on the plaintext port or the debug port"
          : undefined,
    );
  }

  /** The limits in force (defaults filled in). */
  get limits(): Readonly<ServerLimits> {
    return this.ctx.limits;
  }

  private addMethod(m: Method): void {
    const def = rawStreamingMethod(`/${m.service}/${m.method}`);
    const handler = (call: grpc.ServerDuplexStream<Buffer, Buffer>) => this.handle(m, call);
    this.server.addService({ [m.method]: def } as grpc.ServiceDefinition, { [m.method]: handler });
  }

  private addUnary(u: UnaryMethod): void {
    const name = u.path.split("/").pop()!;
    const def: grpc.MethodDefinition<Buffer, Buffer> = {
      path: u.path,
      requestStream: false,
      responseStream: false,
      requestSerialize: (b: Buffer) => b,
      requestDeserialize: (b: Buffer) => b,
      responseSerialize: (b: Buffer) => b,
      responseDeserialize: (b: Buffer) => b,
    };
    const handler = (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      const access = this.accessFor(call.getPeer());
      if (!access) {
        callback({ code: ACCESS_STATUS.UNAUTHENTICATED, details: `${u.path} is served on the TLS port only` });
        return;
      }
      access
        .authenticate(credentialsOf(call))
        .then((caller) => u.handle(call.request, caller))
        .then(
          (bytes) => callback(null, bytes),
          (e: Error) => callback({ code: statusOf(e), details: e.message }),
        );
    };
    this.server.addService({ [name]: def } as grpc.ServiceDefinition, { [name]: handler });
  }

  /**
   * The access control of the listener a call came in on. Peers are "ip:port"
   * of the client; should two listeners ever hold the same one, the guarded
   * listener wins, so a collision can only deny, never skip a check.
   */
  private accessFor(peer: string): AccessControl | undefined {
    for (const [gate, access] of this.guarded) if (gate.has(peer)) return access;
    return undefined;
  }

  private handle(m: Method, call: grpc.ServerDuplexStream<Buffer, Buffer>): void {
    const peer = call.getPeer();
    const access = this.accessFor(peer);
    if (!access) {
      this.serve(m, call, undefined);
      return;
    }
    // Requests wait (in order) until the caller is known: nothing is decoded for an unauthenticated peer.
    const early: Buffer[] = [];
    const hold = (b: Buffer) => early.push(b);
    let gone = false;
    const leave = () => (gone = true);
    call.on("data", hold);
    for (const ev of ["cancelled", "close", "error"]) call.once(ev, leave);
    access.authenticate(credentialsOf(call)).then(
      (caller) => {
        call.off("data", hold);
        for (const ev of ["cancelled", "close", "error"]) call.off(ev, leave);
        // A client that left while its token was being checked gets no stream (nothing would clean it up).
        if (gone || call.cancelled) return;
        this.serve(m, call, { access, caller }, early);
      },
      (e: Error) => {
        this.options.log?.warn({ peer, code: statusOf(e), details: e.message }, "xDS caller refused");
        call.emit("error", { code: statusOf(e), details: e.message });
      },
    );
  }

  private serve(
    m: Method,
    call: grpc.ServerDuplexStream<Buffer, Buffer>,
    guard: { access: AccessControl; caller: unknown } | undefined,
    early: Buffer[] = [],
  ): void {
    const id = `${m.mode}-${++this.nextId}`;
    const peer = call.getPeer();
    if (this.gates.some((g) => g.isRefused(peer))) {
      call.emit("error", {
        code: STATUS.RESOURCE_EXHAUSTED,
        details: `the server is at its limit of ${this.ctx.limits.maxConnections} connections; try again later or another replica`,
      });
      return;
    }
    const stream = newStream(
      m.mode,
      id,
      m.types,
      this.source,
      {
        write: (b) => call.write(b),
        fail: (code, details) => {
          this.options.log?.warn({ stream: id, proxy: stream.proxyId, peer, code, details }, "closing xDS stream");
          call.emit("error", { code, details });
        },
      },
      this.ctx,
      this.rateOf(peer),
    );
    this.streams.add(stream);
    this.options.onStreamOpen?.(stream);
    const done = () => {
      if (!this.streams.delete(stream)) return;
      stream.close();
      this.options.onStreamClose?.(stream);
    };
    let denied = false;
    // SotW requests repeat their names: unchanged ones are not decoded again (repeated-names.ts).
    const repeated = m.mode === "sotw" ? new RepeatedSotwNames() : undefined;
    const onData = (bytes: Buffer) => {
      if (denied) return;
      let req: XdsRequest;
      let namesInSteps: { count: number; steps: Steps<void> } | undefined;
      try {
        // Names are counted on the wire first: a request over its budget is refused before it is decoded.
        const count = namesOnWire(m.mode, bytes);
        if (stream.refuseIfOverBudget(count)) return;
        if (count > DECODE_NAMES_IN_STEPS_ABOVE) {
          // Many names: the rest now, the names in the stream's slices.
          const split = decodeRequestInSteps(m.mode, bytes, stream.proxyId === undefined);
          req = split.request;
          namesInSteps = { count, steps: split.names };
        } else {
          const reused = stream.proxyId !== undefined ? repeated?.reuse(bytes) : undefined;
          req = reused ?? decodeRequest(m.mode, bytes, stream.proxyId === undefined);
          if (!reused) repeated?.remember(bytes, req);
        }
      } catch (e) {
        stream.close();
        call.emit("error", { code: grpc.status.INVALID_ARGUMENT, details: `malformed request: ${(e as Error).message}` });
        return;
      }
      const why = guard && req.node && stream.proxyId === undefined ? guard.access.authorizeNode(guard.caller, req.node) : undefined;
      if (why !== undefined) {
        denied = true;
        this.options.log?.warn({ stream: id, proxy: req.node?.id, peer, details: why }, "xDS stream denied");
        stream.close();
        call.emit("error", { code: ACCESS_STATUS.PERMISSION_DENIED, details: why });
        return;
      }
      stream.onRequest(req, namesInSteps);
    };
    call.on("data", onData);
    for (const b of early) onData(b);
    call.on("drain", () => stream.onDrain());
    onStreamEnd(call, done);
  }

  private rateOf(peer: string): RateBudget {
    let rate = this.rates.get(peer);
    if (!rate) this.rates.set(peer, (rate = newRateBudget(this.ctx.limits, this.ctx.now)));
    return rate;
  }

  /**
   * Bind and start; resolves to the bound port (useful with port 0). The
   * socket is ours (see ConnectionGate), gRPC gets connections that speak HTTP/2.
   */
  async listen<Caller>(address: string, credentials = grpc.ServerCredentials.createInsecure(), access?: AccessControl<Caller>): Promise<number> {
    const { host, port } = splitAddress(address);
    const injector = this.server.createConnectionInjector(credentials);
    const gate = new ConnectionGate({
      maxConnections: this.ctx.limits.maxConnections,
      handshakeTimeoutMs: this.ctx.limits.handshakeTimeoutMs,
      plaintext: !credentials._isSecure(),
      inject: (socket) => injector.injectConnection(socket),
      onClose: (peer) => this.rates.delete(peer),
      ...(this.options.log ? { log: this.options.log } : {}),
    });
    const bound = await gate.listen(host, port);
    this.gates.push(gate);
    if (access) this.guarded.set(gate, access as AccessControl);
    return bound;
  }

  /** Open connections within the limit, over all listeners. */
  get connectionCount(): number {
    return this.gates.reduce((n, g) => n + g.count, 0);
  }

  /** Names subscribed over all streams (counted against limits.maxSubscribedNamesTotal). */
  get subscribedNames(): number {
    return this.ctx.budget.total;
  }

  /** Stop accepting, end open streams cleanly, wait up to `graceMs`, then force. */
  async shutdown(graceMs = 5000): Promise<void> {
    for (const s of this.streams) s.close();
    for (const g of this.gates) g.close();
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
    for (const g of this.gates) g.close();
    this.server.forceShutdown();
  }

  /** Per proxy and type: what was sent, acked, rejected (for /debug/syncz). */
  syncz(): object[] {
    return [...this.streams]
      .map((s) => ({
        proxy: s.proxyId ?? null,
        stream: s.id,
        mode: s.mode,
        server: this.options.replica ?? hostname(),
        cluster: s.nodeInfo?.cluster ?? null,
        clusterId: typeof s.nodeInfo?.metadata.CLUSTER_ID === "string" ? s.nodeInfo.metadata.CLUSTER_ID : null,
        istioVersion: typeof s.nodeInfo?.metadata.ISTIO_VERSION === "string" ? s.nodeInfo.metadata.ISTIO_VERSION : null,
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

/** The token and the verified client certificate a call came with. */
function credentialsOf(call: grpc.ServerUnaryCall<Buffer, Buffer> | grpc.ServerDuplexStream<Buffer, Buffer>): CallCredentials {
  const token = bearerToken(call.metadata.get("authorization"));
  const der = call.getAuthContext().sslPeerCertificate?.raw;
  return { peer: call.getPeer(), ...(token ? { bearerToken: token } : {}), ...(der ? { peerCertificateDer: der } : {}) };
}

/** "host:port", "[v6]:port" or ":port" (all interfaces). */
function splitAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d+)$/.exec(address);
  if (!m) throw new Error(`cannot parse listen address "${address}": want HOST:PORT`);
  const host = m[1] ?? m[2] ?? "";
  return { host: host === "" ? "::" : host, port: Number(m[3]) };
}
