/**
 * `npm run fidelity`: compare mini-pilot with the real istiod on every golden
 * case and write bench-results/fidelity.md (and fidelity.json). Options:
 *   --cases a,b     only these golden cases (stale-entry check off)
 *   --draft FILE    also write draft accepted-differences entries for the unexplained differences
 *   --out DIR       where to write (default bench-results)
 * Exit status 1 when a difference is unexplained, an accepted entry is stale, or a case failed.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { runFidelity } from "./run";
import { renderDraft, renderReport } from "./report";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<number> {
  const repo = path.join(__dirname, "..", "..", "..");
  const outDir = path.resolve(arg("--out") ?? path.join(repo, "bench-results"));
  const cases = arg("--cases")?.split(",").filter(Boolean);
  const run = await runFidelity({ cases, log: (l) => process.stderr.write(l + "\n") });
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, "fidelity.md"), renderReport(run));
  fs.writeFileSync(path.join(outDir, "fidelity.json"), JSON.stringify(run, (k, v: unknown) => (k === "accepted" && Array.isArray(v) && v[0]?.d ? v.length : v), 1));
  const draft = arg("--draft");
  if (draft) fs.writeFileSync(draft, renderDraft(run));
  const unexplained = run.cases.reduce((n, c) => n + c.unexplained.length, 0);
  const failed = run.cases.filter((c) => c.error);
  process.stderr.write(
    `wrote ${path.join(outDir, "fidelity.md")}: ${unexplained} unexplained differences, ${run.stale.length} stale entries, ${failed.length} failed cases (${run.seconds.toFixed(0)} s)\n`,
  );
  return unexplained > 0 || run.stale.length > 0 || failed.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    process.stderr.write(`fidelity: ${e.stack ?? e.message}\n`);
    process.exit(2);
  },
);
