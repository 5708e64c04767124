/**
 * Limits on what one file may cost: bytes, objects, and the size YAML aliases
 * expand to. Each breach is an error naming the file, line and limit; the
 * folder source then keeps the file's last good objects.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseManifests, DEFAULT_PARSE_LIMITS, expandedSize } from "../../src/model/parse";
import { ConfigStore } from "../../src/store";
import { DirSource } from "../../src/sources/file/dir-source";
import { readManifestPaths, objectsFromManifests } from "../../src/sources/file/manifests";
import { Diagnostic, formatDiagnostic } from "../../src/model/types";
import { parseByteSize } from "../../src/sources/file/byte-size";

const svc = (name: string) => `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: default}\nspec:\n  ports: [{name: http, port: 80}]\n`;

/**
 * About 1 KiB of YAML whose aliases expand to 8,000 strings (~350 KiB): under
 * yaml's own alias-count guard, yet 300x its size (the issue saw a 59 MB route
 * config grow from a small file this way).
 */
function aliasBomb(): string {
  const lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: bomb, namespace: default}"];
  lines.push("x-a: &a [" + Array(20).fill('"0123456789012345678901234567890123456789"').join(", ") + "]");
  lines.push(`x-b: &b [${Array(20).fill("*a").join(", ")}]`);
  lines.push(`x-c: &c [${Array(20).fill("*b").join(", ")}]`);
  lines.push("data: {k: *c}", "");
  return lines.join("\n");
}

test("YAML aliases that expand far beyond the document's size are refused with file:line", () => {
  const text = aliasBomb();
  assert.ok(text.length < 2048);
  const r = parseManifests(text, "bomb.yaml");
  assert.deepEqual(r.objects, []);
  assert.equal(r.diagnostics.length, 1);
  assert.match(
    formatDiagnostic(r.diagnostics[0]!),
    /^bomb\.yaml:1 YAML aliases expand this 2 KiB document beyond 76 KiB \(more than 10x its size\); write the repeated parts out or use fewer aliases$/,
  );
});

test("ordinary anchors and merge keys stay well inside the expansion limit", () => {
  const text = [
    "x-labels: &labels {app: bill, team: payments}",
    "kind: Pod",
    "metadata:",
    "  name: p",
    "  labels:",
    "    <<: *labels",
    "    version: v1",
    "  annotations: *labels",
    "",
  ].join("\n");
  assert.deepEqual(parseManifests(text, "ok.yaml").diagnostics, []);
});

test("expandedSize stops counting once past its budget", () => {
  const shared: unknown[] = [];
  for (let i = 0; i < 100; i++) shared.push("x".repeat(100));
  let v: unknown = shared;
  for (let i = 0; i < 20; i++) v = [v, v, v, v, v, v, v, v, v, v]; // 10^20 copies if walked fully
  const size = expandedSize(v, 1_000_000);
  assert.ok(size > 1_000_000 && size < 1_100_000, String(size));
});

test("more objects in one file than the limit: an error at the first object over it, nothing from the file", () => {
  const text = [svc("a"), svc("b"), svc("c")].join("---\n");
  const r = parseManifests(text, "many.yaml", { ...DEFAULT_PARSE_LIMITS, maxObjects: 2 });
  assert.deepEqual(r.diagnostics.map(formatDiagnostic), ["many.yaml:13 more than 2 objects in one file (the limit); split it into several files"]);
});

function folder(files: Record<string, string>) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mp-limits-"));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

test("the folder source refuses a file over the byte or object limit and keeps the file's last good objects", async () => {
  const dir = folder({ "a.yaml": svc("one") });
  const store = new ConfigStore();
  const diags = new Map<string, Diagnostic[]>();
  const source = new DirSource({ dirs: [dir], store, pollMs: 0, limits: { maxFileBytes: 1000, maxObjects: 2 }, onDiagnostics: (f, d) => diags.set(f, d) });
  await source.start();
  source.stop();
  const file = path.join(dir, "a.yaml");
  fs.writeFileSync(file, svc("one") + "# " + "x".repeat(2000) + "\n");
  await source.scan();
  assert.deepEqual(
    store.list().map((o) => o.metadata.name),
    ["one"],
  );
  assert.deepEqual(diags.get(file)!.map(formatDiagnostic), [
    `${file} file is 0.0 MiB; the limit is 0.0 MiB per file (split it into several files)`,
    `${file} kept the 1 object(s) last read from this file until it parses again`,
  ]);
  fs.writeFileSync(file, [svc("one"), svc("two"), svc("three")].join("---\n"));
  await source.scan();
  assert.deepEqual(
    store.list().map((o) => o.metadata.name),
    ["one"],
  );
  assert.match(diags.get(file)!.map(formatDiagnostic).join("\n"), /more than 2 objects in one file/);
});

test("validate and translate apply the same byte limit", () => {
  const dir = folder({ "big.yaml": svc("one") + "# " + "x".repeat(17 * 1024 * 1024) + "\n", "ok.yaml": svc("two") });
  const loaded = objectsFromManifests(readManifestPaths([dir]));
  assert.deepEqual(
    loaded.objects.map((o) => o.metadata.name),
    ["two"],
  );
  assert.deepEqual(loaded.diagnostics.map(formatDiagnostic), [
    `${path.join(dir, "big.yaml")} file is 17.0 MiB; the limit is 16.0 MiB per file (split it into several files)`,
  ]);
});

test("a tree past the file cap is read up to it; what lies beyond keeps its objects and the cap is reported", async () => {
  const dir = folder({ "a.yaml": svc("a"), "b.yaml": svc("b"), "c.yaml": svc("c") });
  const store = new ConfigStore();
  const diags = new Map<string, Diagnostic[]>();
  const unlimited = new DirSource({ dirs: [dir], store, pollMs: 0 });
  await unlimited.start();
  unlimited.stop();
  const capped = new DirSource({ dirs: [dir], store, pollMs: 0, limits: { maxFiles: 2 }, onDiagnostics: (f, d) => diags.set(f, d) });
  await capped.start();
  capped.stop();
  assert.deepEqual(
    store.list().map((o) => o.metadata.name),
    ["a", "b", "c"],
  );
  assert.deepEqual(diags.get(dir)!.map(formatDiagnostic), [`${dir} more than 2 manifest files; the rest are not read`]);
});

test("folders past the watcher cap are reported as seen by the poll only", async () => {
  const dir = folder({});
  for (const d of ["one", "two", "three"]) fs.mkdirSync(path.join(dir, d));
  const diags = new Map<string, Diagnostic[]>();
  const source = new DirSource({ dirs: [dir], store: new ConfigStore(), pollMs: 0, maxWatchedDirs: 2, onDiagnostics: (f, d) => diags.set(f, d) });
  await source.start();
  source.stop();
  assert.deepEqual(diags.get(dir)!.map(formatDiagnostic), [`${dir} 4 folders: only 2 are watched; changes in the other 2 are seen by the poll only`]);
});

test("serve --max-file-size takes Kubernetes-style sizes", () => {
  assert.equal(parseByteSize("16Mi"), 16 * 1024 * 1024);
  assert.equal(parseByteSize("50M"), 50_000_000);
  assert.equal(parseByteSize("512Ki"), 512 * 1024);
  assert.equal(parseByteSize("1048576"), 1048576);
  for (const bad of ["", "0", "-1", "1.5Mi", "16MB", "lots"]) assert.equal(parseByteSize(bad), undefined, bad);
});
