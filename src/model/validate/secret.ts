/**
 * core/v1 Secret: read for gateway credentials. Only the shape is checked
 * here (Kubernetes' own rules for keys and base64 values); whether a Secret
 * holds a usable certificate and key is asked only when a gateway names it
 * (model/credentials.ts), since most Secrets in a cluster are not TLS ones.
 *
 * Messages name keys and fields, never values: these are private keys.
 */
import type { Secret } from "../types";
import { at, type Ctx } from "./ctx";
import { isPlainObject } from "./read";

/** Kubernetes' rule for Secret and ConfigMap keys. */
const KEY = /^[-._a-zA-Z0-9]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function secretSpec(raw: Record<string, unknown>, ctx: Ctx): Secret["spec"] | undefined {
  const type = raw.type ?? "Opaque";
  if (typeof type !== "string") {
    ctx.error("type", "expected a string");
    return undefined;
  }
  const data: Record<string, string> = {};
  readValues(raw.data, "data", ctx, (key, value) => {
    // The API server always sends canonical base64; files may wrap it over lines.
    const compact = value.replace(/\s+/g, "");
    if (!BASE64.test(compact)) return ctx.error(at("data", key), "value is not valid base64 (use stringData for plain text)");
    data[key] = compact;
  });
  // stringData wins over data for the same key, as the API server merges them.
  readValues(raw.stringData, "stringData", ctx, (key, value) => {
    data[key] = Buffer.from(value, "utf8").toString("base64");
  });
  return { type, data };
}

function readValues(v: unknown, field: string, ctx: Ctx, each: (key: string, value: string) => void): void {
  if (v === undefined || v === null) return;
  if (!isPlainObject(v)) return ctx.error(field, "expected a map of key to string");
  for (const [key, value] of Object.entries(v)) {
    if (!KEY.test(key) || key.length > 253) {
      ctx.error(at(field, key), "invalid key: must consist of alphanumeric characters, '-', '_' or '.'");
      continue;
    }
    if (typeof value !== "string") {
      ctx.error(at(field, key), "expected a string value");
      continue;
    }
    each(key, value);
  }
}
