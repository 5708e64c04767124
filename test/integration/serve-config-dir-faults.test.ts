/**
 * `serve --config-dir` survives the file system: a symlink loop, a dangling
 * link and a subfolder deleted while it is watched used to end the process
 * (an unhandled `error` event from the recursive fs.watch, ELOOP). Now each is
 * a diagnostic in /debug/configz and the objects read before stay served.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startServe, getJson } from "../support/serve-process";

const svc = (name: string) => `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: default}\nspec:\n  ports: [{name: http, port: 80}]\n`;

async function until<T>(get: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await get();
    if (ok(v) || Date.now() - start > timeoutMs) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("serve --config-dir: symlink loops, dangling links and vanishing folders are diagnostics; the process keeps serving", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mp-serve-faults-"));
  fs.writeFileSync(path.join(dir, "a.yaml"), svc("one"));
  fs.mkdirSync(path.join(dir, "sub", "deeper"), { recursive: true });
  fs.writeFileSync(path.join(dir, "sub", "deeper", "b.yaml"), svc("two"));
  const serve = await startServe(["--config-dir", dir, "--debounce-after", "20ms"]);
  t.after(() => serve.stop());
  type Configz = { objects: number; diagnostics: string[] };
  const configz = () => getJson(serve.httpPort, "/debug/configz") as Promise<Configz>;
  assert.equal((await configz()).objects, 2);

  // Created while serving: the watcher sees them and must not choke.
  fs.symlinkSync("self", path.join(dir, "self"));
  fs.symlinkSync("..", path.join(dir, "sub", "up"));
  fs.symlinkSync(path.join(dir, "nowhere.yaml"), path.join(dir, "dangling.yaml"));
  const c1 = await until(configz, (c) => c.diagnostics.some((d) => /dangling/.test(d)) && c.diagnostics.some((d) => /contains itself/.test(d)), 5000);
  const text = c1.diagnostics.join("\n");
  assert.match(text, /self cannot read: symlink loop \(ELOOP\)/);
  assert.match(text, /sub\/up symlink loop: this folder contains itself; not followed/);
  assert.match(text, /dangling\.yaml dangling symlink/);
  assert.equal(c1.objects, 2);

  // A watched subfolder disappears; its objects go with it, the process stays.
  fs.rmSync(path.join(dir, "sub"), { recursive: true });
  const c2 = await until(configz, (c) => c.objects === 1, 5000);
  assert.equal(c2.objects, 1);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(serve.child.exitCode, null, `serve exited; logs:\n${serve.logs.join("\n")}`);
  const health = await fetch(`http://127.0.0.1:${serve.httpPort}/healthz`);
  assert.equal(health.status, 200);
});
