/**
 * Istio `headers.request|response.set|add|remove` -> Envoy headers to add
 * (set overwrites, add appends) and headers to remove. Keys sorted so output is
 * deterministic.
 */
import type { HeaderOperations, Headers } from "../model/types";
import { sortedKeys } from "./common";
import type { HeaderValueOption, Route } from "./envoy";

/** The header fields a Route, VirtualHost and weighted cluster entry share. */
export type HeaderFields = Pick<Route, "request_headers_to_add" | "request_headers_to_remove" | "response_headers_to_add" | "response_headers_to_remove">;

function toAdd(ops: HeaderOperations | undefined): HeaderValueOption[] {
  if (!ops) return [];
  const set = sortedKeys(ops.set).map((key): HeaderValueOption => ({ header: { key, value: ops.set![key] }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" }));
  const add = sortedKeys(ops.add).map((key): HeaderValueOption => ({ header: { key, value: ops.add![key] }, append_action: "APPEND_IF_EXISTS_OR_ADD" }));
  return [...set, ...add];
}

/** Fields for a Route, VirtualHost or weighted cluster entry (they share the names). */
export function headerOperations(h: Headers | undefined): HeaderFields {
  const out: HeaderFields = {};
  const reqAdd = toAdd(h?.request);
  const resAdd = toAdd(h?.response);
  if (reqAdd.length > 0) out.request_headers_to_add = reqAdd;
  if (h?.request?.remove?.length) out.request_headers_to_remove = [...h.request.remove];
  if (resAdd.length > 0) out.response_headers_to_add = resAdd;
  if (h?.response?.remove?.length) out.response_headers_to_remove = [...h.response.remove];
  return out;
}

/** Rule-level operations followed by those of a single destination. */
export function mergeHeaders(a: Headers | undefined, b: Headers | undefined): Headers | undefined {
  if (!a) return b;
  if (!b) return a;
  const mergeOps = (x?: HeaderOperations, y?: HeaderOperations): HeaderOperations | undefined => {
    if (!x) return y;
    if (!y) return x;
    return { set: { ...x.set, ...y.set }, add: { ...x.add, ...y.add }, remove: [...(x.remove ?? []), ...(y.remove ?? [])] };
  };
  const out: Headers = {};
  const req = mergeOps(a.request, b.request);
  const res = mergeOps(a.response, b.response);
  if (req) out.request = req;
  if (res) out.response = res;
  return out;
}
