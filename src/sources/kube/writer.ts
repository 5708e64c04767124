/**
 * One informer's view into the store: raw API objects in, validated typed
 * objects out, under the informer's own source id, plus the diagnostics of
 * the objects it had to leave out. No network and no timers.
 *
 * An object that fails validation is left out of the store, and if an earlier
 * version of it was valid, that version is removed too. This mirrors Istio:
 * its CRD client (pilot/pkg/config/kube/crdclient) holds exactly what the
 * informer holds, i.e. the object as currently stored in the cluster, and
 * relies on the validating webhook to keep bad config out; it never keeps
 * "the last good version" of an object the cluster no longer has. Keeping the
 * last good version here would make the served config depend on history (a
 * restarted mini-pilot would serve something else than a long-running one)
 * and would hide the user's change. What stays unaffected is everything else:
 * other objects keep flowing, and the refused object gets a diagnostic.
 */
import type { Diagnostic, Kind, MeshObject, ObjectKey } from "../../model/types";
import { objectKey } from "../../model/types";
import { validateObject } from "../../model/validate";
import type { ConfigStore } from "../../store";
import type { Logger } from "../../log";
import { formatDiagnostic } from "../../model/types";

export type RawObject = Record<string, unknown>;

export interface WriterOptions {
  sourceId: string;
  kind: Kind;
  /** Filled into objects that lack it: list items of built-in types carry no kind/apiVersion. */
  apiVersion: string;
  namespaced: boolean;
  store: ConfigStore;
  log: Logger;
  /** Called after the set of diagnostics changed. */
  onDiagnosticsChanged?: () => void;
}

const ORIGIN = { source: "kubernetes" } as const;

function meta(raw: RawObject): { name: string; namespace: string } {
  const m = (typeof raw.metadata === "object" && raw.metadata !== null ? raw.metadata : {}) as Record<string, unknown>;
  return { name: typeof m.name === "string" ? m.name : "", namespace: typeof m.namespace === "string" ? m.namespace : "" };
}

function sameDiagnostics(a: readonly Diagnostic[] | undefined, b: readonly Diagnostic[]): boolean {
  return JSON.stringify(a ?? []) === JSON.stringify(b);
}

export class KindWriter {
  /** Diagnostics by store key, only for objects that have any. */
  private readonly diags = new Map<ObjectKey, Diagnostic[]>();

  constructor(private readonly opts: WriterOptions) {}

  get sourceId(): string {
    return this.opts.sourceId;
  }

  private key(raw: RawObject): ObjectKey {
    const m = meta(raw);
    return objectKey(this.opts.kind, this.opts.namespaced ? m.namespace : "", m.name);
  }

  private check(raw: RawObject): { key: ObjectKey; object?: MeshObject; diagnostics: Diagnostic[] } {
    const key = this.key(raw);
    // The informer knows what it lists; objects only sometimes say so themselves.
    const typed = { ...raw, kind: this.opts.kind, apiVersion: typeof raw.apiVersion === "string" ? raw.apiVersion : this.opts.apiVersion };
    try {
      const r = validateObject(typed, ORIGIN);
      return r.ok ? { key, object: r.object, diagnostics: r.warnings } : { key, diagnostics: r.diagnostics };
    } catch (e) {
      // A validator bug must not stop the watch: the object is left out like an invalid one.
      const m = meta(raw);
      return {
        key,
        diagnostics: [
          {
            severity: "error",
            kind: this.opts.kind,
            namespace: m.namespace,
            name: m.name,
            message: `internal error while validating: ${(e as Error).message}`,
            origin: ORIGIN,
          },
        ],
      };
    }
  }

  private setDiagnostics(key: ObjectKey, d: Diagnostic[]): boolean {
    if (sameDiagnostics(this.diags.get(key), d)) return false;
    if (d.length === 0) this.diags.delete(key);
    else {
      this.diags.set(key, d);
      for (const x of d) {
        if (x.severity === "error") this.opts.log.warn({ diagnostic: x }, `kube: left out ${formatDiagnostic(x)}`);
        else this.opts.log.debug({ diagnostic: x }, `kube: ${formatDiagnostic(x)}`);
      }
    }
    return true;
  }

  /** A full list: the source now holds exactly the valid ones; objects gone from the list are deleted. */
  replace(items: readonly RawObject[]): void {
    const objects: MeshObject[] = [];
    const before = new Map(this.diags);
    let changed = false;
    this.diags.clear();
    for (const raw of items) {
      const r = this.check(raw);
      if (r.object) objects.push(r.object);
      if (r.diagnostics.length > 0) {
        const prev = before.get(r.key);
        if (prev) this.diags.set(r.key, prev); // keep identity so unchanged ones are not logged again
        changed = this.setDiagnostics(r.key, r.diagnostics) || changed;
      }
    }
    if (before.size !== this.diags.size || [...before.keys()].some((k) => !this.diags.has(k))) changed = true;
    this.opts.store.replaceSource(this.opts.sourceId, objects);
    if (changed) this.opts.onDiagnosticsChanged?.();
  }

  /** ADDED or MODIFIED. */
  upsert(raw: RawObject): void {
    const r = this.check(raw);
    if (r.object) this.opts.store.apply([r.object], this.opts.sourceId);
    // Refused: the version before it (if any) must not keep serving; see the file comment.
    else if (this.opts.store.get(r.key)) this.opts.store.delete([r.key]);
    if (this.setDiagnostics(r.key, r.diagnostics)) this.opts.onDiagnosticsChanged?.();
  }

  /** DELETED. */
  remove(raw: RawObject): void {
    const key = this.key(raw);
    if (this.opts.store.get(key)) this.opts.store.delete([key]);
    if (this.setDiagnostics(key, [])) this.opts.onDiagnosticsChanged?.();
  }

  diagnostics(): Diagnostic[] {
    return [...this.diags.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).flatMap(([, d]) => d);
  }
}
