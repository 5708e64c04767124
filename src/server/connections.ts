/**
 * The TCP front door of the xDS server. gRPC gets a connection only once it
 * has spoken: a connection that sends nothing within the handshake timeout, or
 * (plaintext) whose first bytes are not the HTTP/2 preface, is closed at once
 * instead of being held. Connections beyond the limit are still handed to
 * gRPC, marked, so their calls end with RESOURCE_EXHAUSTED and a reason
 * rather than a bare reset; they are closed shortly after.
 */
import * as net from "node:net";

/** What an HTTP/2 client sends first (RFC 9113 §3.4). */
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
/** Refused connections kept open to carry their error; beyond this they are dropped outright. */
const MAX_REFUSED_OPEN = 64;
/** How long a refused connection may stay to deliver its error. */
const REFUSED_GRACE_MS = 2000;

export interface GateOptions {
  maxConnections: number;
  handshakeTimeoutMs: number;
  /** Check the HTTP/2 preface (plaintext only: TLS starts with its own handshake). */
  plaintext: boolean;
  inject(socket: net.Socket): void;
  /** A connection closed (`peer` as in `isRefused`). */
  onClose?(peer: string): void;
  log?: { warn(o: object, msg: string): void };
}

interface Connection {
  socket: net.Socket;
  refused: boolean;
  /** Handed to gRPC (which then closes it on shutdown). */
  injected: boolean;
}

export class ConnectionGate {
  private readonly servers: net.Server[] = [];
  /** By peer address "ip:port", as gRPC's `call.getPeer()` names it. */
  private readonly open = new Map<string, Connection>();
  private accepted = 0;
  private refusedOpen = 0;
  private warnedFull = false;

  constructor(private readonly opts: GateOptions) {}

  listen(host: string, port: number): Promise<number> {
    const server = net.createServer({ noDelay: true }, (socket) => this.onConnection(socket));
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host, port }, () => {
        server.off("error", reject);
        server.on("error", (e) => this.opts.log?.warn({ err: e.message }, "xDS listener error"));
        resolve((server.address() as net.AddressInfo).port);
      });
    });
  }

  /** Whether a connection from `peer` is open on this listener. */
  has(peer: string): boolean {
    return this.open.has(peer);
  }

  /** Whether the connection a call came in on was over the connection limit. */
  isRefused(peer: string): boolean {
    return this.open.get(peer)?.refused ?? false;
  }

  /** Open connections within the limit. */
  get count(): number {
    return this.accepted;
  }

  /**
   * Stop listening (the port is released at once) and drop connections that
   * never reached gRPC; gRPC's own shutdown closes the rest.
   */
  close(): void {
    for (const s of this.servers) s.close();
    for (const c of this.open.values()) if (!c.injected) c.socket.destroy();
  }

  private onConnection(socket: net.Socket): void {
    // Errors before gRPC owns the socket (resets, timeouts) only close it.
    socket.on("error", () => socket.destroy());
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    const refused = this.accepted >= this.opts.maxConnections;
    if (refused && this.refusedOpen >= MAX_REFUSED_OPEN) {
      socket.destroy();
      return;
    }
    const conn: Connection = { socket, refused, injected: false };
    this.open.set(peer, conn);
    if (refused) {
      this.refusedOpen++;
      if (!this.warnedFull) this.opts.log?.warn({ limit: this.opts.maxConnections }, "xDS connection limit reached; refusing new connections");
      this.warnedFull = true;
      setTimeout(() => socket.destroy(), REFUSED_GRACE_MS).unref();
    } else {
      this.accepted++;
    }
    socket.once("close", () => {
      if (this.open.get(peer) === conn) this.open.delete(peer);
      if (refused) this.refusedOpen--;
      else this.accepted--;
      if (this.accepted < this.opts.maxConnections) this.warnedFull = false;
      this.opts.onClose?.(peer);
    });
    const timer = setTimeout(() => socket.destroy(), this.opts.handshakeTimeoutMs);
    timer.unref();
    socket.once("data", (first: Buffer) => {
      clearTimeout(timer);
      socket.pause();
      if (this.opts.plaintext && !startsLikePreface(first)) {
        socket.destroy();
        return;
      }
      // Give the bytes back; the HTTP/2 session reads what the socket buffered.
      socket.unshift(first);
      conn.injected = true;
      this.opts.inject(socket);
    });
  }
}

/** The first bytes agree with the preface as far as they go (a short first read is fine). */
function startsLikePreface(b: Buffer): boolean {
  const n = Math.min(b.length, PREFACE.length);
  return b.subarray(0, n).equals(PREFACE.subarray(0, n));
}
