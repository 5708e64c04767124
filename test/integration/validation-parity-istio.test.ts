/**
 * The validation-parity cases (test/unit/validation-parity/*.yaml) run through
 * Istio's own validation: istio-check (test/validation-parity/istio-check) is
 * built from the Istio module mini-pilot targets and does what the admission
 * webhook does. Its verdict must be each case's `istio` verdict when the case
 * has one (a documented, deliberate difference), else its `expect` verdict.
 *
 * istio-check is built by .ci/run (test/validation-parity/istio-check/build.sh,
 * cached by content hash); without it this test is skipped, and says how to build it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PARITY_DIR, parityFiles, readParityCases } from "../support/validation-parity";

const CHECK_DIR = path.join(PARITY_DIR, "..", "..", "validation-parity", "istio-check");

/** Where build.sh puts the binary (the same content hash), without building. */
function istioCheckPath(): string {
  const cache = process.env.MINI_PILOT_CACHE || path.join(os.homedir(), ".cache", "mini-pilot");
  const inputs = ["go.mod", "go.sum", "main.go"].map((f) => fs.readFileSync(path.join(CHECK_DIR, f)));
  const hash = createHash("sha256").update(Buffer.concat(inputs)).digest("hex").slice(0, 16);
  return path.join(cache, `istio-check-${hash}`);
}

interface IstioResult {
  file: string;
  case: string;
  verdict: string;
  errors?: string;
  warnings?: string;
}

test("Istio's own validation gives every parity case the verdict the table records", (t) => {
  const bin = istioCheckPath();
  if (!fs.existsSync(bin)) {
    t.skip(`istio-check not built (${bin}); run bash test/validation-parity/istio-check/build.sh`);
    return;
  }
  const files = parityFiles();
  const run = spawnSync(bin, files, { encoding: "utf8", timeout: 120_000 });
  assert.equal(run.status, 0, run.stderr);
  const results = new Map<string, IstioResult>();
  for (const line of run.stdout.split("\n").filter((l) => l.startsWith("{"))) {
    const r = JSON.parse(line) as IstioResult;
    results.set(`${path.basename(r.file)}#${r.case}`, r);
  }
  const mismatches: string[] = [];
  let compared = 0;
  for (const f of files) {
    for (const c of readParityCases(f)) {
      const r = results.get(`${path.basename(f)}#${c.case}`);
      const want = c.istio ?? c.expect;
      compared++;
      if (!r) mismatches.push(`${c.case}: no result from istio-check`);
      else if (r.verdict !== want) mismatches.push(`${c.case}: table says Istio gives ${want}, Istio gives ${r.verdict} (${r.errors ?? r.warnings ?? ""})`);
    }
  }
  assert.deepEqual(mismatches, []);
  assert.ok(compared >= 150, `only ${compared} cases compared`);
});
