/**
 * Content equality for stored objects: deep, key-order independent, and blind
 * to what says where an object came from rather than what it is (origin,
 * resourceVersion). Writing an object equal by this measure is a no-op.
 */
import type { MeshObject } from "../model/types";

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  // A key set to undefined and an absent key mean the same thing.
  const ka = Object.keys(ra).filter((k) => ra[k] !== undefined);
  const kb = Object.keys(rb).filter((k) => rb[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(rb, k) && deepEqual(ra[k], rb[k]));
}

function content(o: MeshObject): unknown {
  const { resourceVersion: _rv, ...metadata } = o.metadata;
  return { kind: o.kind, apiVersion: o.apiVersion, metadata, spec: o.spec };
}

/** Same object content, ignoring origin and metadata.resourceVersion. */
export function sameContent(a: MeshObject, b: MeshObject): boolean {
  return deepEqual(content(a), content(b));
}
