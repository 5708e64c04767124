/**
 * Resources shared by every proxy view that would generate them alike, as
 * istiod's xDS cache shares them by cache key.
 *
 * A *unit* is a piece of a view's output (its outbound clusters and
 * endpoints, its outbound listeners, its route configs) named by a key made
 * of what it reads besides the proxy: the unit's kind and the scope it is
 * built from (proxy kind, namespace, Sidecar resource; see scope.ts). What
 * it reads of the proxy is recorded as view-key.ts records a whole
 * generation: the unit is built against a recording view of the proxy, and
 * a later proxy that answers the same questions alike gets the very same
 * objects. So a cluster is built once for every namespace that resolves its
 * DestinationRule alike, not once per view, and encoding can go by object
 * identity (EncodeCache) instead of by JSON text.
 *
 * Nesting is sound: a unit looked up during a recorded generation asks its
 * questions of the outer recording view, so the outer view key records them
 * too, whether the unit was built or found.
 *
 * Units live in a `SharedResources` attached to one mesh. A push may hand the
 * units of the previous mesh to the next one (`carrySharedResources`), minus
 * the ones a change set invalidates (incremental.ts decides which).
 */
import type { Mesh } from "../model/mesh";
import type { ProxyView } from "../model/proxy";
import { ViewIndex } from "./view-key";

/** Every unit of one mesh, by key; plus per-resource memos (clusters) that need no proxy at all. */
export class SharedResources {
  readonly units = new Map<string, ViewIndex<unknown>>();
  /** Outbound clusters by cluster key (outbound.ts: service, rule sources, client facts). */
  readonly clusters = new Map<string, object>();
}

const byMesh = new WeakMap<Mesh, SharedResources>();

/** Builds per unit kind (the key's text before the first `|`): tests count what a change regenerated. */
export const unitBuilds = new Map<string, number>();

export function sharedResources(mesh: Mesh): SharedResources {
  let s = byMesh.get(mesh);
  if (!s) byMesh.set(mesh, (s = new SharedResources()));
  return s;
}

/** Give `mesh` these shared resources (the previous mesh's, pruned): only before anything was generated from it. */
export function adoptSharedResources(mesh: Mesh, shared: SharedResources): void {
  if (byMesh.has(mesh)) throw new Error("adoptSharedResources: the mesh already has shared resources");
  byMesh.set(mesh, shared);
}

/** The unit `key` for `proxy`: built once per distinct answers to what `build` asks of the proxy. */
export function sharedUnit<T>(mesh: Mesh, proxy: ProxyView, key: string, build: (view: ProxyView) => T): T {
  const units = sharedResources(mesh).units;
  let index = units.get(key) as ViewIndex<T> | undefined;
  if (!index) units.set(key, (index = new ViewIndex<T>()));
  return index.get(proxy, (view) => {
    const kind = key.slice(0, key.indexOf("|") >>> 0);
    unitBuilds.set(kind, (unitBuilds.get(kind) ?? 0) + 1);
    return build(view);
  });
}

const ids = new WeakMap<object, number>();
let nextId = 1;

/** A number for an object, the same as long as the object lives: keys made of input objects without their text. */
export function objectId(o: object): number {
  let id = ids.get(o);
  if (id === undefined) ids.set(o, (id = nextId++));
  return id;
}

/** Two lists sorted by name merged into one (the shared part is long, the view's own part short). */
export function mergeByName<T extends { name?: unknown }>(long: readonly T[], short: readonly T[]): T[] {
  if (short.length === 0) return [...long];
  const out: T[] = [];
  let j = 0;
  for (const x of long) {
    while (j < short.length && String(short[j]!.name) < String(x.name)) out.push(short[j++]!);
    out.push(x);
  }
  while (j < short.length) out.push(short[j++]!);
  return out;
}
