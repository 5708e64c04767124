/** Messages between DirSource and its parse worker (plain data, structured-cloned). */
import type { ParseLimits } from "../../model/parse";
import type { Diagnostic } from "../../model/types";
import type { CheckedEntry } from "./manifests";

export interface WorkerJob {
  file: string;
  limits: ParseLimits;
  /** Diagnostics sent back at most; the rest are only counted. */
  maxDiagnostics: number;
  /** Entries per message. */
  chunkSize: number;
}

export type WorkerMessage = { type: "entries"; entries: CheckedEntry[] } | { type: "done"; parseDiagnostics: Diagnostic[]; dropped: number };
