/**
 * mini-pilot's responses, recorded for the floor to replay. While a recording
 * is on, the mini-pilot bench server notes for every stream each response it
 * writes (the exact gRPC message bytes) together with what had happened when it
 * wrote it: how many snapshots the server had been given and how many requests
 * that stream had sent. The floor (replay-server.ts) writes the same bytes to
 * the same client's stream as soon as the same two counts are reached, and does
 * nothing else, so it can never do less waiting or more work than mini-pilot did.
 *
 * Recording costs mini-pilot one array push per write: buffers are kept by
 * reference (mini-pilot shares one response buffer among all streams that get
 * it), deduplicated and written out only when asked, after the measurement.
 *
 * File format: `<file>.json` {streams: {key: [[snapshots, requests, blob], ...]}, blobs: [[offset, length], ...]}
 * and `<file>.bin`, the blobs back to back. A stream's key is its mode and the
 * node id of its first request, plus "#n" for the n-th stream of that node.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { findField, spanString } from "../wire";

export type TraceMode = "sotw" | "delta";

/** [snapshots applied, requests received on the stream, blob index] */
export type TraceEvent = [number, number, number];

export interface Trace {
  streams: Map<string, TraceEvent[]>;
  blobs: Buffer[];
}

/** The node id of a stream's first request, read at the top level only (SotW: node is field 2; delta: field 1). */
export function nodeIdOf(mode: TraceMode, request: Buffer): string | undefined {
  const node = findField(request, 0, request.length, mode === "sotw" ? 2 : 1);
  if (!node) return undefined;
  const id = findField(request, node.start, node.end, 1);
  return id ? spanString(request, id) : undefined;
}

/** Gives each stream of a node its own key: "mode|id", then "mode|id#2", ... */
export class StreamKeys {
  private readonly seen = new Map<string, number>();
  key(mode: TraceMode, nodeId: string): string {
    const base = `${mode}|${nodeId}`;
    const n = (this.seen.get(base) ?? 0) + 1;
    this.seen.set(base, n);
    return n === 1 ? base : `${base}#${n}`;
  }
}

interface RecordedStream {
  key?: string;
  requests: number;
  events: [number, number, Buffer][];
}

export class TraceRecorder {
  private readonly streams: RecordedStream[] = [];
  private readonly keys = new StreamKeys();
  /** Snapshots applied so far; the server bumps it before it applies one. */
  snapshots = 0;

  /**
   * One stream's hooks: `onRequest` before the server handles each request
   * (with the stream's node id once known), `onWrite` for each response.
   */
  open(mode: TraceMode): { onRequest(nodeId: string | undefined): void; onWrite(bytes: Buffer): void } {
    const s: RecordedStream = { requests: 0, events: [] };
    this.streams.push(s);
    return {
      onRequest: (nodeId) => {
        if (s.key === undefined && nodeId !== undefined) s.key = this.keys.key(mode, nodeId);
        s.requests++;
      },
      onWrite: (bytes) => {
        s.events.push([this.snapshots, s.requests, bytes]);
      },
    };
  }

  /** Write the recording to `<file>.json` and `<file>.bin`; returns its size. */
  save(file: string): { streams: number; writes: number; blobs: number; bytes: number } {
    const index = new Map<Buffer, number>();
    const byHash = new Map<string, number>();
    const blobs: Buffer[] = [];
    const streams: Record<string, TraceEvent[]> = {};
    let writes = 0;
    for (const s of this.streams) {
      if (s.key === undefined) continue;
      streams[s.key] = s.events.map(([k, r, b]) => {
        writes++;
        let i = index.get(b);
        if (i === undefined) {
          const h = createHash("sha1").update(b).digest("base64");
          i = byHash.get(h);
          if (i === undefined) {
            i = blobs.length;
            blobs.push(b);
            byHash.set(h, i);
          }
          index.set(b, i);
        }
        return [k, r, i];
      });
    }
    let offset = 0;
    const spans = blobs.map((b) => {
      const span = [offset, b.length];
      offset += b.length;
      return span;
    });
    fs.writeFileSync(`${file}.bin`, Buffer.concat(blobs));
    fs.writeFileSync(`${file}.json`, JSON.stringify({ streams, blobs: spans }));
    return { streams: Object.keys(streams).length, writes, blobs: blobs.length, bytes: offset };
  }
}

export function loadTrace(file: string): Trace {
  const bin = fs.readFileSync(`${file}.bin`);
  const meta = JSON.parse(fs.readFileSync(`${file}.json`, "utf8")) as { streams: Record<string, TraceEvent[]>; blobs: [number, number][] };
  return {
    streams: new Map(Object.entries(meta.streams)),
    blobs: meta.blobs.map(([o, n]) => bin.subarray(o, o + n)),
  };
}

export function removeTrace(file: string): void {
  for (const ext of [".json", ".bin"]) fs.rmSync(file + ext, { force: true });
}
