/** The one way a gRPC stream's server side learns the stream is over, shared by the xDS, SDS and bench servers. */

/** The part of a grpc-js server stream this needs (kept structural: src/util imports nothing). */
export interface EndableCall {
  on(event: "end" | "error" | "cancelled" | "close", listener: () => void): unknown;
  end(): void;
}

/**
 * Call `done` when the stream ends, however it ends: the client half-closes (answered by closing ours), it errors,
 * it is cancelled, or it closes. `done` may run more than once, so it must be idempotent (a Set delete, say).
 */
export function onStreamEnd(call: EndableCall, done: () => void): void {
  call.on("end", () => {
    done();
    call.end();
  });
  call.on("error", done);
  call.on("cancelled", done);
  call.on("close", done);
}
