/** Where the test set-up caches the binaries it builds (kube-apiserver, pilot-discovery, peers), and whether one is usable. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** `$MINI_PILOT_CACHE`, else `~/.cache/mini-pilot` (what `.ci/run` and the setup scripts use). */
export function cacheDir(): string {
  return process.env.MINI_PILOT_CACHE || path.join(os.homedir(), ".cache", "mini-pilot");
}

/** A regular file this process may execute. */
export function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}
