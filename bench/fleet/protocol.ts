/** Messages between the bench parent and its fleet workers (child_process IPC, "advanced" serialization). */
import type { ClientCounters, Mode, TypeUrl } from "./client";

export interface ClientSpec {
  nodeId: string;
  cluster: string;
  metadata: Record<string, unknown>;
}

export interface ChangeSpec {
  id: number;
  track: string;
  markers: Partial<Record<TypeUrl, string>>;
}

export type ToWorker =
  | { t: "init"; target: string; mode: Mode; clients: ClientSpec[]; streamsPerConn: number; nackMarker?: string; reconnectMs: number }
  | { t: "connect" }
  | { t: "arm"; change: ChangeSpec }
  | { t: "collect" }
  | { t: "stop" };

export interface WorkerStatus {
  configured: number;
  /** change id -> clients that have it. */
  done: Record<number, number>;
  counters: ClientCounters;
  open: number;
}

export interface WorkerResults {
  /** Per client (in the order given), absolute ms of full config, or null. */
  configuredAt: (number | null)[];
  /** change id -> per client absolute ms of the ACK carrying it, or null. */
  changes: Record<number, (number | null)[]>;
  counters: ClientCounters;
  /** Stream end reasons, counted. */
  endReasons: Record<string, number>;
  /** A few clients that have not got every armed change, with their state (diagnostics). */
  stuck: object[];
  cpu: NodeJS.CpuUsage;
  rssBytes: number;
  /** The worker's longest event-loop stall so far, ms (a stalled worker cannot answer the server's keepalive pings). */
  maxStallMs: number;
}

export type FromWorker =
  | { t: "ready" }
  | { t: "armed"; id: number }
  | { t: "status"; status: WorkerStatus }
  | { t: "results"; results: WorkerResults }
  | { t: "error"; message: string };
