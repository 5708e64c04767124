/** `serve --resources FILE`: the file deleted (or mid-replace) is refused like a broken one; serve keeps running and reloads when it is back. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startServe } from "../support/serve-process";
import { loadResourcesFile } from "../../src/sources/resources-file";

const clusters = (timeout: string) =>
  `clusters:\n  - name: a\n    type: EDS\n    eds_cluster_config: {eds_config: {ads: {}}}\n    connect_timeout: ${timeout}\n`;

test("loadResourcesFile: a missing file is an error result, not an exception", () => {
  const r = loadResourcesFile("/nonexistent/mini-pilot/r.yaml");
  assert.deepEqual(r, { ok: false, errors: ["/nonexistent/mini-pilot/r.yaml: cannot read: does not exist (ENOENT)"] });
});

test("serve --resources survives its file being deleted, and reloads it when it comes back", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mp-res-gone-"));
  const file = path.join(dir, "r.yaml");
  fs.writeFileSync(file, clusters("1s"));
  const serve = await startServe(["--resources", file]);
  t.after(() => serve.stop());
  fs.rmSync(file);
  await serve.waitForLog(/cannot read: does not exist \(ENOENT\)/);
  await serve.waitForLog(/still serving the previous ones/);
  fs.writeFileSync(file, clusters("2s"));
  const loads = () => serve.logs.filter((l) => /resources loaded/.test(l)).length;
  const start = Date.now();
  while (loads() < 2 && Date.now() - start < 5000) await new Promise((r) => setTimeout(r, 20));
  assert.equal(loads(), 2, "loaded again once the file is back");
  assert.equal(serve.child.exitCode, null);
  assert.equal(await serve.stop(), 0);
});
