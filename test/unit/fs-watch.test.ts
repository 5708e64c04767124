/**
 * The folder source and the ways files really change: symlinked files,
 * Kubernetes ConfigMap volumes (`..data` swapped atomically), rename-saves,
 * new subfolders, floods of writes. Polling is off in every test here, so
 * only the watchers can see a change.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { ConfigStore } from "../../src/store";
import { DirSource } from "../../src/sources/file/dir-source";
import { Diagnostic, formatDiagnostic } from "../../src/model/types";

const svc = (name: string, port = 80) =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: default}\nspec:\n  ports: [{name: http, port: ${port}}]\n`;

function setup(t: { after(fn: () => void): void }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mp-fswatch-"));
  const store = new ConfigStore();
  const diags = new Map<string, Diagnostic[]>();
  const source = new DirSource({ dirs: [dir], store, pollMs: 0, onDiagnostics: (f, d) => diags.set(f, d) });
  t.after(() => source.stop());
  const names = () =>
    store
      .list()
      .map((o) => o.metadata.name)
      .sort();
  const port = (name: string) =>
    (store.list("Service").find((o) => o.metadata.name === name)?.spec as { ports: { port: number }[] } | undefined)?.ports[0]?.port;
  const all = () => [...diags.values()].flat().map(formatDiagnostic).join("\n");
  return { dir, store, source, names, port, all };
}

/** Milliseconds until `cond` holds; fails after `timeoutMs`. */
async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) assert.fail(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return Date.now() - start;
}

test("a symlinked file loads (Dirent.isFile() is false for links), and so does a symlinked folder", async (t) => {
  const { dir, source, names } = setup(t);
  const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), "mp-elsewhere-"));
  fs.writeFileSync(path.join(elsewhere, "real.yaml"), svc("linked-file"));
  fs.mkdirSync(path.join(elsewhere, "folder"));
  fs.writeFileSync(path.join(elsewhere, "folder", "x.yml"), svc("linked-folder"));
  fs.symlinkSync(path.join(elsewhere, "real.yaml"), path.join(dir, "a.yaml"));
  fs.symlinkSync(path.join(elsewhere, "folder"), path.join(dir, "more"));
  await source.start();
  assert.deepEqual(names(), ["linked-file", "linked-folder"]);
});

/** A ConfigMap volume as the kubelet writes it: data in a timestamped dot-folder, `..data` pointing at it, visible names linking through `..data`. */
function writeConfigMapVersion(dir: string, version: string, files: Record<string, string>): void {
  const data = path.join(dir, `..${version}`);
  fs.mkdirSync(data);
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(data, name), text);
  // The kubelet's atomic swap: a new link under a temporary name, renamed over ..data.
  fs.symlinkSync(`..${version}`, path.join(dir, "..data_tmp"));
  fs.renameSync(path.join(dir, "..data_tmp"), path.join(dir, "..data"));
  for (const name of Object.keys(files)) {
    const visible = path.join(dir, name);
    if (!fs.existsSync(visible)) fs.symlinkSync(path.join("..data", name), visible);
  }
}

test("a ConfigMap volume loads each file once, and a ..data swap reloads at once", async (t) => {
  const { dir, source, names, port, all } = setup(t);
  writeConfigMapVersion(dir, "2026_12_03_10_00_00.1", { "services.yaml": svc("cm", 80) + "---\n" + svc("cm2", 81) });
  await source.start();
  assert.deepEqual(names(), ["cm", "cm2"], "read through services.yaml only, not again through ..data or ..2026…");
  assert.doesNotMatch(all(), /also defined/);
  const ms = await (async () => {
    writeConfigMapVersion(dir, "2026_12_03_10_05_00.2", { "services.yaml": svc("cm", 8080) });
    fs.rmSync(path.join(dir, "..2026_12_03_10_00_00.1"), { recursive: true });
    return waitFor(() => port("cm") === 8080 && names().length === 1, 500, "the swapped ..data is served");
  })();
  assert.ok(ms < 500, `${ms} ms`);
});

test("a rename-save (write a temp file, rename it over) is seen in under 500 ms, also in a subfolder", async (t) => {
  const { dir, source, port } = setup(t);
  fs.mkdirSync(path.join(dir, "sub"));
  fs.writeFileSync(path.join(dir, "a.yaml"), svc("top", 80));
  fs.writeFileSync(path.join(dir, "sub", "b.yaml"), svc("deep", 80));
  await source.start();
  const renameSave = (file: string, text: string) => {
    const tmp = path.join(path.dirname(file), `.${path.basename(file)}.swp`);
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
  };
  // Several saves in a row: each replaces the file's inode, which a watcher on the file itself loses.
  for (const p of [81, 82, 83]) {
    renameSave(path.join(dir, "a.yaml"), svc("top", p));
    await waitFor(() => port("top") === p, 500, `rename-save ${p} at the top`);
    renameSave(path.join(dir, "sub", "b.yaml"), svc("deep", p));
    await waitFor(() => port("deep") === p, 500, `rename-save ${p} in a subfolder`);
    fs.writeFileSync(path.join(dir, "sub", "b.yaml"), svc("deep", p + 100));
    await waitFor(() => port("deep") === p + 100, 500, `in-place save ${p + 100} in a subfolder`);
  }
});

test("files written into a new subfolder are seen without a poll", async (t) => {
  const { dir, source, names } = setup(t);
  await source.start();
  fs.mkdirSync(path.join(dir, "new"));
  fs.writeFileSync(path.join(dir, "new", "x.yaml"), svc("x"));
  await waitFor(() => names().includes("x"), 1000, "file in the new folder");
  fs.writeFileSync(path.join(dir, "new", "y.yaml"), svc("y"));
  await waitFor(() => names().includes("y"), 1000, "a later file in the new folder (its own watcher)");
});

test("a flood of 3,000 files written at once is coalesced; the event loop keeps turning", async (t) => {
  const { dir, source, store } = setup(t);
  await source.start();
  const lag = monitorEventLoopDelay({ resolution: 10 });
  const n = 3000;
  for (let i = 0; i < n; i++) fs.writeFileSync(path.join(dir, `s${i}.yaml`), svc(`s${i}`));
  lag.enable();
  await waitFor(() => store.list("Service").length === n, 30000, "all files loaded");
  lag.disable();
  const maxMs = lag.max / 1e6;
  assert.ok(maxMs < 200, `longest event-loop stall ${maxMs.toFixed(0)} ms`);
});
