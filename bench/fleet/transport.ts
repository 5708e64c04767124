/**
 * gRPC bidi streams over Node's raw http2 client: HTTP/2 + gRPC length-prefixed
 * framing is all an xDS stream is on the wire, and skipping grpc-js's client
 * machinery keeps the fleet cheap. Several streams share one connection, as
 * grpc-js channels do; a worker uses many connections.
 */
import * as http2 from "node:http2";
import { GrpcDeframer, grpcFrame } from "../wire";

export interface StreamHandle {
  write(msg: Buffer): void;
  close(): void;
}

export interface StreamEvents {
  onMessage(msg: Buffer): void;
  /** The stream ended, with the gRPC status (or an HTTP/2 / socket error description). */
  onEnd(reason: string): void;
}

/** Large windows, as Envoy uses for its xDS cluster, so big SotW responses never stall on flow control. */
const WINDOW = 64 * 1024 * 1024;

export class Connection {
  private session?: http2.ClientHttp2Session;
  streams = 0;

  constructor(private readonly target: string) {}

  private live(): http2.ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const s = http2.connect(`http://${this.target}`, {
      settings: { initialWindowSize: WINDOW, enablePush: false },
      maxSessionMemory: 1024,
      peerMaxConcurrentStreams: 100_000,
    });
    s.on("connect", () => s.setLocalWindowSize(WINDOW * 4));
    s.on("error", () => {
      /* surfaced on each stream's close */
    });
    s.on("goaway", () => {
      if (this.session === s) this.session = undefined;
    });
    this.session = s;
    return s;
  }

  open(path: string, ev: StreamEvents): StreamHandle {
    const req = this.live().request(
      { ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", "user-agent": "mini-pilot-bench-fleet" },
      { endStream: false },
    );
    this.streams++;
    const deframer = new GrpcDeframer((m) => ev.onMessage(m));
    let status = "";
    let ended = false;
    const end = (why: string) => {
      if (ended) return;
      ended = true;
      this.streams--;
      ev.onEnd(why);
    };
    req.on("response", (h) => {
      if (h["grpc-status"] !== undefined) status = `grpc-status ${String(h["grpc-status"])} ${String(h["grpc-message"] ?? "")}`;
    });
    req.on("data", (chunk: Buffer) => {
      try {
        deframer.push(chunk);
      } catch (e) {
        req.close(http2.constants.NGHTTP2_PROTOCOL_ERROR);
        end(`bad frame: ${(e as Error).message}`);
      }
    });
    req.on("trailers", (h) => {
      status = `grpc-status ${String(h["grpc-status"] ?? "?")} ${decodeURIComponent(String(h["grpc-message"] ?? ""))}`;
    });
    req.on("error", (e: Error) => {
      status ||= e.message;
    });
    req.on("close", () => end(status || `stream closed (rst ${req.rstCode ?? "?"})`));
    return {
      write: (msg) => {
        if (!ended && !req.destroyed) req.write(grpcFrame(msg));
      },
      close: () => {
        if (!req.destroyed) req.close(http2.constants.NGHTTP2_CANCEL);
      },
    };
  }

  close(): void {
    this.session?.destroy();
    this.session = undefined;
  }
}
