/**
 * The greedy-client effect: push latency of ordinary clients while one client
 * tries to hog the server. Loopback only, bounded in time.
 *
 *   node dist/bench/greedy-client.js [--clients 200] [--seconds 15] [--greedy none|subscribe|storm]
 *        [--names 100000] [--server-root DIR] [--request-time MS[/BURST_MS]]
 *
 * The server runs in this process (an XdsServer over a SnapshotCache with 200
 * clusters); the ordinary clients run in one child process (SotW ADS, CDS
 * wildcard, every response ACKed) and the greedy client in another:
 *   subscribe  a delta stream that subscribes `--names` unknown names, then
 *              unsubscribes them, again and again; refused streams are
 *              reopened at once under a new node id
 *   storm      SotW streams that NACK every response and send stale requests
 *              as fast as the socket takes them
 * Every 300 ms one cluster changes; latency is from when the change was due
 * to each ordinary client's receipt of the response carrying it (same clock,
 * performance.timeOrigin + now()), so a blocked server shows as latency. `--server-root` runs the server code
 * of another build (e.g. an older commit's dist) for a before/after comparison.
 */
import { fork } from "node:child_process";
import { monitorEventLoopDelay } from "node:perf_hooks";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { messageType } from "../src/xds/protos";
import { encodeResource, EncodedResource } from "../src/xds/resource";
import { makeSnapshot } from "../src/cache/snapshot";
import { CLUSTER, ENDPOINT } from "../src/xds/types";

const ADS = "/envoy.service.discovery.v3.AggregatedDiscoveryService";
const now = () => performance.timeOrigin + performance.now();

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

// ------------------------------------------------------------------ server

function resources(version: number): EncodedResource[] {
  const ads = { ads: {}, resource_api_version: "V3" };
  const out: EncodedResource[] = [];
  for (let i = 0; i < 200; i++) {
    const timeout = i === 0 ? `${1 + (version % 50)}s` : "1s";
    out.push(encodeResource(CLUSTER, { name: `c${i}`, type: "EDS", eds_cluster_config: { eds_config: ads }, connect_timeout: timeout }));
    out.push(
      encodeResource(ENDPOINT, {
        cluster_name: `c${i}`,
        endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 9000 + i } } } }] }],
      }),
    );
  }
  return out;
}

interface ServerModules {
  XdsServer: new (source: unknown, opts?: object) => { listen(a: string): Promise<number>; shutdown(ms: number): Promise<void>; streamCount: number };
  SnapshotCache: new (resolve: () => unknown) => { set(group: string, s: unknown): void };
}

function loadServer(root: string): ServerModules {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loads the modules of another build (--server-root)
  const req = (p: string) => require(path.resolve(root, p)) as Record<string, unknown>;
  let cacheModule: Record<string, unknown>;
  try {
    cacheModule = req("src/cache/snapshot-cache");
  } catch {
    cacheModule = req("src/server/snapshot-source");
  }
  return {
    XdsServer: req("src/server/grpc-server").XdsServer as ServerModules["XdsServer"],
    SnapshotCache: cacheModule.SnapshotCache as ServerModules["SnapshotCache"],
  };
}

async function runServer(): Promise<void> {
  const clients = Number(flag("clients", "200"));
  const seconds = Number(flag("seconds", "15"));
  const greedy = flag("greedy", "none");
  const root = flag("server-root", path.resolve(__dirname, ".."));
  const { XdsServer, SnapshotCache } = loadServer(root);
  const cache = new SnapshotCache(() => ({ ok: true, group: "all" }));
  let version = 0;
  const snapshotOf = (v: number) => makeSnapshot(resources(v));
  cache.set("all", snapshotOf(version));
  // --request-time MS[/BURST]: the server's request-time budget per connection (default: DEFAULT_LIMITS).
  const requestTime = flag("request-time", "");
  const [rate, burst] = requestTime.split("/").map(Number);
  const limits = requestTime ? { requestCpuMsPerSecond: rate, ...(burst ? { requestCpuBurstMs: burst } : {}) } : undefined;
  const server = new XdsServer(cache, { log: { info: () => undefined, warn: () => undefined }, ...(limits ? { limits } : {}) });
  const port = await server.listen("127.0.0.1:0");

  const fleet = fork(__filename, ["--role", "fleet", "--port", String(port), "--clients", String(clients)]);
  const received: { version: string; at: number }[] = [];
  let ready = 0;
  fleet.on("message", (m: { ready?: number; got?: { version: string; at: number }[] }) => {
    if (m.ready) ready = m.ready;
    if (m.got) received.push(...m.got);
  });
  while (ready < clients) await sleep(50);
  const greedyChild =
    greedy === "none" ? undefined : fork(__filename, ["--role", "greedy", "--mode", greedy, "--port", String(port), "--names", flag("names", "100000")]);
  let greedyStats: Record<string, number> = {};
  greedyChild?.on("message", (m: Record<string, number>) => (greedyStats = m));
  await sleep(greedyChild ? 2000 : 500);

  const sentAt = new Map<string, number>();
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const cpuAtStart = process.cpuUsage().user + process.cpuUsage().system;
  // Changes are due on a fixed schedule and latency counts from when a change
  // was due, so time the server spends blocked (this loop included) is measured,
  // not skipped.
  const start = now();
  const total = Math.floor((seconds * 1000) / 300);
  let changes = 0;
  while (changes < total) {
    const due = start + changes * 300;
    if (due > now()) await sleep(due - now());
    version++;
    const snap = snapshotOf(version) as { types: Record<string, { version: string }> };
    sentAt.set(snap.types[CLUSTER]!.version, due);
    cache.set("all", snap);
    changes++;
  }
  await sleep(3000);
  loop.disable();
  fleet.send("report");
  await sleep(500);
  const latencies: number[] = [];
  const seen = new Set<string>();
  for (const r of received) {
    const t0 = sentAt.get(r.version);
    if (t0 !== undefined) {
      latencies.push(r.at - t0);
      seen.add(r.version);
    }
  }
  latencies.sort((a, b) => a - b);
  const q = (p: number) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]! : NaN);
  const expected = changes * clients;
  const result = {
    greedy,
    serverRoot: root,
    clients,
    changes,
    samples: latencies.length,
    missed: expected - latencies.length,
    p50ms: round(q(0.5)),
    p99ms: round(q(0.99)),
    maxms: round(latencies[latencies.length - 1] ?? NaN),
    eventLoopDelayP99ms: round(loop.percentile(99) / 1e6),
    eventLoopDelayMaxms: round(loop.max / 1e6),
    serverCpuMs: Math.round((process.cpuUsage().user + process.cpuUsage().system - cpuAtStart) / 1000),
    greedyClient: greedyStats,
  };
  process.stdout.write(JSON.stringify(result) + "\n");
  greedyChild?.kill();
  fleet.kill();
  await server.shutdown(200);
  process.exit(0);
}

// ------------------------------------------------------------------ ordinary clients

function runFleet(): void {
  const port = Number(flag("port", "0"));
  const clients = Number(flag("clients", "200"));
  const reqType = messageType("envoy.service.discovery.v3.DiscoveryRequest");
  const resType = messageType("envoy.service.discovery.v3.DiscoveryResponse");
  const got: { version: string; at: number }[] = [];
  let ready = 0;
  const perConnection = 10;
  let channel: grpc.Client | undefined;
  for (let i = 0; i < clients; i++) {
    if (i % perConnection === 0) channel = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
    const call = channel!.makeBidiStreamRequest(
      `${ADS}/StreamAggregatedResources`,
      (o: object) => Buffer.from(reqType.encode(reqType.fromObject(o)).finish()),
      (b: Buffer) => b,
    );
    let first = true;
    call.on("data", (b: Buffer) => {
      const at = now();
      const m = resType.decode(b) as unknown as { version_info: string; nonce: string };
      if (first) {
        first = false;
        process.send!({ ready: ++ready });
      } else got.push({ version: m.version_info, at });
      call.write({ type_url: CLUSTER, response_nonce: m.nonce, version_info: m.version_info } as unknown as Buffer);
    });
    call.on("error", () => undefined);
    call.write({
      type_url: CLUSTER,
      node: { id: `sidecar~10.1.${Math.floor(i / 250)}.${i % 250}~c${i}.default~default.svc.cluster.local`, cluster: "bench" },
    } as unknown as Buffer);
  }
  process.on("message", () => process.send!({ got: got.splice(0) }));
}

// ------------------------------------------------------------------ the greedy client

function runGreedy(): void {
  const port = Number(flag("port", "0"));
  const mode = flag("mode", "subscribe");
  const count = Number(flag("names", "100000"));
  const stats = { requests: 0, responses: 0, refusedStreams: 0, streams: 0 };
  // Its own CPU: on a small machine the greedy client's encoding competes with the server for the same cores.
  const report = () => {
    const u = process.cpuUsage();
    process.send!({ ...stats, cpuMs: Math.round((u.user + u.system) / 1000) });
  };
  setInterval(report, 500).unref();
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  if (mode === "subscribe") {
    const deltaType = messageType("envoy.service.discovery.v3.DeltaDiscoveryRequest");
    const names = Array.from({ length: count }, (_, i) => `greedy-unknown-name-${i}`);
    const open = () => {
      stats.streams++;
      const call = client.makeBidiStreamRequest(
        `${ADS}/DeltaAggregatedResources`,
        (o: object) => Buffer.from(deltaType.encode(deltaType.fromObject(o)).finish()),
        (b: Buffer) => b,
      );
      let subscribed = false;
      const next = (node?: object) => {
        subscribed = !subscribed;
        stats.requests++;
        call.write({
          type_url: ENDPOINT,
          ...(node ? { node } : {}),
          [subscribed ? "resource_names_subscribe" : "resource_names_unsubscribe"]: names,
        } as unknown as Buffer);
        // An unsubscribe gets no response; go on at once.
        if (!subscribed) setImmediate(() => next());
      };
      call.on("data", () => {
        stats.responses++;
        next();
      });
      call.on("error", () => {
        stats.refusedStreams++;
        setImmediate(open);
      });
      next({ id: `sidecar~10.9.0.${stats.streams % 250}~greedy-${stats.streams}.default~default.svc.cluster.local`, cluster: "greedy" });
    };
    open();
    return;
  }
  // storm: NACK everything, and fill the socket with stale requests.
  const reqType = messageType("envoy.service.discovery.v3.DiscoveryRequest");
  const resType = messageType("envoy.service.discovery.v3.DiscoveryResponse");
  const open = () => {
    stats.streams++;
    const call = client.makeBidiStreamRequest(
      `${ADS}/StreamAggregatedResources`,
      (o: object) => Buffer.from(reqType.encode(reqType.fromObject(o)).finish()),
      (b: Buffer) => b,
    );
    let alive = true;
    call.on("data", (b: Buffer) => {
      stats.responses++;
      const m = resType.decode(b) as unknown as { version_info: string; nonce: string };
      call.write({ type_url: CLUSTER, response_nonce: m.nonce, version_info: m.version_info, error_detail: { code: 3, message: "no" } } as unknown as Buffer);
    });
    call.on("error", () => {
      alive = false;
      stats.refusedStreams++;
      setImmediate(open);
    });
    call.write({
      type_url: CLUSTER,
      node: { id: `sidecar~10.9.1.${stats.streams % 250}~storm-${stats.streams}.default~default.svc.cluster.local`, cluster: "greedy" },
    } as unknown as Buffer);
    const flood = () => {
      while (alive && call.write({ type_url: CLUSTER, response_nonce: "stale" } as unknown as Buffer)) stats.requests++;
      if (alive) call.once("drain", flood);
    };
    flood();
  };
  open();
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

const role = flag("role", "server");
if (role === "fleet") runFleet();
else if (role === "greedy") runGreedy();
else
  void runServer().catch((e: Error) => {
    process.stderr.write(`greedy-client bench: ${e.stack ?? e.message}\n`);
    process.exit(1);
  });
