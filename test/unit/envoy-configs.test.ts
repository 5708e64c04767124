import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { configDir, ENTRIES, renderAll, staleness } from "../../scripts/gen-envoy-configs";
import { checkBootstrap } from "../../src/bootstrap/check";

const REGENERATE = "run `npx tsc -p . && node dist/scripts/gen-envoy-configs.js` and commit envoy-configs/";

test("envoy-configs/ matches what the generator produces today", () => {
  const { changed, extra } = staleness(configDir());
  assert.deepEqual(changed, [], `stale files in envoy-configs/: ${REGENERATE}`);
  assert.deepEqual(extra, [], `files in envoy-configs/ that no generator entry makes: add an entry or delete them (${REGENERATE})`);
});

test("the staleness check notices an edited, a missing and an unknown file", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mp-envoy-configs-"));
  const wanted = renderAll();
  for (const [file, text] of wanted) fs.writeFileSync(path.join(dir, file), text);
  assert.deepEqual(staleness(dir, wanted), { changed: [], extra: [] });
  const [first, second] = [...wanted.keys()];
  fs.appendFileSync(path.join(dir, first!), " ");
  fs.rmSync(path.join(dir, second!));
  fs.writeFileSync(path.join(dir, "hand-written.json"), "{}");
  assert.deepEqual(staleness(dir, wanted), {
    changed: [first, second].sort((a, b) => [...wanted.keys()].indexOf(a!) - [...wanted.keys()].indexOf(b!)),
    extra: ["hand-written.json"],
  });
  fs.rmSync(dir, { recursive: true, force: true });
});

test("every generated bootstrap passes Envoy's schema and PGV rules", () => {
  assert.ok(ENTRIES.length >= 4);
  for (const e of ENTRIES.filter((x) => x.file.startsWith("bootstrap-"))) {
    assert.deepEqual(checkBootstrap(e.render()), [], e.file);
  }
});
