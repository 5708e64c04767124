/**
 * A tiny protobuf reader/writer for the benchmark's fleet and floor server.
 * It reads only the top level of xDS messages (and walks a few fields deep when
 * asked), never decoding whole resources: the fleet must stay cheap so that the
 * server under test, not the clients, is what gets measured.
 */
import { frameBytes, frameString, frameVarint } from "../src/xds/wire";

/** A length-delimited field's payload as [start, end) offsets into the buffer. */
export interface Span {
  start: number;
  end: number;
}

/** Reads a varint at `pos`; returns [value, nextPos]. Values above 2^53 lose precision (never needed here). */
export function readVarint(buf: Uint8Array, pos: number): [number, number] {
  let result = 0;
  let mul = 1;
  for (;;) {
    if (pos >= buf.length) throw new Error("truncated varint");
    const b = buf[pos++]!;
    result += (b & 0x7f) * mul;
    if (b < 0x80) return [result, pos];
    mul *= 128;
    if (mul > 2 ** 63) throw new Error("varint too long");
  }
}

/**
 * Calls `onField(field, wireType, start, end)` for every field of the message
 * in buf[start, end). For wire type 2, [start, end) is the payload; for others
 * it is the raw value bytes. Returning `false` stops the walk.
 */
export function forEachField(
  buf: Uint8Array,
  start: number,
  end: number,
  onField: (field: number, wireType: number, start: number, end: number) => boolean | void,
): void {
  let pos = start;
  while (pos < end) {
    let key: number;
    [key, pos] = readVarint(buf, pos);
    const field = Math.floor(key / 8);
    const wt = key & 7;
    let s = pos;
    switch (wt) {
      case 0:
        [, pos] = readVarint(buf, pos);
        break;
      case 1:
        pos += 8;
        break;
      case 2: {
        let len: number;
        [len, s] = readVarint(buf, pos);
        pos = s + len;
        break;
      }
      case 5:
        pos += 4;
        break;
      default:
        throw new Error(`unsupported wire type ${wt} (field ${field})`);
    }
    if (pos > end) throw new Error(`field ${field} overruns its message`);
    if (onField(field, wt, s, pos) === false) return;
  }
}

/** The first length-delimited `field` in buf[start, end), or undefined. */
export function findField(buf: Uint8Array, start: number, end: number, field: number): Span | undefined {
  let found: Span | undefined;
  forEachField(buf, start, end, (f, wt, s, e) => {
    if (f === field && wt === 2) {
      found = { start: s, end: e };
      return false;
    }
    return true;
  });
  return found;
}

export function spanString(buf: Uint8Array, s: Span | undefined): string {
  if (!s) return "";
  return Buffer.from(buf.buffer, buf.byteOffset + s.start, s.end - s.start).toString("latin1");
}

// ------------------------------------------------------------------ writing

/** The project's own framing (src/xds/wire.ts) under the names the fleet uses. */
export const lenField = frameBytes;
export const strField = frameString;
export const varintField = frameVarint;

/** google.protobuf.Struct from plain JSON (strings, numbers, booleans, nested objects). */
export function encodeStruct(obj: Record<string, unknown>): Buffer {
  const entries = Object.keys(obj)
    .sort()
    .map((k) => lenField(1, Buffer.concat([strField(1, k), lenField(2, encodeValue(obj[k]))])));
  return Buffer.concat(entries);
}

function encodeValue(v: unknown): Buffer {
  if (v === null || v === undefined) return varintField(1, 0);
  if (typeof v === "number") {
    const b = Buffer.allocUnsafe(9);
    b[0] = (2 << 3) | 1;
    b.writeDoubleLE(v, 1);
    return b;
  }
  if (typeof v === "string") return lenField(3, Buffer.from(v, "utf8"));
  if (typeof v === "boolean") return varintField(4, v ? 1 : 0);
  if (Array.isArray(v)) return lenField(6, Buffer.concat(v.map((x) => lenField(1, encodeValue(x)))));
  return lenField(5, encodeStruct(v as Record<string, unknown>));
}

/** gRPC length-prefixed message framing: 1 byte compressed flag, 4 bytes big-endian length. */
export function grpcFrame(msg: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + msg.length);
  out[0] = 0;
  out.writeUInt32BE(msg.length, 1);
  out.set(msg, 5);
  return out;
}

/**
 * Splits a byte stream into gRPC messages. Messages that arrive inside a single
 * chunk are returned as views (no copy); only split messages are copied.
 */
export class GrpcDeframer {
  private pending: Buffer[] = [];
  private pendingLen = 0;

  constructor(private readonly onMessage: (msg: Buffer) => void) {}

  push(chunk: Buffer): void {
    if (this.pendingLen > 0) {
      this.pending.push(chunk);
      this.pendingLen += chunk.length;
      if (this.pendingLen < 5) return;
      const head = this.pending[0]!.length >= 5 ? this.pending[0]! : Buffer.concat(this.pending);
      const need = 5 + head.readUInt32BE(1);
      if (this.pendingLen < need) return;
      chunk = Buffer.concat(this.pending, this.pendingLen);
      this.pending = [];
      this.pendingLen = 0;
    }
    let pos = 0;
    while (chunk.length - pos >= 5) {
      const len = chunk.readUInt32BE(pos + 1);
      if (chunk.length - pos - 5 < len) break;
      if (chunk[pos] !== 0) throw new Error("compressed gRPC messages are not supported");
      this.onMessage(chunk.subarray(pos + 5, pos + 5 + len));
      pos += 5 + len;
    }
    if (pos < chunk.length) {
      const rest = chunk.subarray(pos);
      this.pending = [rest];
      this.pendingLen = rest.length;
    }
  }
}
