/**
 * The floor: replays mini-pilot's own responses (recorded in the same
 * scenario by mini-pilot-server with BENCH_RECORD=1, see response-trace.ts) on
 * the same transport as mini-pilot (grpc-js, identity serializers). For every
 * client stream it writes exactly the bytes mini-pilot wrote to that client, in
 * the same order, each as soon as the stream has sent as many requests and the
 * floor has been given as many snapshots as mini-pilot had when it wrote them.
 * It decodes nothing but the node id of a stream's first request and does no
 * other work, so whatever mini-pilot spends above it is the price of its logic:
 * mini-pilot ÷ floor is at least 1 by construction (up to noise).
 */
import * as grpc from "@grpc/grpc-js";
import { announce, processStats, startControlHttp } from "./control-http";
import { StreamKeys, Trace, TraceEvent, TraceMode, loadTrace, nodeIdOf } from "./response-trace";
import { rawStreamingMethod } from "../../src/util/raw-method";
import { onStreamEnd } from "../../src/util/stream-end";

const file = process.env.BENCH_REPLAY_FILE;
if (!file) {
  process.stderr.write("floor server: BENCH_REPLAY_FILE is not set (the floor replays a recording of mini-pilot's responses)\n");
  process.exit(2);
}
const trace: Trace = loadTrace(file);
const keys = new StreamKeys();
let snapshots = 0;
/** Streams whose node mini-pilot never saw (their clients get nothing: reported in /stats). */
let unknownStreams = 0;
let writes = 0;
const streams = new Set<ReplayStream>();

/** Streams flushed per event-loop turn on a snapshot (so sockets drain while the rest are written). */
const FANOUT_BATCH = Number(process.env.FLOOR_FANOUT_BATCH ?? 64);

class ReplayStream {
  private events: TraceEvent[] | undefined;
  private pos = 0;
  private requests = 0;

  constructor(
    private readonly mode: TraceMode,
    private readonly write: (b: Buffer) => void,
  ) {}

  onRequest(b: Buffer): void {
    if (!this.events) {
      const id = nodeIdOf(this.mode, b);
      this.events = (id !== undefined && trace.streams.get(keys.key(this.mode, id))) || [];
      if (this.events.length === 0) unknownStreams++;
    }
    this.requests++;
    this.pump();
  }

  /** Write every recorded response whose preconditions now hold. */
  pump(): void {
    const ev = this.events;
    if (!ev) return;
    while (this.pos < ev.length) {
      const [k, r, blob] = ev[this.pos]!;
      if (k > snapshots || r > this.requests) return;
      this.write(trace.blobs[blob]!);
      writes++;
      this.pos++;
    }
  }
}

function onSnapshot(): object {
  snapshots++;
  const list = [...streams];
  let i = 0;
  const step = () => {
    const end = FANOUT_BATCH > 0 ? Math.min(list.length, i + FANOUT_BATCH) : list.length;
    for (; i < end; i++) list[i]!.pump();
    if (i < list.length) setImmediate(step);
  };
  step();
  return { nodes: streams.size };
}

async function main(): Promise<void> {
  const server = new grpc.Server({ "grpc.max_concurrent_streams": 100_000, "grpc.max_send_message_length": 256 * 1024 * 1024 });
  for (const [method, mode] of [
    ["StreamAggregatedResources", "sotw"],
    ["DeltaAggregatedResources", "delta"],
  ] as const) {
    const def = rawStreamingMethod(`/envoy.service.discovery.v3.AggregatedDiscoveryService/${method}`);
    server.addService({ [method]: def } as grpc.ServiceDefinition, {
      [method]: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        const s = new ReplayStream(mode, (b) => call.write(b));
        streams.add(s);
        const done = () => streams.delete(s);
        call.on("data", (b: Buffer) => s.onRequest(b));
        onStreamEnd(call, done);
      },
    });
  }
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const web = await startControlHttp({
    snapshot: onSnapshot,
    rawSnapshot: true,
    stats: () => ({ ...processStats(), streamsOpen: streams.size, writes, unknownStreams, recordedStreams: trace.streams.size }),
  });
  announce(port, web, async () => server.forceShutdown());
}

void main().catch((e: Error) => {
  process.stderr.write(`floor server: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
