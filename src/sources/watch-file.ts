/**
 * Watch one file for changes, robust to editors that replace the file
 * (rename + create) and to ConfigMap-style symlink swaps: watches the
 * directory and filters by name (a `..data` swap also reloads), debounced.
 *
 * A watcher error (the folder removed or unmounted, inotify exhausted) never
 * escapes as an unhandled `error` event: the watcher is re-created once the
 * folder is back, with a reload then, since changes may have been missed.
 */
import * as fs from "node:fs";
import * as path from "node:path";

export function watchFile(file: string, onChange: () => void, debounceMs = 50, retryMs = 1000): () => void {
  const dir = path.dirname(path.resolve(file));
  const base = path.basename(file);
  let timer: NodeJS.Timeout | undefined;
  let retry: NodeJS.Timeout | undefined;
  let watcher: fs.FSWatcher | undefined;
  let stopped = false;
  const changed = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  };
  const arm = (afterError: boolean) => {
    if (stopped) return;
    try {
      watcher = fs.watch(dir, { persistent: false }, (_event, name) => {
        if (name !== null && name.toString() !== base && !name.toString().startsWith("..")) return;
        changed();
      });
    } catch {
      retry = setTimeout(() => arm(true), retryMs);
      return;
    }
    watcher.on("error", () => {
      watcher?.close();
      watcher = undefined;
      retry = setTimeout(() => arm(true), retryMs);
    });
    if (afterError) changed();
  };
  arm(false);
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    if (retry) clearTimeout(retry);
    watcher?.close();
  };
}
