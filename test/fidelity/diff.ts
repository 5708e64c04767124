/**
 * Field-by-field comparison of two xDS configs (istiod's and mini-pilot's):
 * resources are matched by name, then walked together. Every leaf value is
 * one "aspect"; a subtree only one side has counts all its leaves. Lists of
 * named things (filters, filter chains, virtual hosts, endpoints) are matched
 * by name, not position, so one extra filter is one difference, not a shift of
 * everything after it; their order is compared separately.
 *
 * Paths read like `filter_chains[0].filters[envoy.filters.network.tcp_proxy].typed_config.stat_prefix`:
 * `[n]` is a position, `[key]` a list element by its name (or, for endpoints,
 * its address), `[=v]` a scalar list member, `(order)` the order of a list.
 */
export type Json = Record<string, unknown>;
export type Side = "istiod-only" | "mini-pilot-only" | "differs";

export interface Difference {
  type: string;
  resource: string;
  path: string;
  side: Side;
  istiod?: unknown;
  miniPilot?: unknown;
}

export interface Comparison {
  /** Leaf values compared (the union of both sides, after skipping). */
  aspects: number;
  identical: number;
  differences: Difference[];
}

/** Decides whether a subtree is left out of the comparison (normalisation). */
export type SkipFn = (type: string, resource: string, path: string) => boolean;

const isObj = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** Number of leaf values under v (an empty object or list counts as one). */
export function leaves(v: unknown): number {
  if (Array.isArray(v)) return v.length === 0 ? 1 : v.reduce((n: number, x) => n + leaves(x), 0);
  if (isObj(v)) {
    const ks = Object.keys(v);
    return ks.length === 0 ? 1 : ks.reduce((n, k) => n + leaves(v[k]), 0);
  }
  return 1;
}

/** A filter chain match as a key: fields in name order, set-like lists (ALPN, server names, source ranges) sorted. */
function canonicalMatch(m: unknown): string {
  if (!isObj(m)) return "{}";
  const out: Json = {};
  for (const k of Object.keys(m).sort()) {
    const v = m[k];
    out[k] = !Array.isArray(v) ? v : v.every((x) => typeof x === "string") ? [...(v as string[])].sort() : v.map((x) => JSON.stringify(x)).sort();
  }
  return JSON.stringify(out);
}

/** The key that identifies a list element across both sides, or undefined when the list is compared by position. */
function elementKey(field: string, v: unknown): string | undefined {
  if (!isObj(v)) return undefined;
  // Filter chains are told apart by what they match (names repeat: istiod and mini-pilot name per-port chains by port).
  if (field === "filter_chains") return `match ${canonicalMatch(v.filter_chain_match)}`;
  if (typeof v.name === "string" && v.name !== "") return v.name;
  // Header mutations are keyed by header name (VirtualService set/add are maps: their order means nothing).
  if (field.endsWith("headers_to_add") && isObj(v.header) && typeof v.header.key === "string") return v.header.key;
  if (field === "lb_endpoints") {
    const sa = ((v.endpoint as Json | undefined)?.address as Json | undefined)?.socket_address as Json | undefined;
    if (sa) return `${String(sa.address)}:${String(sa.port_value ?? "")}`;
  }
  if (field === "endpoints" && isObj(v.locality)) {
    const l = v.locality;
    return `locality ${String(l.region ?? "")}/${String(l.zone ?? "")}/${String(l.sub_zone ?? "")} priority ${String(v.priority ?? 0)}`;
  }
  // An absent locality and an empty one are the same to Envoy.
  if (field === "endpoints" && "lb_endpoints" in v && !("locality" in v)) return `locality // priority ${String(v.priority ?? 0)}`;
  return undefined;
}

/** Keys for every element of both lists when they are all present and unique, else undefined. */
function keyed(field: string, a: unknown[], b: unknown[]): { ka: string[]; kb: string[] } | undefined {
  // A name that repeats (two RBAC filters: enforcing and shadow) gets its occurrence number: name, name#2, ...
  const numbered = (ks: (string | undefined)[]): (string | undefined)[] => {
    const seen = new Map<string, number>();
    return ks.map((k) => {
      if (k === undefined) return k;
      const n = (seen.get(k) ?? 0) + 1;
      seen.set(k, n);
      return n === 1 ? k : `${k}#${n}`;
    });
  };
  const ka = numbered(a.map((x) => elementKey(field, x)));
  const kb = numbered(b.map((x) => elementKey(field, x)));
  const ok = (ks: (string | undefined)[]): ks is string[] => ks.every((k) => k !== undefined) && new Set(ks).size === ks.length;
  return ok(ka) && ok(kb) ? { ka, kb } : undefined;
}

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

class Walker {
  aspects = 0;
  identical = 0;
  readonly differences: Difference[] = [];
  constructor(
    private readonly type: string,
    private readonly resource: string,
    private readonly skip: SkipFn,
  ) {}

  private differ(path: string, side: Side, istiod: unknown, miniPilot: unknown, count: number): void {
    this.aspects += count;
    const d: Difference = { type: this.type, resource: this.resource, path, side };
    if (side !== "mini-pilot-only") d.istiod = istiod;
    if (side !== "istiod-only") d.miniPilot = miniPilot;
    this.differences.push(d);
  }

  /** One side only has `v` at `path` (unless skipped). */
  private onlyOne(path: string, side: Side, v: unknown): void {
    if (this.skip(this.type, this.resource, path)) return;
    if (side === "istiod-only") this.differ(path, side, v, undefined, leaves(v));
    else this.differ(path, side, undefined, v, leaves(v));
  }

  walk(a: unknown, b: unknown, path: string, field: string): void {
    if (this.skip(this.type, this.resource, path)) return;
    if (isObj(a) && isObj(b)) {
      const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
      if (keys.length === 0) {
        this.aspects++;
        this.identical++;
      }
      for (const k of keys) {
        const p = path ? `${path}.${k}` : k;
        // A list one side leaves out is an empty list (proto3 has no other kind): its members are compared one by one.
        if (!(k in b)) {
          if (Array.isArray(a[k])) this.walk(a[k], [], p, k);
          else this.onlyOne(p, "istiod-only", a[k]);
        } else if (!(k in a)) {
          if (Array.isArray(b[k])) this.walk([], b[k], p, k);
          else this.onlyOne(p, "mini-pilot-only", b[k]);
        } else this.walk(a[k], b[k], p, k);
      }
      return;
    }
    if (Array.isArray(a) && Array.isArray(b)) return this.walkList(a, b, path, field);
    if (isObj(a) || isObj(b) || Array.isArray(a) || Array.isArray(b)) {
      this.differ(path, "differs", a, b, Math.max(leaves(a), leaves(b)));
      return;
    }
    if (a === b) {
      this.aspects++;
      this.identical++;
    } else this.differ(path, "differs", a, b, 1);
  }

  private walkList(a: unknown[], b: unknown[], path: string, field: string): void {
    // Normalised members (e.g. an Istio-only filter) leave the list before matching, so they shift no positions.
    const kept = (list: unknown[]): unknown[] =>
      list.filter((x) => !(isObj(x) && typeof x.name === "string" && this.skip(this.type, this.resource, `${path}[${x.name}]`)));
    a = kept(a);
    b = kept(b);
    if (a.length === 0 && b.length === 0) {
      this.aspects++;
      this.identical++;
      return;
    }
    const scalars = [...a, ...b].every((x) => !isObj(x) && !Array.isArray(x));
    if (scalars) {
      const sa = a.map((x) => JSON.stringify(x));
      const sb = b.map((x) => JSON.stringify(x));
      for (const v of [...new Set([...sa, ...sb])]) {
        const p = `${path}[=${JSON.parse(v) as string}]`;
        if (!sb.includes(v)) this.onlyOne(p, "istiod-only", JSON.parse(v));
        else if (!sa.includes(v)) this.onlyOne(p, "mini-pilot-only", JSON.parse(v));
        else {
          this.aspects++;
          this.identical++;
        }
      }
      this.order(sa, sb, path, a, b);
      return;
    }
    const k = keyed(field, a, b);
    if (!k) {
      for (let i = 0; i < Math.max(a.length, b.length); i++) {
        const p = `${path}[${i}]`;
        if (i >= b.length) this.onlyOne(p, "istiod-only", a[i]);
        else if (i >= a.length) this.onlyOne(p, "mini-pilot-only", b[i]);
        else this.walk(a[i], b[i], p, field);
      }
      return;
    }
    for (const key of [...new Set([...k.ka, ...k.kb])]) {
      const p = `${path}[${key}]`;
      const ia = k.ka.indexOf(key);
      const ib = k.kb.indexOf(key);
      if (ib < 0) this.onlyOne(p, "istiod-only", a[ia]);
      else if (ia < 0) this.onlyOne(p, "mini-pilot-only", b[ib]);
      else this.walk(a[ia], b[ib], p, field);
    }
    this.order(k.ka, k.kb, path, a, b);
  }

  /** The members both lists have, in the same order? (Filter order changes behaviour.) */
  private order(ka: string[], kb: string[], path: string, a: unknown[], b: unknown[]): void {
    const common = ka.filter((x) => kb.includes(x));
    if (common.length < 2) return;
    const p = `${path}(order)`;
    if (this.skip(this.type, this.resource, p)) return;
    const inB = kb.filter((x) => ka.includes(x));
    if (sameJson(common, inB)) {
      this.aspects++;
      this.identical++;
    } else this.differ(p, "differs", orderLabels(ka, a), orderLabels(kb, b), 1);
  }
}

function orderLabels(keys: string[], list: unknown[]): string[] {
  return keys.map((k, i) => (isObj(list[i]) ? k : String(list[i])));
}

/** Compare two sets of resources of one type (name -> resource). */
export function compareResources(type: string, istiod: Map<string, Json>, miniPilot: Map<string, Json>, skip: SkipFn = () => false): Comparison {
  const out: Comparison = { aspects: 0, identical: 0, differences: [] };
  const names = [...new Set([...istiod.keys(), ...miniPilot.keys()])].sort();
  for (const name of names) {
    const w = new Walker(type, name, skip);
    const a = istiod.get(name);
    const b = miniPilot.get(name);
    if (a === undefined || b === undefined) {
      if (skip(type, name, "")) continue;
      const v = a ?? b;
      out.aspects += leaves(v);
      out.differences.push({ type, resource: name, path: "", side: a ? "istiod-only" : "mini-pilot-only" });
      continue;
    }
    w.walk(a, b, "", "");
    out.aspects += w.aspects;
    out.identical += w.identical;
    out.differences.push(...w.differences);
  }
  return out;
}
