/**
 * A new mesh built after a change keeps the previous mesh's objects wherever
 * they are equal: services and the endpoint list of each host and port. What
 * generation derives from them is memoized by object identity
 * (generate/shared.ts, the ClusterLoadAssignments of generate/endpoints.ts),
 * so an unchanged service keeps its clusters and an unchanged endpoint list its
 * assignments, and only what changed is generated and encoded again.
 *
 * Called on a freshly built mesh before anything reads it, and only when the
 * caller also keeps what was derived from the previous mesh (push/incremental.ts
 * decides when that is sound).
 */
import type { Mesh, MeshEndpoint, MeshService } from "./mesh-types";

export interface ReuseReport {
  services: number;
  endpointLists: number;
}

export function reuseUnchangedParts(prev: Mesh, next: Mesh): ReuseReport {
  const report: ReuseReport = { services: 0, endpointLists: 0 };
  const old = new Map<string, MeshService>();
  for (const s of prev.services) old.set(serviceKey(s), s);
  const replaced = new Map<MeshService, MeshService>();
  for (let i = 0; i < next.services.length; i++) {
    const s = next.services[i]!;
    const o = old.get(serviceKey(s));
    if (o && o !== s && sameData(o, s)) {
      next.services[i] = o;
      replaced.set(s, o);
      report.services++;
    }
  }
  if (replaced.size > 0) {
    for (const list of next.servicesByHost.values()) {
      for (let i = 0; i < list.length; i++) list[i] = replaced.get(list[i]!) ?? list[i]!;
    }
  }
  for (const [host, byPort] of next.endpoints) {
    const before = prev.endpoints.get(host);
    if (!before) continue;
    const writable = byPort as Map<number, MeshEndpoint[]>;
    for (const [port, eps] of byPort) {
      const o = before.get(port);
      if (o && o !== eps && sameData(o, eps)) {
        writable.set(port, o);
        report.endpointLists++;
      }
    }
  }
  return report;
}

function serviceKey(s: MeshService): string {
  return `${s.host}\n${s.namespace}\n${s.source}\n${s.name}`;
}

/** Deep equality of plain data (what buildMesh makes: objects, arrays, strings, numbers, booleans). */
export function sameData(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameData(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const ka = Object.keys(ra);
  if (ka.length !== Object.keys(rb).length) return false;
  for (const k of ka) if (!Object.prototype.hasOwnProperty.call(rb, k) || !sameData(ra[k], rb[k])) return false;
  return true;
}
