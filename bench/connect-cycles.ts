/**
 * Memory after many connect/disconnect cycles with distinct node ids: what a
 * control plane keeps for proxies that are gone. Loopback only, bounded.
 *
 *   node --expose-gc dist/bench/connect-cycles.js [--cycles 100000] [--concurrency 50]
 *        [--namespaces 10] [--config-dir examples]
 *
 * The real pipeline (folder source, PushPipeline, XdsServer) runs in this
 * process; a child process runs the cycles: each opens a SotW ADS stream as a
 * new proxy (node id, pod name and `app` label all unique, namespace one of
 * `--namespaces`), waits for its clusters and closes the stream. One proxy per
 * namespace stays connected throughout (as long-lived pods do). At each
 * checkpoint the cycles pause, this process collects garbage twice and records
 * the live heap, RSS and what the pipeline holds.
 */
import { fork } from "node:child_process";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { ConfigStore } from "../src/store";
import { DirSource } from "../src/sources/file/dir-source";
import { PushPipeline } from "../src/push/pipeline";
import { XdsServer } from "../src/server/grpc-server";
import { messageType } from "../src/xds/protos";
import { fromJson } from "../src/xds/json";
import { CLUSTER } from "../src/xds/types";

const ADS = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

interface Checkpoint {
  cycles: number;
  heapUsedMiB: number;
  rssMiB: number;
  groups: number;
  nodes: number;
  snapshots: number;
  streams: number;
  seconds: number;
}

async function runServer(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run with node --expose-gc");
  const cycles = Number(flag("cycles", "100000"));
  const store = new ConfigStore();
  const source = new DirSource({ dirs: [path.resolve(flag("config-dir", "examples"))], store, pollMs: 0 });
  source.start();
  const pipeline = new PushPipeline(store);
  pipeline.flush();
  // Each of the 10 connections carries thousands of proxies' streams here, so the
  // per-connection request rate (meant for one Envoy) is lifted.
  const server = new XdsServer(pipeline.cache, { limits: { requestsPerSecond: 1_000_000, requestBurst: 1_000_000 } });
  const port = await server.listen("127.0.0.1:0");
  const started = Date.now();
  const points: Checkpoint[] = [];
  const measure = (done: number) => {
    gc();
    gc();
    const m = process.memoryUsage();
    const p: Checkpoint = {
      cycles: done,
      heapUsedMiB: mib(m.heapUsed),
      rssMiB: mib(m.rss),
      groups: pipeline.groupCount(),
      nodes: pipeline.cache.nodeCount,
      snapshots: pipeline.cache.snapshotCount,
      streams: server.streamCount,
      seconds: Math.round((Date.now() - started) / 100) / 10,
    };
    points.push(p);
    process.stderr.write(JSON.stringify(p) + "\n");
  };
  const child = fork(__filename, ["--role", "cycles", "--port", String(port), ...process.argv.slice(2)]);
  await new Promise<void>((resolve, reject) => {
    child.on("message", (m: { checkpoint?: number; done?: boolean }) => {
      if (m.checkpoint !== undefined) {
        // Let the server see the closes of the last batch before measuring.
        setTimeout(() => {
          measure(m.checkpoint!);
          child.send("go");
        }, 300);
      }
      if (m.done) resolve();
    });
    child.on("exit", (code) => (code ? reject(new Error(`cycles process exited ${code}`)) : resolve()));
  });
  child.kill();
  const first = points[1] ?? points[0]!;
  const last = points[points.length - 1]!;
  process.stdout.write(
    JSON.stringify({
      cycles,
      checkpoints: points,
      heapGrowthMiB: Math.round((last.heapUsedMiB - first.heapUsedMiB) * 10) / 10,
      heapBytesPerCycle: Math.round(((last.heapUsedMiB - first.heapUsedMiB) * 1024 * 1024) / Math.max(1, last.cycles - first.cycles)),
    }) + "\n",
  );
  source.stop();
  pipeline.stop();
  await server.shutdown(200);
  process.exit(0);
}

async function runCycles(): Promise<void> {
  const port = Number(flag("port", "0"));
  const cycles = Number(flag("cycles", "100000"));
  const concurrency = Number(flag("concurrency", "50"));
  const namespaces = Number(flag("namespaces", "10"));
  const every = Math.max(1, Math.floor(cycles / 5));
  const reqType = messageType("envoy.service.discovery.v3.DiscoveryRequest");
  const structType = messageType("google.protobuf.Struct");
  const clients = Array.from(
    { length: 10 },
    () => new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 }),
  );
  const serialize = (o: object) => Buffer.from(reqType.encode(reqType.fromObject(o)).finish());

  /** One proxy's stream: resolves once its first response arrives; `close` ends it. */
  const proxy = (n: number, name: string, labels: Record<string, string>) => {
    const ns = `ns-${n % namespaces}`;
    const call = clients[n % clients.length]!.makeBidiStreamRequest(ADS, serialize, (b: Buffer) => b);
    const first = new Promise<void>((resolve, reject) => {
      call.once("data", () => resolve());
      call.once("error", (e: Error) => reject(e));
    });
    call.on("error", (e: grpc.ServiceError) => {
      if (name.startsWith("anchor") || process.env.CYCLES_DEBUG) process.stderr.write(`${name}: ${e.code} ${e.details}\n`);
    });
    const ip = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
    call.write({
      type_url: CLUSTER,
      node: { id: `sidecar~${ip}~${name}.${ns}~${ns}.svc.cluster.local`, cluster: name, metadata: fromJson(structType, { NAMESPACE: ns, LABELS: labels }) },
    } as unknown as Buffer);
    // Half-close and let the server end the stream: cancelling (RST_STREAM) thousands of
    // streams on one connection trips HTTP/2 rapid-reset protection, which closes it.
    return { first, close: () => call.end() };
  };

  const anchors = Array.from({ length: namespaces }, (_, i) => proxy(i, `anchor-${i}`, { app: "anchor" }));
  await Promise.all(anchors.map((a) => a.first));
  const checkpoint = (done: number) =>
    new Promise<void>((resolve) => {
      process.once("message", () => resolve());
      process.send!({ checkpoint: done });
    });
  await checkpoint(0);
  let next = 0;
  let done = 0;
  let inFlight = 0;
  let failures = 0;
  /** Set while a checkpoint waits for cycles in flight and then for the measurement. */
  let pause: Promise<void> | undefined;
  const worker = async () => {
    for (;;) {
      while (pause) await pause;
      if (next >= cycles) return;
      const n = next++;
      inFlight++;
      const p = proxy(n, `pod-${n}`, { app: `app-${n}`, version: `v${n % 3}` });
      await p.first.catch(() => failures++);
      p.close();
      inFlight--;
      done++;
      if (done % every === 0 && !pause) {
        const at = done;
        pause = (async () => {
          while (inFlight > 0) await new Promise((r) => setTimeout(r, 5));
          await checkpoint(at);
          pause = undefined;
        })();
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  if (pause) await pause;
  if (failures > 0) process.stderr.write(`${failures} cycles got no response\n`);
  process.send!({ done: true });
}

function mib(n: number): number {
  return Math.round((n / 1024 / 1024) * 10) / 10;
}

if (flag("role", "server") === "cycles") void runCycles().catch((e: Error) => (process.stderr.write(e.stack ?? e.message), process.exit(1)));
else
  void runServer().catch((e: Error) => {
    process.stderr.write(`connect-cycles bench: ${e.stack ?? e.message}\n`);
    process.exit(1);
  });
