/**
 * SotW requests repeat the whole subscription: every EDS ACK names every
 * cluster the client watches (hundreds of names), although the names almost
 * never change between two requests. Decoding those names with protobufjs,
 * checking each one and building a set of them again for every ACK was the
 * biggest cost of an endpoint push to 1,000 SotW clients (their ACKs), and
 * it delayed the bytes still waiting to go out to other clients.
 *
 * Per stream and type, this keeps the bytes of the last request's
 * `resource_names` and the array decoded from them. A request whose names are
 * byte for byte the same is read by hand (type, nonce, version: a few short
 * strings) and gets the *same array object* back, which the stream recognises
 * as the names it already checked and decided on (`SotwStream`). Anything
 * unusual (the first request, a node to read, an error_detail, a field of
 * an unexpected wire type, non-ASCII text, names not in one run) is decoded
 * the ordinary way.
 */
import type { XdsRequest } from "./stream";

interface Remembered {
  /** The request's `resource_names` fields exactly as on the wire (tags included). */
  wire: Buffer;
  names: string[];
}

/** DiscoveryRequest field numbers. */
const VERSION_INFO = 1;
const NODE = 2;
const RESOURCE_NAMES = 3;
const TYPE_URL = 4;
const RESPONSE_NONCE = 5;
const ERROR_DETAIL = 6;

/** Where a SotW request's fields are, from one pass over its top level (undefined: read it the ordinary way). */
interface Layout {
  namesStart: number;
  namesEnd: number;
  version?: [number, number];
  typeUrl?: [number, number];
  nonce?: [number, number];
}

export class RepeatedSotwNames {
  private readonly last = new Map<string, Remembered>();

  /**
   * The request, if its names are those of the last request of its type on
   * this stream (as remembered by `remember`) and nothing else in it needs the
   * full decoder; otherwise undefined. Only for streams whose node is known.
   */
  reuse(bytes: Buffer): XdsRequest | undefined {
    const l = layout(bytes);
    if (!l) return undefined;
    const typeUrl = l.typeUrl ? ascii(bytes, l.typeUrl) : "";
    const nonce = l.nonce ? ascii(bytes, l.nonce) : "";
    if (typeUrl === undefined || nonce === undefined || (l.version && ascii(bytes, l.version) === undefined)) return undefined;
    const known = this.last.get(typeUrl);
    if (!known || !bytes.subarray(l.namesStart, l.namesEnd).equals(known.wire)) return undefined;
    return { typeUrl, responseNonce: nonce, names: known.names };
  }

  /** Remember the names of a request decoded the ordinary way (a copy of their bytes: the request's buffer is not kept). */
  remember(bytes: Buffer, req: XdsRequest): void {
    if (!req.names) return;
    const l = layout(bytes);
    if (!l) {
      this.last.delete(req.typeUrl);
      return;
    }
    this.last.set(req.typeUrl, { wire: Buffer.from(bytes.subarray(l.namesStart, l.namesEnd)), names: req.names });
  }
}

/**
 * One pass over the top-level fields. Undefined when the names are not one
 * run of consecutive fields, or a field the fast path does not read is there
 * (error_detail; anything not length-delimited where a string is expected).
 * A node is skipped: once the stream knows its node, later ones are ignored.
 */
function layout(buf: Buffer): Layout | undefined {
  let i = 0;
  let namesStart = -1;
  let namesEnd = -1;
  let namesClosed = false;
  const out: Partial<Layout> = {};
  const varint = (): number | undefined => {
    let n = 0;
    let mul = 1;
    for (;;) {
      if (i >= buf.length || mul > 2 ** 35) return undefined;
      const b = buf[i++]!;
      n += (b & 0x7f) * mul;
      if (b < 0x80) return n;
      mul *= 128;
    }
  };
  while (i < buf.length) {
    const tagStart = i;
    const tag = varint();
    if (tag === undefined) return undefined;
    const field = Math.floor(tag / 8);
    if (tag % 8 !== 2) return undefined; // every field of a DiscoveryRequest we accept here is length-delimited
    const len = varint();
    if (len === undefined || i + len > buf.length) return undefined;
    const start = i;
    i += len;
    if (field === RESOURCE_NAMES) {
      if (namesClosed) return undefined;
      if (namesStart < 0) namesStart = tagStart;
      namesEnd = i;
      continue;
    }
    if (namesStart >= 0) namesClosed = true;
    if (field === VERSION_INFO) out.version = [start, i];
    else if (field === TYPE_URL) out.typeUrl = [start, i];
    else if (field === RESPONSE_NONCE) out.nonce = [start, i];
    else if (field === ERROR_DETAIL) return undefined;
    else if (field !== NODE) return undefined;
  }
  if (namesStart < 0) namesStart = namesEnd = buf.length; // no names: an empty run
  return { ...out, namesStart, namesEnd };
}

/** The text, if it is plain ASCII (what the full decoder would read the same way); else undefined. */
function ascii(buf: Buffer, [start, end]: [number, number]): string | undefined {
  for (let i = start; i < end; i++) if (buf[i]! >= 0x80) return undefined;
  return buf.toString("latin1", start, end);
}
