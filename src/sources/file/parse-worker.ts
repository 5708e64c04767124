/**
 * Worker-thread entry: read, parse and validate one big manifest file off the
 * main thread, so serving (xDS, /healthz, /ready) never waits on it, and so
 * the parser's garbage lives in a heap that is thrown away with the worker.
 *
 * Results go back in chunks, each only when the main thread asks for it, so
 * each is deserialized there as its own short task.
 */
import { parentPort, workerData } from "node:worker_threads";
import * as fs from "node:fs";
import { checkFileText, type CheckedEntry } from "./manifests";
import type { WorkerJob, WorkerMessage } from "./worker-protocol";

function strip(entries: CheckedEntry[], budget: { left: number; dropped: number }): void {
  for (const e of entries) {
    if ("object" in e) {
      budget.dropped += Math.max(0, e.warnings.length - budget.left);
      e.warnings = e.warnings.slice(0, Math.max(0, budget.left));
      budget.left -= e.warnings.length;
    } else {
      budget.dropped += Math.max(0, e.diagnostics.length - budget.left);
      e.diagnostics = e.diagnostics.slice(0, Math.max(0, budget.left));
      budget.left -= e.diagnostics.length;
    }
  }
}

function run(job: WorkerJob): void {
  const post = (m: WorkerMessage) => parentPort!.postMessage(m);
  let text: string;
  try {
    text = fs.readFileSync(job.file, "utf8");
  } catch (e) {
    post({ type: "done", parseDiagnostics: [{ severity: "error", message: `cannot read: ${(e as Error).message}`, origin: { file: job.file } }], dropped: 0 });
    return;
  }
  const checked = checkFileText(text, job.file, job.limits);
  text = "";
  const budget = { left: job.maxDiagnostics - checked.parseDiagnostics.length, dropped: 0 };
  // One chunk per request from the main thread: sent all at once, they would be
  // deserialized there in one go (a port drains its queue in a single task).
  let next = 0;
  const sendNext = () => {
    if (next >= checked.entries.length) {
      post({ type: "done", parseDiagnostics: checked.parseDiagnostics, dropped: budget.dropped });
      parentPort!.close();
      return;
    }
    const chunk = checked.entries.slice(next, next + job.chunkSize);
    next += job.chunkSize;
    strip(chunk, budget);
    post({ type: "entries", entries: chunk });
  };
  parentPort!.on("message", sendNext);
  sendNext();
}

run(workerData as WorkerJob);
