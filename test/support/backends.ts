/** Tiny gRPC backends that answer with their own name, for routing tests. */
import * as grpc from "@grpc/grpc-js";

export const WHO_PATH = "/test.Who/Name";

export interface Backend {
  name: string;
  port: number;
  stop(): Promise<void>;
}

export async function startBackend(name: string): Promise<Backend> {
  const server = new grpc.Server();
  const def: grpc.MethodDefinition<Buffer, Buffer> = {
    path: WHO_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: (b) => b,
    requestDeserialize: (b) => b,
    responseSerialize: (b) => b,
    responseDeserialize: (b) => b,
  };
  server.addService({ Name: def } as grpc.ServiceDefinition, {
    Name: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from(name)),
  });
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
  );
  return { name, port, stop: () => new Promise((r) => server.tryShutdown(() => r())) };
}

/** Call `who` n times on a client; count answers by backend name. */
export async function tally(client: grpc.Client, n: number, metadata?: grpc.Metadata): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  const one = () =>
    new Promise<string>((resolve, reject) =>
      client.makeUnaryRequest(
        WHO_PATH,
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.alloc(0),
        metadata ?? new grpc.Metadata(),
        { deadline: Date.now() + 5000 },
        (e, v) => (e ? reject(e) : resolve(v!.toString())),
      ),
    );
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, n - i) }, one));
    for (const who of batch) counts[who] = (counts[who] ?? 0) + 1;
  }
  return counts;
}

/** Is `observed` out of `n` consistent with probability `p`? (within 4.5 standard deviations) */
export function withinBinomial(observed: number, n: number, p: number): boolean {
  const sd = Math.sqrt(n * p * (1 - p));
  return Math.abs(observed - n * p) <= 4.5 * sd + 1;
}
