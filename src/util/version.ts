/**
 * The version `--version` prints: the package.json that ships with the code
 * (the repository's, or /app/package.json in the image). Looked up by walking
 * up from this file, so it works from src/ (ts-node) and from dist/src/.
 */
import * as fs from "node:fs";
import * as path from "node:path";

let cached: string | undefined;

export function version(): string {
  if (cached !== undefined) return cached;
  cached = "unknown";
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const file = path.join(dir, "package.json");
    if (fs.existsSync(file)) {
      try {
        const pkg = JSON.parse(fs.readFileSync(file, "utf8")) as { name?: string; version?: string };
        if (pkg.name === "mini-pilot" && typeof pkg.version === "string") {
          cached = pkg.version;
          break;
        }
      } catch {
        // an unreadable package.json further down is not ours; keep walking up
      }
    }
    if (path.dirname(dir) === dir) break;
  }
  return cached;
}

/** The one line `mini-pilot --version` prints. */
export function versionLine(): string {
  return `mini-pilot ${version()} (node ${process.versions.node})\n`;
}
