/**
 * A fleet worker process (child_process.fork): owns a slice of the simulated
 * Envoys, spread over several HTTP/2 connections, and reports to the parent
 * over IPC. Runs in its own process so the fleet never shares an event loop
 * with the server under test.
 */
import { ClientCounters, FleetClient } from "./client";
import { encodeNode } from "./messages";
import { ChangeSpec, FromWorker, ToWorker, WorkerResults, WorkerStatus } from "./protocol";
import { Connection, StreamHandle } from "./transport";
import { encodeStruct } from "../wire";

const PATHS = {
  sotw: "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources",
  delta: "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources",
};

interface Slot {
  client: FleetClient;
  conn: Connection;
  stream?: StreamHandle;
}

let slots: Slot[] = [];
const counters: ClientCounters = { bytes: 0, responses: 0, acks: 0, nacks: 0, disconnects: 0 };
let init: Extract<ToWorker, { t: "init" }> | undefined;
let conns: Connection[] = [];
const armed: ChangeSpec[] = [];
const endReasons: Record<string, number> = {};
let stopping = false;
let open = 0;
let lastStatus = "";
let configuredCount = 0;
const doneCounts: Record<number, number> = {};
const hooks = {
  done: (id: number) => {
    doneCounts[id] = (doneCounts[id] ?? 0) + 1;
  },
  configured: () => {
    configuredCount++;
  },
};

function send(m: FromWorker): void {
  process.send?.(m);
}

function openStream(slot: Slot): void {
  if (stopping || !init) return;
  open++;
  slot.stream = slot.conn.open(PATHS[init.mode], {
    onMessage: (m) => {
      try {
        slot.client.onMessage(m);
      } catch (e) {
        endReasons[`client error: ${(e as Error).message}`] = (endReasons[`client error: ${(e as Error).message}`] ?? 0) + 1;
        slot.stream?.close();
      }
    },
    onEnd: (why) => {
      open--;
      slot.stream = undefined;
      if (stopping) return;
      counters.disconnects++;
      const key = why.slice(0, 120);
      endReasons[key] = (endReasons[key] ?? 0) + 1;
      // Reconnect like Envoy: after a jittered backoff, from scratch.
      const delay = init!.reconnectMs * (0.5 + Math.random());
      setTimeout(() => openStream(slot), delay).unref();
    },
  });
  slot.client.start();
}

/** The longest the event loop was held, from a 100 ms timer's lateness. */
let maxStallMs = 0;
let lastTick = performance.now();
setInterval(() => {
  const now = performance.now();
  maxStallMs = Math.max(maxStallMs, Math.round(now - lastTick - 100));
  lastTick = now;
}, 100).unref();

/**
 * Open the streams a batch per event-loop turn: 5,000 streams opened in one
 * go held the worker's loop for seconds on a busy machine, and a worker that
 * does not read its sockets cannot answer the server's keepalive pings.
 */
function openInBatches(from: number): void {
  const end = Math.min(slots.length, from + CONNECT_BATCH);
  for (let i = from; i < end; i++) openStream(slots[i]!);
  if (end < slots.length) setImmediate(() => openInBatches(end));
}
const CONNECT_BATCH = 100;

function status(): WorkerStatus {
  return { configured: configuredCount, done: { ...doneCounts }, counters: { ...counters }, open };
}

function results(): WorkerResults {
  const changes: Record<number, (number | null)[]> = {};
  for (const c of armed) changes[c.id] = slots.map((s) => s.client.results.get(c.id) ?? null);
  let rssBytes = 0;
  try {
    rssBytes = process.memoryUsage.rss();
  } catch {
    /* ignore */
  }
  return {
    configuredAt: slots.map((s) => s.client.configuredAt ?? null),
    changes,
    counters: { ...counters },
    endReasons: { ...endReasons },
    stuck: slots
      .filter((s) => armed.some((c) => !s.client.results.has(c.id)))
      .slice(0, 3)
      .map((s) => ({ client: s.client.index, nodeId: init?.clients[s.client.index]?.nodeId, open: s.stream !== undefined, ...s.client.debugState() })),
    cpu: process.cpuUsage(),
    rssBytes,
    maxStallMs,
  };
}

function handle(m: ToWorker): void {
  switch (m.t) {
    case "init": {
      init = m;
      const nack = m.nackMarker ? Buffer.from(m.nackMarker) : undefined;
      const nConns = Math.max(1, Math.ceil(m.clients.length / m.streamsPerConn));
      conns = Array.from({ length: nConns }, () => new Connection(m.target));
      slots = m.clients.map((spec, i) => {
        const node = encodeNode(spec.nodeId, spec.cluster, encodeStruct(spec.metadata));
        const slot: Slot = { conn: conns[i % nConns]!, client: undefined as unknown as FleetClient };
        slot.client = new FleetClient(i, m.mode, node, (msg) => slot.stream?.write(msg), counters, nack, hooks);
        return slot;
      });
      send({ t: "ready" });
      break;
    }
    case "connect":
      openInBatches(0);
      break;
    case "arm": {
      armed.push(m.change);
      doneCounts[m.change.id] ??= 0;
      const change = {
        id: m.change.id,
        track: m.change.track,
        markers: Object.fromEntries(Object.entries(m.change.markers).map(([t, v]) => [t, Buffer.from(v as string, "utf8")])),
      };
      for (const s of slots) s.client.arm(change);
      send({ t: "armed", id: m.change.id });
      break;
    }
    case "collect":
      send({ t: "results", results: results() });
      break;
    case "stop":
      stopping = true;
      for (const s of slots) s.stream?.close();
      for (const c of conns) c.close();
      setTimeout(() => process.exit(0), 50);
      break;
  }
}

process.on("message", (m: ToWorker) => {
  try {
    handle(m);
  } catch (e) {
    send({ t: "error", message: (e as Error).stack ?? String(e) });
  }
});
process.on("disconnect", () => process.exit(0));

// Progress to the parent, only when something moved.
setInterval(() => {
  if (!init) return;
  const s = status();
  const key = JSON.stringify(s);
  if (key === lastStatus) return;
  lastStatus = key;
  send({ t: "status", status: s });
}, 50);
