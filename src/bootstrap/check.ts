/**
 * The gate every bootstrap passes before it is written: Envoy's own proto
 * schema (strict canonical JSON, unknown keys refused) and the PGV rules Envoy
 * enforces at start-up. A bootstrap that fails here would make Envoy exit.
 */
import { fromJson, ProtoJsonError } from "../xds/json";
import { messageType } from "../xds/protos";
import { checkRules } from "../xds/pgv";

export const BOOTSTRAP_TYPE = "envoy.config.bootstrap.v3.Bootstrap";

/** Problems with `json` as an Envoy v3 Bootstrap, one line each; empty when Envoy would accept it. */
export function checkBootstrap(json: unknown): string[] {
  const type = messageType(BOOTSTRAP_TYPE);
  let wire: Record<string, unknown>;
  try {
    wire = fromJson(type, json);
  } catch (e) {
    if (e instanceof ProtoJsonError) return [e.message];
    throw e;
  }
  return checkRules(type, wire);
}

/** The file's text: two-space JSON and a final newline, so diffs of checked-in examples stay readable. */
export function serializeBootstrap(json: unknown): string {
  return JSON.stringify(json, null, 2) + "\n";
}
