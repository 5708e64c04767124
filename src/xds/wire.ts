/**
 * Hand-framing of protobuf length-delimited fields, so a DiscoveryResponse can be
 * assembled by concatenating resource encodings that were made once and cached.
 */

export function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

export function writeVarint(buf: Buffer, offset: number, n: number): number {
  while (n >= 0x80) {
    buf[offset++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[offset++] = n;
  return offset;
}

/** tag + length + bytes for a length-delimited field (wire type 2). */
export function frameBytes(fieldNumber: number, bytes: Uint8Array): Buffer {
  const tag = (fieldNumber << 3) | 2;
  const head = varintLength(tag) + varintLength(bytes.length);
  const out = Buffer.allocUnsafe(head + bytes.length);
  let o = writeVarint(out, 0, tag);
  o = writeVarint(out, o, bytes.length);
  out.set(bytes, o);
  return out;
}

/** A string field; empty strings are omitted as proto3 does. */
export function frameString(fieldNumber: number, s: string): Buffer {
  if (s === "") return Buffer.alloc(0);
  return frameBytes(fieldNumber, Buffer.from(s, "utf8"));
}

/** A varint field (wire type 0). */
export function frameVarint(fieldNumber: number, n: number): Buffer {
  const tag = fieldNumber << 3;
  const out = Buffer.allocUnsafe(varintLength(tag) + varintLength(n));
  writeVarint(out, writeVarint(out, 0, tag), n);
  return out;
}
