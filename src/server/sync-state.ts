/**
 * Per-proxy, per-type sync records and the status `istioctl proxy-status` shows:
 * SYNCED (the latest content was sent and acknowledged), STALE (sent, not yet
 * acknowledged, or newer content not yet sent), NOT_SENT, ERROR (rejected).
 */
export interface TypeSync {
  sentVersion?: string;
  sentNonce?: string;
  /** Identifies the content sent (for SotW equal to sentVersion). */
  sentKey?: string;
  sentRejectKey?: string;
  sentAt?: number;
  ackedVersion?: string;
  ackedNonce?: string;
  ackedAt?: number;
  nack?: { nonce: string; version: string; message: string; at: number };
  responses?: number;
  bytes?: number;
}

export type SyncStatus = "SYNCED" | "STALE" | "NOT_SENT" | "ERROR";

export function typeStatus(s: TypeSync, desiredKey: string | undefined): SyncStatus {
  if (!s.sentNonce) return "NOT_SENT";
  if (s.nack && s.nack.nonce === s.sentNonce) return "ERROR";
  if (s.ackedNonce === s.sentNonce && (desiredKey === undefined || desiredKey === s.sentKey)) return "SYNCED";
  return "STALE";
}
