/**
 * A bidirectional-streaming gRPC method whose messages stay bytes: the xDS, SDS and bench servers decode and encode
 * the protobufs themselves (encoded once, written to many streams), so grpc-js only frames them.
 */
import type * as grpc from "@grpc/grpc-js";

const same = (b: Buffer): Buffer => b;

/** The method at `path` (`/<package.Service>/<Method>`), streaming both ways, Buffers in and out. */
export function rawStreamingMethod(path: string): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path,
    requestStream: true,
    responseStream: true,
    requestSerialize: same,
    requestDeserialize: same,
    responseSerialize: same,
    responseDeserialize: same,
  };
}
