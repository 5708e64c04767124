/** The input manifests of a golden case: include.txt's paths (relative to the repo), then input.yaml. */
import * as fs from "node:fs";
import * as path from "node:path";
import type { ManifestFile } from "../../src/cli/translate";

const REPO = path.join(__dirname, "..", "..", "..");
export const GOLDEN_DIR = path.join(REPO, "test/golden");

export function caseManifests(dir: string): ManifestFile[] {
  const files: ManifestFile[] = [];
  const includes = path.join(dir, "include.txt");
  if (fs.existsSync(includes)) {
    for (const line of fs
      .readFileSync(includes, "utf8")
      .split("\n")
      .map((l) => l.trim())) {
      if (line === "" || line.startsWith("#")) continue;
      files.push(...collect(path.join(REPO, line)));
    }
  }
  const input = path.join(dir, "input.yaml");
  if (fs.existsSync(input)) files.push({ file: "input.yaml", text: fs.readFileSync(input, "utf8") });
  return files;
}

function collect(p: string): ManifestFile[] {
  if (fs.statSync(p).isDirectory()) {
    return fs
      .readdirSync(p)
      .sort()
      .flatMap((n) => collect(path.join(p, n)));
  }
  return /\.(ya?ml|json)$/.test(p) ? [{ file: path.relative(REPO, p), text: fs.readFileSync(p, "utf8") }] : [];
}
