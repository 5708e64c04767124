/**
 * Fields of the Envoy API that are newer than the .proto files
 * `@grpc/grpc-js-xds` ships (see src/xds/protos.ts), added to the loaded types
 * by number, name and type as Envoy defines them. Without this, protobufjs
 * would refuse them when encoding and silently drop them when decoding (an
 * istiod response read by the fidelity harness included).
 *
 * Some newer fields made older ones optional: their validation rules are
 * dropped as well. The list lives in newer-fields.json so scripts/gen-envoy-types.js (plain
 * JavaScript, run before tsc) adds the same fields to the TypeScript types.
 */
import * as protobuf from "protobufjs";
import NEWER from "./newer-fields.json";

/**
 * Add the newer fields to `root` (before resolveAll); a field already known is
 * left alone. Also drop the protoc-gen-validate rules newer Envoy no longer
 * has (src/xds/pgv.ts would refuse what Envoy accepts).
 */
export function addNewerFields(root: protobuf.Root): void {
  for (const f of NEWER.fields) {
    const type = root.lookupType(f.message);
    if (type.fields[f.field] || type.fieldsById[f.id]) continue;
    type.add(new protobuf.Field(f.field, f.id, `.${f.type}`));
  }
  for (const r of NEWER.relaxedRules) {
    const field = root.lookupType(r.message).fields[r.field];
    if (!field) continue;
    if (field.options) for (const key of Object.keys(field.options)) if (key.startsWith("(validate.rules)")) delete field.options[key];
    const parsed = (field as { parsedOptions?: unknown }).parsedOptions;
    if (Array.isArray(parsed)) (field as { parsedOptions?: unknown }).parsedOptions = parsed.filter((o: object) => !("(validate.rules)" in o));
  }
}
