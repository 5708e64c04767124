/**
 * Run checkFileText for one file in a worker thread (see parse-worker.ts).
 * Never rejects: a worker that crashes or runs out of memory becomes an error
 * diagnostic on the file, and the process carries on.
 */
import { Worker } from "node:worker_threads";
import * as path from "node:path";
import type { ParseLimits } from "../../model/parse";
import type { CheckedFile, CheckedEntry } from "./manifests";
import type { WorkerJob, WorkerMessage } from "./worker-protocol";

export interface WorkerCheck {
  result: Promise<CheckedFile & { dropped: number }>;
  /** Stop the worker (on shutdown); `result` then resolves with an error diagnostic. */
  cancel(): void;
}

export interface WorkerCheckOptions {
  limits: ParseLimits;
  maxDiagnostics: number;
  /** Old-generation heap for the worker; a file needing more is refused, not fatal. */
  maxHeapMb: number;
}

export function checkFileInWorker(file: string, opts: WorkerCheckOptions): WorkerCheck {
  const job: WorkerJob = { file, limits: opts.limits, maxDiagnostics: opts.maxDiagnostics, chunkSize: 500 };
  const worker = new Worker(path.join(__dirname, "parse-worker.js"), { workerData: job, resourceLimits: { maxOldGenerationSizeMb: opts.maxHeapMb } });
  const entries: CheckedEntry[] = [];
  const failed = (message: string) => ({ parseDiagnostics: [{ severity: "error" as const, message, origin: { file } }], entries: [], dropped: 0 });
  const result = new Promise<CheckedFile & { dropped: number }>((resolve) => {
    worker.on("message", (m: WorkerMessage) => {
      if (m.type === "entries") {
        for (const e of m.entries) entries.push(e);
        // Let other work run before the next chunk arrives.
        setImmediate(() => worker.postMessage("more"));
        return;
      }
      resolve({ parseDiagnostics: m.parseDiagnostics, entries, dropped: m.dropped });
      void worker.terminate();
    });
    worker.on("error", (e: Error & { code?: string }) => {
      resolve(
        failed(
          e.code === "ERR_WORKER_OUT_OF_MEMORY"
            ? `reading this file needs more than the ${opts.maxHeapMb} MiB allowed; split it into smaller files`
            : `reading failed: ${e.message}`,
        ),
      );
    });
    worker.on("exit", () => resolve(failed("reading was stopped before it finished")));
  });
  return { result, cancel: () => void worker.terminate() };
}
