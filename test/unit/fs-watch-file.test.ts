/** watchFile (serve --resources): rename-saves reload; a watcher error re-arms instead of crashing. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { watchFile } from "../../src/sources/watch-file";

const until = async (cond: () => boolean, ms: number, what: string) => {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

test("a rename-save reloads; an error on the watcher is survived and the watch comes back", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mp-watchfile-"));
  const file = path.join(dir, "resources.yaml");
  fs.writeFileSync(file, "a");
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the mutable CommonJS module object, to inject faults
  const nodeFs = require("node:fs") as typeof fs;
  const watchers: fs.FSWatcher[] = [];
  const realWatch = nodeFs.watch;
  t.mock.method(nodeFs, "watch", (...args: unknown[]) => {
    const w = (realWatch as (...a: unknown[]) => fs.FSWatcher)(...args);
    watchers.push(w);
    return w;
  });
  let reloads = 0;
  const stop = watchFile(file, () => reloads++, 10, 50);
  t.after(stop);
  fs.writeFileSync(path.join(dir, ".tmp"), "b");
  fs.renameSync(path.join(dir, ".tmp"), file);
  await until(() => reloads === 1, 500, "reload after a rename-save");
  // What a recursive watcher emitted on ELOOP, and a folder on a vanished mount can emit: must not throw.
  watchers[0]!.emit("error", Object.assign(new Error("ELOOP: too many symbolic links encountered"), { code: "ELOOP" }));
  await until(() => watchers.length === 2, 1000, "a new watcher");
  await until(() => reloads === 2, 500, "a reload after re-arming (changes may have been missed)");
  fs.writeFileSync(file, "c");
  await until(() => reloads === 3, 500, "reload through the new watcher");
});
