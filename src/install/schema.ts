/**
 * Builders for the OpenAPI v3 schemas of the CRDs, kept structural (every
 * node typed, no unknown fields kept unless said so) so the API server can
 * prune, default and validate them.
 */

export interface Schema {
  type?: "object" | "array" | "string" | "integer" | "number" | "boolean";
  format?: string;
  description?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema;
  items?: Schema;
  required?: string[];
  enum?: string[];
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxProperties?: number;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
}

export const str: Schema = { type: "string" };
export const bool: Schema = { type: "boolean" };
export const num: Schema = { type: "number", format: "double" };
export const int32: Schema = { type: "integer", format: "int32" };
export const uint32: Schema = { type: "integer", minimum: 0, maximum: 4294967295 };

/** Istio's durations ("10s", "1.5ms") are strings; mini-pilot's validation checks their form with the field path. */
export const duration: Schema = { type: "string", description: 'a duration such as "10s" or "250ms"' };

export function obj(properties: Record<string, Schema>, opts: { required?: string[]; description?: string } = {}): Schema {
  return {
    type: "object",
    ...(opts.description ? { description: opts.description } : {}),
    properties,
    ...(opts.required?.length ? { required: opts.required } : {}),
  };
}

export function list(items: Schema): Schema {
  return { type: "array", items };
}

/** A map with string keys (labels, headers). */
export function map(values: Schema): Schema {
  return { type: "object", additionalProperties: values };
}

export function oneOfStrings(...values: string[]): Schema {
  return { type: "string", enum: values };
}

/**
 * A field of Istio's API that mini-pilot does not implement: its shape is kept as
 * written rather than pruned, so mini-pilot sees it and warns "not supported;
 * ignored" exactly as it does for a file, and Istio's own YAML still applies.
 */
export const ignoredField: Schema = {
  description: "Istio API field that mini-pilot does not implement; kept as written and warned about.",
  "x-kubernetes-preserve-unknown-fields": true,
};

/** Adds Istio fields mini-pilot ignores (kept, not pruned) to an object schema. */
export function withIgnored(schema: Schema, ignored: readonly string[]): Schema {
  const properties = { ...(schema.properties ?? {}) };
  for (const name of ignored) properties[name] = ignoredField;
  return { ...schema, properties };
}
