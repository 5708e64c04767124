/**
 * How long one big request holds the event loop: a stream handles a delta
 * subscribe of `--names` unknown names, the matching unsubscribe, and a SotW
 * request of as many names, while a 1 ms timer records the longest gap between
 * its ticks (what every other client, /healthz and new connections wait at
 * worst). In one process, no network: the server's own cost, with less noise
 * from a loaded machine than bench/greedy-client.ts. `--server-root` runs the
 * server code of another build for a before/after comparison.
 *
 *   node dist/bench/request-turns.js [--names 100000] [--rounds 5] [--server-root DIR]
 */
import * as path from "node:path";
import { messageType } from "../src/xds/protos";
import { encodeResource, EncodedResource } from "../src/xds/resource";
import { CLUSTER, ENDPOINT } from "../src/xds/types";

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

interface Stream {
  onRequest(req: object, namesInSteps?: { count: number; steps: unknown }): void;
  close(): void;
  /** Present from the sliced build on: work still queued. */
  work?: unknown[];
  working?: boolean;
}
type StreamClass = new (id: string, types: string[], source: unknown, io: object, ctx: unknown) => Stream;

async function main(): Promise<void> {
  const root = path.resolve(flag("server-root", path.resolve(__dirname, "..")));
  const count = Number(flag("names", "100000"));
  const rounds = Number(flag("rounds", "5"));
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loads the modules of another build (--server-root)
  const req = (p: string) => require(path.resolve(root, p)) as Record<string, unknown>;
  const { SnapshotCache } = req("src/cache/snapshot-cache") as { SnapshotCache: new (r: () => unknown) => { set(g: string, s: unknown): void } };
  const { makeSnapshot } = req("src/cache/snapshot") as { makeSnapshot: (r: EncodedResource[]) => unknown };
  const { decodeRequest, decodeRequestInSteps } = req("src/server/decode") as {
    decodeRequest: (mode: string, b: Buffer) => object;
    /** From the build that decodes big requests' names in steps on. */
    decodeRequestInSteps?: (mode: string, b: Buffer) => { request: object; names: unknown };
  };
  const { DeltaStream } = req("src/server/delta-stream") as { DeltaStream: StreamClass };
  const { SotwStream } = req("src/server/sotw-stream") as { SotwStream: StreamClass };
  const { createStreamContext } = req("src/server/context") as { createStreamContext: (l: object) => unknown };

  const cache = new SnapshotCache(() => ({ ok: true, group: "all" }));
  const resources: EncodedResource[] = [];
  for (let i = 0; i < 200; i++) resources.push(encodeResource(ENDPOINT, { cluster_name: `c${i}`, endpoints: [] }));
  cache.set("all", makeSnapshot(resources));
  // Budgets out of the way: this measures the work of a request the budget lets through.
  const ctx = createStreamContext({
    subscribedNamesPerSecond: 1e9,
    subscribedNamesBurst: 1e9,
    maxNamesPerRequest: 1e7,
    maxSubscribedNamesPerStream: 1e7,
    maxSubscribedNamesTotal: 1e9,
    requestsPerSecond: 1e6,
    requestBurst: 1e6,
    requestCpuMsPerSecond: 1e9,
    requestCpuBurstMs: 1e9,
  });
  const names = Array.from({ length: count }, (_, i) => `greedy-unknown-name-${i}`);
  const encode = (type: string, o: object) => {
    const t = messageType(type);
    return Buffer.from(t.encode(t.fromObject(o)).finish());
  };
  const node = { id: "sidecar~10.0.0.1~greedy.default~default.svc.cluster.local", cluster: "c" };
  const cases: { label: string; mode: "delta" | "sotw"; bytes: Buffer }[] = [
    {
      label: "delta subscribe",
      mode: "delta",
      bytes: encode("envoy.service.discovery.v3.DeltaDiscoveryRequest", { type_url: ENDPOINT, node, resource_names_subscribe: names }),
    },
    {
      label: "delta unsubscribe",
      mode: "delta",
      bytes: encode("envoy.service.discovery.v3.DeltaDiscoveryRequest", { type_url: ENDPOINT, resource_names_unsubscribe: names }),
    },
    { label: "sotw request", mode: "sotw", bytes: encode("envoy.service.discovery.v3.DiscoveryRequest", { type_url: ENDPOINT, node, resource_names: names }) },
  ];
  const io = { write: () => true, fail: (code: number, message: string) => process.stderr.write(`refused: ${code} ${message}\n`) };
  const worst = new Map<string, { turn: number[]; total: number[]; decode: number[] }>(cases.map((c) => [c.label, { turn: [], total: [], decode: [] }]));
  let gap = 0;
  let last = performance.now();
  const tick = setInterval(() => {
    const t = performance.now();
    gap = Math.max(gap, t - last);
    last = t;
  }, 1);
  const turn = () => new Promise((r) => setImmediate(r));
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  for (let r = 0; r < rounds; r++) {
    let delta: Stream | undefined;
    for (const c of cases) {
      const stream =
        c.mode === "sotw"
          ? new SotwStream(`s${r}`, [CLUSTER, ENDPOINT], cache, io, ctx)
          : (delta ??= new DeltaStream(`d${r}`, [CLUSTER, ENDPOINT], cache, io, ctx));
      await sleep(30);
      gap = 0;
      last = performance.now();
      const start = performance.now();
      // As the gRPC edge does: decode (a big request's names in steps, where the build can), then hand it to the stream.
      if (decodeRequestInSteps) {
        const split = decodeRequestInSteps(c.mode, c.bytes);
        worst.get(c.label)!.decode.push(performance.now() - start);
        stream.onRequest(split.request, { count, steps: split.names });
      } else {
        const decoded = decodeRequest(c.mode, c.bytes);
        worst.get(c.label)!.decode.push(performance.now() - start);
        stream.onRequest(decoded);
      }
      while (stream.working || (stream.work?.length ?? 0) > 0) await turn();
      const total = performance.now() - start;
      await sleep(5);
      worst.get(c.label)!.turn.push(gap);
      worst.get(c.label)!.total.push(total);
      if (c.mode === "sotw") stream.close();
    }
    delta?.close();
  }
  clearInterval(tick);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const round1 = (n: number) => Math.round(n * 10) / 10;
  const out: Record<string, unknown> = { serverRoot: root, names: count, rounds };
  for (const [label, w] of worst)
    out[label] = {
      longestTurnMedianMs: round1(median(w.turn)),
      longestTurnMaxMs: round1(Math.max(...w.turn)),
      totalMedianMs: round1(median(w.total)),
      decodeMedianMs: round1(median(w.decode)),
    };
  process.stdout.write(JSON.stringify(out) + "\n");
}

void main().catch((e: Error) => {
  process.stderr.write(`request-turns bench: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
