/** Diagnostics: what is wrong with an input object, where it came from, and the one text form they are printed in. */

/** Where an object came from, for diagnostics: a file and line, or a cluster. */
export interface Origin {
  file?: string;
  line?: number;
  /** e.g. "kubernetes" */
  source?: string;
}

/** A problem with an input object: which object, which field, why. */
export interface Diagnostic {
  severity: "error" | "warning";
  /** The object's kind (a Kind, or another resource's name where one is reported). */
  kind?: string;
  namespace?: string;
  name?: string;
  /** e.g. "spec.http[0].route[1].weight" */
  field?: string;
  message: string;
  origin?: Origin;
}

/** `file:line kind namespace/name field: message` (the `validate` output form). */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.origin?.file ? `${d.origin.file}${d.origin.line ? `:${d.origin.line}` : ""} ` : "";
  const obj = d.kind ? `${d.kind} ${d.namespace ? `${d.namespace}/` : ""}${d.name ?? ""} ` : "";
  const field = d.field ? `${d.field}: ` : "";
  return `${where}${obj}${field}${d.message}`.trim();
}

/** Each diagnostic once (same severity and text), first occurrence first: one rule reported by many subsets, ports or views. */
export function uniqueDiagnostics(diagnostics: Iterable<Diagnostic>): Diagnostic[] {
  const seen = new Set<string>();
  const out: Diagnostic[] = [];
  for (const d of diagnostics) {
    const key = `${d.severity} ${formatDiagnostic(d)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(d);
  }
  return out;
}
