/**
 * A saved istiod capture holds its Anys decoded with the proto types mini-pilot
 * loaded when it was made; an Any of a type loaded only since (a filter
 * mini-pilot now writes too, e.g. grpc_web or mongo_proxy) was kept as
 * `{"@type", value_base64}`. Replaying such a capture decodes those now, as a
 * fresh capture would, so both sides are compared field by field.
 */
import { decodeToJson } from "../../src/xds/json";
import { typeForUrl } from "../../src/xds/protos";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export function redecodeKnownAnys<T>(value: T): T {
  return walk(value as Json) as T;
}

function walk(v: Json): Json {
  if (Array.isArray(v)) return v.map(walk);
  if (v === null || typeof v !== "object") return v;
  const o = v as { [k: string]: Json };
  const typeUrl = o["@type"];
  const b64 = o.value_base64;
  if (typeof typeUrl === "string" && typeof b64 === "string" && Object.keys(o).length === 2) {
    const type = typeForUrl(typeUrl);
    // Well-known types (google.protobuf.*) are always loaded, so never left encoded.
    if (type && !type.fullName.startsWith(".google.protobuf.")) {
      const body = decodeToJson(type, Buffer.from(b64, "base64")) as Json;
      if (body !== null && typeof body === "object" && !Array.isArray(body)) return { "@type": typeUrl, ...(body as { [k: string]: Json }) };
    }
  }
  const out: { [k: string]: Json } = {};
  for (const [k, x] of Object.entries(o)) out[k] = walk(x);
  return out;
}
