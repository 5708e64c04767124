/**
 * What the server tells the outside about its streams, for metrics: a node
 * that identified itself, a response written, a rejection, a stream that
 * holds everything its latest snapshot calls for. The server knows nothing
 * about metric names; `debug/istio-metrics.ts` turns these into Istio's.
 */
import type { NodeInfo } from "../cache/snapshot-cache";
import type { XdsTypeUrl } from "../xds/types";

export interface XdsObserver {
  /** A stream's first request named its node. */
  onNode?(streamId: string, node: NodeInfo): void;
  /** A stream that had named its node closed. */
  onNodeGone?(streamId: string, node: NodeInfo): void;
  /**
   * A response was written. `sinceTriggerMs`: from the event that made it
   * necessary (a new snapshot, a request) to the write; `writeMs`: the write.
   * `firstAfterSnapshot`: the first write after a new snapshot arrived, with
   * `queuedMs` the wait between the snapshot's arrival and this write.
   */
  onResponse?(streamId: string, typeUrl: XdsTypeUrl, r: { bytes: number; sinceTriggerMs: number; writeMs: number; queuedMs?: number }): void;
  /** The client rejected a response (NACK). */
  onNack?(streamId: string, typeUrl: XdsTypeUrl, message: string): void;
  /**
   * Every subscribed type now carries what the latest snapshot calls for (sent,
   * not necessarily acknowledged). `snapshotAt`: when that snapshot reached the stream.
   */
  onConverged?(streamId: string, snapshotAt: number): void;
}
