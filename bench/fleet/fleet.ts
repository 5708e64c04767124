/**
 * The parent's side of the fleet: forks the worker processes, deals clients out
 * to them, arms changes, waits for convergence and gathers per-client timings.
 */
import { ChildProcess, fork } from "node:child_process";
import * as path from "node:path";
import type { ClientCounters, Mode } from "./client";
import { ChangeSpec, ClientSpec, FromWorker, ToWorker, WorkerResults, WorkerStatus } from "./protocol";

export interface FleetOptions {
  target: string;
  mode: Mode;
  clients: ClientSpec[];
  workers: number;
  streamsPerConn: number;
  nackMarker?: string;
  reconnectMs?: number;
  /** Extra argv for the worker processes' node (e.g. a taskset is applied by the caller via execPath). */
  execArgv?: string[];
}

export interface FleetResults {
  /** Per client, absolute ms of full config (null: never). */
  configuredAt: (number | null)[];
  changes: Record<number, (number | null)[]>;
  counters: ClientCounters;
  endReasons: Record<string, number>;
  stuck: object[];
  cpuMicros: number;
  rssBytes: number;
  /** Longest event-loop stall of any worker so far, ms. */
  maxStallMs: number;
}

/** `sidecar~10.x.y.z~pod-i.ns-k~ns-k.svc.cluster.local`, spread over namespaces and app/version labels. */
export function makeClientSpecs(n: number, namespaces = 10, apps = 50): ClientSpec[] {
  const out: ClientSpec[] = [];
  for (let i = 0; i < n; i++) {
    const ns = `ns-${i % namespaces}`;
    const app = `app-${Math.floor(i / namespaces) % apps}`;
    const version = i % 3 === 0 ? "v2" : "v1";
    const ip = `10.${128 + ((i >> 16) & 0x3f)}.${(i >> 8) & 0xff}.${i & 0xff}`;
    const pod = `${app}-${version}-${((i * 2654435761) >>> 0).toString(36).slice(0, 5)}-${i}`;
    out.push({
      nodeId: `sidecar~${ip}~${pod}.${ns}~${ns}.svc.cluster.local`,
      cluster: `${app}.${ns}`,
      metadata: {
        NAMESPACE: ns,
        NAME: pod,
        WORKLOAD_NAME: `${app}-${version}`,
        LABELS: { app, version, "security.istio.io/tlsMode": "istio", "service.istio.io/canonical-name": app },
        ISTIO_VERSION: "1.24.0",
        CLUSTER_ID: "Kubernetes",
        MESH_ID: "cluster.local",
        INTERCEPTION_MODE: "REDIRECT",
        INSTANCE_IPS: ip,
        SERVICE_ACCOUNT: `${app}-sa`,
      },
    });
  }
  return out;
}

interface WorkerHandle {
  proc: ChildProcess;
  /** Index of each of this worker's clients in the whole fleet. */
  clientIndexes: number[];
  status: WorkerStatus;
  waiters: ((m: FromWorker) => boolean)[];
  exited?: string;
}

export class Fleet {
  private constructor(
    private readonly workers: WorkerHandle[],
    private readonly size: number,
  ) {}

  static async create(o: FleetOptions): Promise<Fleet> {
    const n = Math.max(1, Math.min(o.workers, o.clients.length));
    const script = path.join(__dirname, "worker.js");
    const handles: WorkerHandle[] = [];
    for (let w = 0; w < n; w++) {
      const proc = fork(script, [], { serialization: "advanced", execArgv: o.execArgv ?? [], stdio: ["ignore", "inherit", "inherit", "ipc"] });
      const h: WorkerHandle = { proc, clientIndexes: [], status: emptyStatus(), waiters: [] };
      proc.on("message", (m: FromWorker) => {
        if (m.t === "status") h.status = m.status;
        if (m.t === "error") process.stderr.write(`fleet worker ${w}: ${m.message}\n`);
        h.waiters = h.waiters.filter((f) => !f(m));
      });
      proc.on("exit", (code, sig) => {
        h.exited = `exited (${code ?? sig})`;
        for (const f of h.waiters) f({ t: "error", message: h.exited });
        h.waiters = [];
      });
      handles.push(h);
    }
    o.clients.forEach((_, i) => handles[i % n]!.clientIndexes.push(i));
    const fleet = new Fleet(handles, o.clients.length);
    await Promise.all(
      handles.map((h) =>
        fleet.request(
          h,
          {
            t: "init",
            target: o.target,
            mode: o.mode,
            clients: h.clientIndexes.map((i) => o.clients[i]!),
            streamsPerConn: o.streamsPerConn,
            reconnectMs: o.reconnectMs ?? 500,
            ...(o.nackMarker ? { nackMarker: o.nackMarker } : {}),
          },
          (m) => m.t === "ready",
          30_000,
        ),
      ),
    );
    return fleet;
  }

  private request(h: WorkerHandle, msg: ToWorker, match: (m: FromWorker) => boolean, timeoutMs: number): Promise<FromWorker> {
    return new Promise((resolve, reject) => {
      if (h.exited) return reject(new Error(`fleet worker ${h.exited}`));
      const timer = setTimeout(() => reject(new Error(`fleet worker did not answer "${msg.t}" within ${timeoutMs} ms`)), timeoutMs);
      h.waiters.push((m) => {
        if (m.t === "error" && h.exited) {
          clearTimeout(timer);
          reject(new Error(`fleet worker ${h.exited}`));
          return true;
        }
        if (!match(m)) return false;
        clearTimeout(timer);
        resolve(m);
        return true;
      });
      h.proc.send(msg);
    });
  }

  /** Worker process ids (for CPU pinning). */
  pids(): number[] {
    return this.workers.map((h) => h.proc.pid ?? 0).filter((p) => p > 0);
  }

  get clientCount(): number {
    return this.size;
  }

  /** All clients open their streams at once. */
  connect(): void {
    for (const h of this.workers) h.proc.send({ t: "connect" } satisfies ToWorker);
  }

  /** Every worker has armed the change before this resolves, so the change may be applied right after. */
  async arm(change: ChangeSpec): Promise<void> {
    await Promise.all(this.workers.map((h) => this.request(h, { t: "arm", change }, (m) => m.t === "armed" && m.id === change.id, 10_000)));
  }

  status(): WorkerStatus {
    const total = emptyStatus();
    for (const h of this.workers) {
      total.configured += h.status.configured;
      total.open += h.status.open;
      for (const [id, n] of Object.entries(h.status.done)) total.done[Number(id)] = (total.done[Number(id)] ?? 0) + n;
      for (const k of Object.keys(total.counters) as (keyof ClientCounters)[]) total.counters[k] += h.status.counters[k];
    }
    return total;
  }

  /** Polls worker status until `done(status)` or the timeout; `progress` is called on each poll. */
  async waitFor(done: (s: WorkerStatus) => boolean, timeoutMs: number, progress?: (s: WorkerStatus) => void): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = this.status();
      progress?.(s);
      if (done(s)) return true;
      if (Date.now() > deadline) return false;
      if (this.workers.some((h) => h.exited)) throw new Error(`a fleet worker ${this.workers.find((h) => h.exited)!.exited}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async collect(): Promise<FleetResults> {
    const parts = await Promise.all(this.workers.map((h) => this.request(h, { t: "collect" }, (m) => m.t === "results", 30_000)));
    const out: FleetResults = {
      configuredAt: new Array<number | null>(this.size).fill(null),
      changes: {},
      counters: { bytes: 0, responses: 0, acks: 0, nacks: 0, disconnects: 0 },
      endReasons: {},
      stuck: [],
      cpuMicros: 0,
      rssBytes: 0,
      maxStallMs: 0,
    };
    parts.forEach((p, w) => {
      const r = (p as { results: WorkerResults }).results;
      const idx = this.workers[w]!.clientIndexes;
      r.configuredAt.forEach((v, i) => (out.configuredAt[idx[i]!] = v));
      for (const [id, times] of Object.entries(r.changes)) {
        const arr = (out.changes[Number(id)] ??= new Array<number | null>(this.size).fill(null));
        times.forEach((v, i) => (arr[idx[i]!] = v));
      }
      for (const k of Object.keys(out.counters) as (keyof ClientCounters)[]) out.counters[k] += r.counters[k];
      for (const [k, n] of Object.entries(r.endReasons)) out.endReasons[k] = (out.endReasons[k] ?? 0) + n;
      out.stuck.push(...r.stuck.map((x) => ({ worker: w, ...x })));
      out.cpuMicros += r.cpu.user + r.cpu.system;
      out.rssBytes += r.rssBytes;
      out.maxStallMs = Math.max(out.maxStallMs, r.maxStallMs ?? 0);
    });
    return out;
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.workers.map(
        (h) =>
          new Promise<void>((resolve) => {
            if (h.exited) return resolve();
            const t = setTimeout(() => {
              h.proc.kill("SIGKILL");
              resolve();
            }, 3000);
            h.proc.once("exit", () => {
              clearTimeout(t);
              resolve();
            });
            try {
              h.proc.send({ t: "stop" } satisfies ToWorker);
            } catch {
              h.proc.kill("SIGKILL");
            }
          }),
      ),
    );
  }
}

function emptyStatus(): WorkerStatus {
  return { configured: 0, done: {}, counters: { bytes: 0, responses: 0, acks: 0, nacks: 0, disconnects: 0 }, open: 0 };
}
