/**
 * Validation parity with Istio's webhook: every case in
 * test/unit/validation-parity/*.yaml goes through the path `validate` and
 * `serve` use for files (parse with line numbers, then validate) and must get
 * exactly its verdict: `error` (refused, with an error on `field` whose
 * message contains `message`), `warning` (accepted, with such a warning and no
 * error) or `accept` (accepted with no diagnostic at all). The same files are
 * run through Istio's own validation by test/integration/validation-parity-istio.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { stringify } from "yaml";
import { objectsFromManifests } from "../../src/sources/file/manifests";
import type { Diagnostic } from "../../src/model/types";
import { parityFiles, readParityCases, type ParityCase } from "../support/validation-parity";

function show(ds: Diagnostic[]): string {
  return ds.map((d) => `${d.severity} ${d.field ?? ""}: ${d.message}`).join("\n  ") || "(none)";
}

function check(c: ParityCase): void {
  const file = `${path.basename(c.file)}#${c.case}`;
  const out = objectsFromManifests([{ file, text: stringify(c.object) }]);
  const ds = out.diagnostics;
  for (const d of ds) assert.ok(d.origin?.file === file && (d.origin.line ?? 0) >= 1, `diagnostic without file:line: ${d.message}`);
  const errors = ds.filter((d) => d.severity === "error");
  const warnings = ds.filter((d) => d.severity === "warning");
  const matches = (d: Diagnostic): boolean => (c.field === undefined || d.field === c.field) && (c.message === undefined || d.message.includes(c.message));
  if (c.expect === "accept") {
    assert.equal(ds.length, 0, `want accept, got:\n  ${show(ds)}`);
    assert.equal(out.objects.length, 1);
    return;
  }
  if (c.expect === "warning") {
    assert.equal(errors.length, 0, `want warning only, got:\n  ${show(ds)}`);
    assert.ok(warnings.some(matches), `want a warning on ${c.field ?? "?"} containing ${JSON.stringify(c.message)}, got:\n  ${show(ds)}`);
    return;
  }
  assert.equal(out.objects.length, 0, "an object with errors must be refused");
  assert.ok(errors.some(matches), `want an error on ${c.field ?? "?"} containing ${JSON.stringify(c.message)}, got:\n  ${show(ds)}`);
}

const files = parityFiles();

test("the parity tables hold at least 150 cases, each named once", () => {
  const names = files.flatMap((f) => readParityCases(f).map((c) => c.case));
  assert.ok(names.length >= 150, `only ${names.length} cases`);
  assert.equal(new Set(names).size, names.length, "duplicate case names");
});

for (const f of files) {
  for (const c of readParityCases(f)) {
    test(`${path.basename(f)}:${c.line} ${c.case} -> ${c.expect}`, () => check(c));
  }
}
