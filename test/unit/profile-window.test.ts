/** Cutting a measured window out of a whole-process V8 profile (bench/profile-summary.ts). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { analyze, sliceProfile } from "../../bench/profile-summary";

const frame = (functionName: string) => ({ functionName, url: "file:///x/dist/src/server/stream.js", lineNumber: 0 });

test("sliceProfile keeps only the samples inside the window", () => {
  // Samples at 1,000, 2,000, ... 10,000 µs: node 2 (a) for the first five, node 3 (b) for the rest.
  const profile = {
    nodes: [
      { id: 1, callFrame: frame("(root)"), children: [2, 3] },
      { id: 2, callFrame: frame("a") },
      { id: 3, callFrame: frame("b") },
    ],
    startTime: 0,
    endTime: 10_000,
    samples: [2, 2, 2, 2, 2, 3, 3, 3, 3, 3],
    timeDeltas: Array.from({ length: 10 }, () => 1000),
  };
  const cut = sliceProfile(profile, 4_500, 8_500);
  assert.equal(cut.startTime, 4_500);
  assert.equal(cut.endTime, 8_500);
  const hits = Object.fromEntries(cut.nodes.map((n) => [n.callFrame.functionName, n.hitCount]));
  assert.deepEqual(hits, { "(root)": 0, a: 1, b: 3 });
  const totals = analyze(cut);
  assert.equal(Math.round(totals.totalMs), 4);
  assert.equal(totals.self.get("b src/server/stream.js:1"), 3);
  // A window outside the profile has no samples.
  assert.ok(sliceProfile(profile, 20_000, 30_000).nodes.every((n) => n.hitCount === 0));
});
