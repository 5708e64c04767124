/**
 * The folder source under file-system faults: symlink loops, dangling links,
 * a folder vanishing mid-scan, permission errors. None may throw; each is a
 * diagnostic naming the path and reason, and the last good objects stay.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { ConfigStore } from "../../src/store";
import { DirSource } from "../../src/sources/file/dir-source";
import { Diagnostic, formatDiagnostic } from "../../src/model/types";

const svc = (name: string) => `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: default}\nspec:\n  ports: [{name: http, port: 80}]\n`;

function setup() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mp-fsfault-"));
  const store = new ConfigStore();
  const diags = new Map<string, Diagnostic[]>();
  const source = new DirSource({ dirs: [dir], store, pollMs: 0, onDiagnostics: (f, d) => diags.set(f, d) });
  const names = () =>
    store
      .list()
      .map((o) => o.metadata.name)
      .sort();
  const all = () => [...diags.values()].flat().map(formatDiagnostic).join("\n");
  return { dir, store, diags, source, names, all };
}

test("a symlink loop (a link to itself, a folder linking to its parent) is a diagnostic, not a crash", async () => {
  const { dir, source, names, all } = setup();
  fs.writeFileSync(path.join(dir, "a.yaml"), svc("one"));
  fs.mkdirSync(path.join(dir, "sub"));
  fs.writeFileSync(path.join(dir, "sub", "b.yaml"), svc("two"));
  fs.symlinkSync("self.yaml", path.join(dir, "self.yaml"));
  fs.symlinkSync("..", path.join(dir, "sub", "up"));
  await source.start();
  source.stop();
  assert.deepEqual(names(), ["one", "two"], "each file once, not again through the loop");
  assert.match(all(), /self\.yaml .*symlink loop \(ELOOP\)/);
  assert.match(all(), /sub\/up .*symlink loop: this folder contains itself/);
});

test("a dangling symlink is reported; the rest loads", async () => {
  const { dir, source, names, all } = setup();
  fs.writeFileSync(path.join(dir, "a.yaml"), svc("one"));
  fs.symlinkSync(path.join(dir, "missing.yaml"), path.join(dir, "link.yaml"));
  await source.start();
  source.stop();
  assert.deepEqual(names(), ["one"]);
  assert.match(all(), /link\.yaml dangling symlink: its target does not exist/);
});

test("a subfolder vanishing while it is scanned (ENOENT on scandir) drops its objects without throwing", async (t) => {
  const { dir, source, names } = setup();
  fs.writeFileSync(path.join(dir, "a.yaml"), svc("one"));
  fs.mkdirSync(path.join(dir, "sub"));
  fs.writeFileSync(path.join(dir, "sub", "b.yaml"), svc("two"));
  await source.start();
  source.stop();
  assert.deepEqual(names(), ["one", "two"]);
  // Remove the folder between the listing of its parent and its own listing.
  // The node:fs module object itself (the `import * as` namespace is a read-only copy).
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the mutable CommonJS module object, to inject faults
  const nodeFs = require("node:fs") as typeof fs;
  const realReaddir = nodeFs.readdirSync;
  const sub = path.join(dir, "sub");
  let removed = false;
  t.mock.method(nodeFs, "readdirSync", (p: fs.PathLike, ...rest: unknown[]) => {
    if (String(p) === sub && !removed) {
      removed = true;
      fs.rmSync(sub, { recursive: true, force: true });
    }
    return (realReaddir as (...a: unknown[]) => unknown)(p, ...rest);
  });
  await source.scan();
  t.mock.restoreAll();
  assert.ok(removed, "the folder was removed mid-scan");
  assert.deepEqual(names(), ["one"]);
});

test("a missing config folder keeps the objects last read from it", async () => {
  const { dir, source, names, all } = setup();
  fs.writeFileSync(path.join(dir, "a.yaml"), svc("one"));
  await source.start();
  source.stop();
  fs.rmSync(dir, { recursive: true });
  await source.scan();
  assert.deepEqual(names(), ["one"]);
  assert.match(all(), /config folder cannot be read: does not exist \(ENOENT\); keeping the objects last read from it/);
});

test("permission errors (EACCES) on a folder and a file keep their last objects and name the path (run as uid nobody: root ignores modes)", (t) => {
  if (process.platform !== "linux") return t.skip("needs Linux uids");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mp-eacces-"));
  fs.chmodSync(dir, 0o777);
  fs.mkdirSync(path.join(dir, "sub"), { mode: 0o777 });
  fs.writeFileSync(path.join(dir, "a.yaml"), svc("one"), { mode: 0o666 });
  fs.writeFileSync(path.join(dir, "sub", "b.yaml"), svc("two"), { mode: 0o666 });
  // A child running as nobody loads the folder, then the parent (root) revokes access, then the child rescans.
  const script = `
    const fs = require("node:fs");
    const { ConfigStore } = require(${JSON.stringify(path.join(__dirname, "..", "..", "src", "store"))});
    const { DirSource } = require(${JSON.stringify(path.join(__dirname, "..", "..", "src", "sources", "file", "dir-source"))});
    const { formatDiagnostic } = require(${JSON.stringify(path.join(__dirname, "..", "..", "src", "model", "types"))});
    (async () => {
      const store = new ConfigStore();
      const diags = new Map();
      const source = new DirSource({ dirs: [${JSON.stringify(dir)}], store, pollMs: 0, onDiagnostics: (f, d) => diags.set(f, d) });
      await source.start();
      source.stop();
      const before = store.list().map((o) => o.metadata.name).sort();
      fs.writeFileSync(${JSON.stringify(path.join(dir, "go"))}, "");
      while (fs.existsSync(${JSON.stringify(path.join(dir, "go"))})) await new Promise((r) => setTimeout(r, 10));
      await source.scan();
      const after = store.list().map((o) => o.metadata.name).sort();
      process.stdout.write(JSON.stringify({ before, after, diagnostics: [...diags.values()].flat().map(formatDiagnostic) }));
    })();
  `;
  const child = spawnSync(
    process.execPath,
    [
      "-e",
      `
    const { spawn } = require("node:child_process");
    const fs = require("node:fs");
    const c = spawn(process.execPath, ["-e", ${JSON.stringify(script)}], { uid: 65534, gid: 65534, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    c.stdout.on("data", (d) => (out += d));
    const go = ${JSON.stringify(path.join(dir, "go"))};
    const wait = setInterval(() => {
      if (!fs.existsSync(go)) return;
      clearInterval(wait);
      fs.chmodSync(${JSON.stringify(path.join(dir, "sub"))}, 0);
      fs.chmodSync(${JSON.stringify(path.join(dir, "a.yaml"))}, 0);
      fs.utimesSync(${JSON.stringify(path.join(dir, "a.yaml"))}, new Date(), new Date(Date.now() + 5000));
      fs.rmSync(go);
    }, 10);
    c.on("exit", (code) => { process.stdout.write(out); process.exit(code ?? 1); });
  `,
    ],
    { encoding: "utf8", timeout: 20000 },
  );
  if (process.getuid?.() !== 0) return t.skip("needs root to switch to uid nobody");
  assert.equal(child.status, 0, child.stderr);
  const r = JSON.parse(child.stdout) as { before: string[]; after: string[]; diagnostics: string[] };
  assert.deepEqual(r.before, ["one", "two"]);
  assert.deepEqual(r.after, ["one", "two"], "nothing lost to an unreadable folder or file");
  const text = r.diagnostics.join("\n");
  assert.match(text, /sub cannot read folder: permission denied \(EACCES\); keeping what was read from it before/);
  assert.match(text, /a\.yaml cannot read: permission denied \(EACCES\)/);
  assert.match(text, /kept the 1 object\(s\) last read from this file/);
});
