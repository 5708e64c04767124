/**
 * Readers: narrow an untyped value (from YAML/JSON) into a typed one, reporting
 * wrong types with the field path. A reader returns undefined when the value
 * is absent (undefined or null, which proto3 JSON treats as "not set") or of
 * the wrong type; in the latter case it has already reported an error.
 *
 * `object` takes one reader per field of the target type, so the compiler
 * checks that a schema here and an interface in types.ts stay in step.
 */
import { at, Ctx, idx } from "./ctx";

export type Reader<T> = (value: unknown, path: string, ctx: Ctx) => T | undefined;

export function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "an object";
  if (typeof v === "string") return `string ${JSON.stringify(v)}`;
  return `${typeof v} ${String(v)}`;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function absent(v: unknown): boolean {
  return v === undefined || v === null;
}

function typed<T>(want: string, test: (v: unknown) => v is T): Reader<T> {
  return (v, path, ctx) => {
    if (absent(v)) return undefined;
    if (test(v)) return v;
    ctx.error(path, `expected ${want}, got ${describe(v)}`);
    return undefined;
  };
}

export const str: Reader<string> = typed("a string", (v): v is string => typeof v === "string");
export const bool: Reader<boolean> = typed("a boolean", (v): v is boolean => typeof v === "boolean");
export const num: Reader<number> = typed("a number", (v): v is number => typeof v === "number" && Number.isFinite(v));
export const int: Reader<number> = typed("an integer", (v): v is number => Number.isInteger(v));

/** Kubernetes IntOrString (e.g. a Service's targetPort). */
export const intOrString: Reader<number | string> = typed("an integer or a string", (v): v is number | string => Number.isInteger(v) || typeof v === "string");

/** A field whose shape mini-pilot does not inspect; kept as written. */
export const anything: Reader<NonNullable<unknown>> = (v) => (absent(v) ? undefined : (v as NonNullable<unknown>));

export function enumOf<T extends string>(...values: T[]): Reader<T> {
  return (v, path, ctx) => {
    const s = str(v, path, ctx);
    if (s === undefined) return undefined;
    if ((values as string[]).includes(s)) return s as T;
    ctx.error(path, `unknown value ${JSON.stringify(s)}; expected one of ${values.join(", ")}`);
    return undefined;
  };
}

export function list<T>(item: Reader<T>): Reader<T[]> {
  return (v, path, ctx) => {
    if (absent(v)) return undefined;
    if (!Array.isArray(v)) {
      ctx.error(path, `expected a list, got ${describe(v)}`);
      return undefined;
    }
    const out: T[] = [];
    v.forEach((element, i) => {
      const p = idx(path, i);
      if (absent(element)) {
        ctx.error(p, "list element may not be null");
        return;
      }
      const r = item(element, p, ctx);
      if (r !== undefined) out.push(r);
    });
    return out;
  };
}

export function record<T>(item: Reader<T>): Reader<Record<string, T>> {
  return (v, path, ctx) => {
    if (absent(v)) return undefined;
    if (!isPlainObject(v)) {
      ctx.error(path, `expected a map, got ${describe(v)}`);
      return undefined;
    }
    const out: Record<string, T> = {};
    for (const [k, element] of Object.entries(v)) {
      // Assigning "__proto__" would replace the map's prototype instead of adding a key.
      if (k === "__proto__") {
        ctx.error(at(path, k), "invalid key");
        continue;
      }
      const r = item(element, at(path, k), ctx);
      if (r !== undefined) out[k] = r;
    }
    return out;
  };
}

export type Fields<T> = { [K in keyof T]-?: Reader<NonNullable<T[K]>> };

export interface ObjectOptions<T> {
  /** Kubernetes objects carry many fields mini-pilot does not read: skip them quietly. */
  open?: boolean;
  /** Real API fields mini-pilot does not implement: warned about as ignored. */
  ignored?: readonly string[];
  /** Rules on the narrowed object; required fields may still be missing here. */
  check?: (value: Partial<T>, path: string, ctx: Ctx) => void;
}

// proto3 JSON also accepts the proto field names (snake_case).
function camel(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

export function object<T extends object>(fields: Fields<T>, opts: ObjectOptions<T> = {}): Reader<T> {
  const known = fields as Record<string, Reader<unknown>>;
  const isKnown = (key: string): boolean => Object.prototype.hasOwnProperty.call(known, key);
  return (v, path, ctx) => {
    if (absent(v)) return undefined;
    if (!isPlainObject(v)) {
      ctx.error(path, `expected an object, got ${describe(v)}`);
      return undefined;
    }
    const input: Record<string, unknown> = {};
    for (const [rawKey, value] of Object.entries(v)) {
      const key = isKnown(rawKey) ? rawKey : camel(rawKey);
      if (isKnown(key)) input[key] = value;
      else if (opts.ignored?.includes(key)) ctx.warn(at(path, rawKey), "field is not supported by mini-pilot; ignored");
      else if (!opts.open) ctx.warn(at(path, rawKey), "unknown field; ignored");
    }
    const out: Record<string, unknown> = {};
    for (const [key, reader] of Object.entries(known)) {
      const r = reader(input[key], at(path, key), ctx);
      if (r !== undefined) out[key] = r;
    }
    opts.check?.(out as Partial<T>, path, ctx);
    return out as T;
  };
}

/** A reader that runs `check` on the value after `inner` narrowed it. */
export function checked<T>(inner: Reader<T>, check: (value: T, path: string, ctx: Ctx) => void): Reader<T> {
  return (v, path, ctx) => {
    const r = inner(v, path, ctx);
    if (r !== undefined) check(r, path, ctx);
    return r;
  };
}

/** Lazily resolved reader, for schemas that refer to each other. */
export function lazy<T>(get: () => Reader<T>): Reader<T> {
  return (v, path, ctx) => get()(v, path, ctx);
}
