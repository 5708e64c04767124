/** `serve --resources`: a file that stops encoding is refused with file:line; the previous resources stay served. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CLUSTER } from "../../src/xds/types";
import { TestSotwStream, connect } from "../support/ads-client";
import { startServe } from "../support/serve-process";

const clusters = (timeout: string) =>
  `clusters:\n  - name: a\n    type: EDS\n    eds_cluster_config: {eds_config: {ads: {}}}\n    connect_timeout: ${timeout}\n`;

test("serve --resources: reload on change; a broken file is refused and the old resources stay", async (t) => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "mp-res-")), "r.yaml");
  fs.writeFileSync(file, clusters("1s"));
  const serve = await startServe(["--resources", file]);
  t.after(() => serve.stop());
  const s = new TestSotwStream(connect(serve.xdsPort));
  t.after(() => s.close());
  s.send({ typeUrl: CLUSTER });
  const r1 = await s.next();
  assert.equal(r1.resources[0]!.connect_timeout, "1s");
  s.ack(r1);

  fs.writeFileSync(file, clusters("2s"));
  const r2 = await s.next(5000);
  assert.equal(r2.resources[0]!.connect_timeout, "2s");
  s.ack(r2);

  fs.writeFileSync(file, clusters("soon"));
  const line = await serve.waitForLog(/connect_timeout: expected a duration/);
  assert.match(line, new RegExp(`${path.basename(file)}:2: clusters\\[0\\]\\.connect_timeout`));
  await serve.waitForLog(/still serving the previous ones/);
  assert.deepEqual(await s.inbox.drain(300), [], "nothing is pushed for a refused file");
  assert.equal(await serve.stop(), 0, "SIGTERM shuts down cleanly with status 0");
});
