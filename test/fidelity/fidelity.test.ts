/**
 * mini-pilot against the real istiod on every golden case (test/fidelity/run.ts):
 * fails on any difference not listed in test/fidelity/accepted-differences.yaml,
 * on a listed one that no longer occurs, and on a case that cannot be compared.
 * Needs kube-apiserver/etcd (test/kube/setup.sh) and pilot-discovery
 * (test/istiod/setup.sh); without them it skips, except with CI set, where it fails.
 * FIDELITY_CASES=a,b runs only those cases (no stale-entry check).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { kubeUnavailable } from "../kube/cluster";
import { istiodUnavailable } from "../istiod/istiod";
import { runFidelity } from "./run";
import { describeDifference, renderReport } from "./report";

const skip = kubeUnavailable("fidelity against istiod") ?? istiodUnavailable("fidelity against istiod");

test("mini-pilot's xDS matches istiod's on every golden case, up to the accepted differences", { skip, timeout: 900_000 }, async () => {
  const cases = process.env.FIDELITY_CASES?.split(",").filter(Boolean);
  const run = await runFidelity({ cases, log: (l) => process.stderr.write(`[fidelity] ${l}\n`) });
  const reportPath = path.join(os.tmpdir(), `mini-pilot-fidelity-${process.pid}.md`);
  fs.writeFileSync(reportPath, renderReport(run));
  const problems: string[] = [];
  for (const c of run.cases) {
    if (c.error) problems.push(`${c.name}: ${c.error}`);
    for (const d of c.unexplained) problems.push(`${c.name}: ${describeDifference(d)}`);
  }
  for (const s of run.stale) problems.push(`stale ${s.section} entry (matches nothing; remove it): path "${s.entry.path}" (${s.entry.reason})`);
  const compared = run.cases.filter((c) => !c.skipped && !c.error).length;
  assert.ok(compared > 0, "no golden case was compared");
  assert.deepEqual(problems.slice(0, 60), [], `${problems.length} problems (report: ${reportPath}; draft entries: npm run fidelity -- --draft FILE)`);
});
