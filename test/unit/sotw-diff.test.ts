/**
 * A push to many SotW streams that were sent the same selection works out
 * what changed once (`selectionDiff`), not once per stream, and gets the same
 * answer the per-stream filter gave.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { selectionDiff } from "../../src/server/selection-diff";
import { SelectionCache } from "../../src/server/select";
import { makeTypeSnapshot } from "../../src/cache/snapshot";
import { endpoints } from "../support/fixtures";

const sub = { wildcard: false, names: new Set(["a", "b", "c"]) };

test("selectionDiff: shared by every stream holding the same selection; only what changed, what was dropped", () => {
  const selections = new SelectionCache();
  const before = selections.select(makeTypeSnapshot([endpoints("a", 1), endpoints("b", 2), endpoints("c", 3)]), sub);
  const after = selections.select(makeTypeSnapshot([endpoints("a", 1), endpoints("b", 20)]), sub);
  const one = selectionDiff(before.byName, after);
  const two = selectionDiff(before.byName, after);
  assert.equal(one, two, "a second stream holding the same map gets the same diff object");
  assert.deepEqual(
    one.changed().map((r) => r.name),
    ["b"],
  );
  assert.deepEqual(one.changedNames(), ["b"]);
  const partial = one.partial();
  assert.ok(partial);
  assert.deepEqual(
    partial.resources.map((r) => r.name),
    ["b"],
  );
  assert.equal(partial.version, `partial:b@${after.byName.get("b")!.version}`);
  assert.deepEqual(
    one.kept().map((r) => r.name),
    ["c"],
  );
  // Everything changed (nothing held): no partial response.
  const fresh = selectionDiff(new Map(), after);
  assert.equal(fresh.partial(), undefined);
  assert.equal(fresh.changed().length, 2);
  // Another target from the same held map is worked out again, not taken from the memo.
  const later = selections.select(makeTypeSnapshot([endpoints("a", 10), endpoints("b", 2), endpoints("c", 3)]), sub);
  assert.deepEqual(selectionDiff(before.byName, later).changedNames(), ["a"]);
});
