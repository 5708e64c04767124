/**
 * The validation context: which object is being checked (for every diagnostic
 * it produces) and the diagnostics collected so far. One per object; checks
 * only ever append to it.
 */
import type { Diagnostic, Origin } from "../types";

export interface Subject {
  kind?: string;
  namespace?: string;
  name?: string;
  origin?: Origin;
  /** metadata.labels, for the few rules that read them (ServiceEntry IP auto-allocation). */
  labels?: Record<string, string>;
}

export class Ctx {
  readonly diagnostics: Diagnostic[] = [];

  constructor(public subject: Subject) {}

  error(field: string, message: string): void {
    this.add("error", field, message);
  }

  warn(field: string, message: string): void {
    this.add("warning", field, message);
  }

  get errorCount(): number {
    return this.diagnostics.filter((d) => d.severity === "error").length;
  }

  private add(severity: Diagnostic["severity"], field: string, message: string): void {
    const s = this.subject;
    this.diagnostics.push({
      severity,
      ...(s.kind ? { kind: s.kind } : {}),
      ...(s.namespace ? { namespace: s.namespace } : {}),
      ...(s.name ? { name: s.name } : {}),
      ...(field ? { field } : {}),
      message,
      ...(s.origin ? { origin: s.origin } : {}),
    });
  }
}

// Keys that read well after a dot; anything else (e.g. "kubernetes.io/name")
// is bracketed and quoted so the path stays unambiguous.
const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** `spec` + `hosts` -> `spec.hosts`; `headers` + `x.y` -> `headers["x.y"]`. */
export function at(path: string, key: string): string {
  if (!PLAIN_KEY.test(key)) return `${path}[${JSON.stringify(key)}]`;
  return path ? `${path}.${key}` : key;
}

/** `spec.http` + 0 -> `spec.http[0]`. */
export function idx(path: string, i: number): string {
  return `${path}[${i}]`;
}
