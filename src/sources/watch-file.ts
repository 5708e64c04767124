/**
 * Watch one file for changes, robust to editors that replace the file
 * (rename + create): watches the directory and filters by name, debounced.
 */
import * as fs from "node:fs";
import * as path from "node:path";

export function watchFile(file: string, onChange: () => void, debounceMs = 50): () => void {
  const dir = path.dirname(path.resolve(file));
  const base = path.basename(file);
  let timer: NodeJS.Timeout | undefined;
  const watcher = fs.watch(dir, (_event, name) => {
    if (name !== null && name.toString() !== base) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  });
  return () => {
    if (timer) clearTimeout(timer);
    watcher.close();
  };
}
