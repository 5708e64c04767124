/**
 * One manifest loader: the folder source, `translate`/`static` (readManifestDir)
 * and `validate` (validateFiles) see the same files in the same order, with
 * the same rules for dot-entries, extension case and symlinks.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { ConfigStore } from "../../src/store";
import { DirSource } from "../../src/sources/file/dir-source";
import { readManifestDir, objectsFromManifests } from "../../src/cli/translate";
import { validateFiles } from "../../src/cli/validate";

const svc = (name: string) => `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: default}\nspec:\n  ports: [{name: http, port: 80}]\n`;

function tree(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mp-loader-"));
  const put = (p: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
    fs.writeFileSync(path.join(dir, p), text);
  };
  put("b.yaml", svc("b"));
  put("A.YML", svc("upper-ext"));
  put(
    "a-b.json",
    JSON.stringify({ apiVersion: "v1", kind: "Service", metadata: { name: "json", namespace: "default" }, spec: { ports: [{ name: "http", port: 80 }] } }),
  );
  put("a/x.yaml", svc("nested"));
  put(".hidden.yaml", svc("hidden"));
  put(".git/c.yaml", svc("in-dot-folder"));
  put("notes.txt", "not a manifest");
  fs.symlinkSync("b.yaml", path.join(dir, "z-link.yaml"));
  return dir;
}

test("folder source, translate and validate read the same files in the same order", async () => {
  const dir = tree();
  const store = new ConfigStore();
  const seenOrder: string[] = [];
  const source = new DirSource({ dirs: [dir], store, pollMs: 0, onDiagnostics: (f) => seenOrder.push(path.relative(dir, f)) });
  await source.start();
  source.stop();
  const fromSource = store
    .list()
    .map((o) => `${path.relative(dir, o.origin!.file!)} ${o.metadata.name}`)
    .sort();

  const files = readManifestDir(dir).map((f) => path.relative(dir, path.resolve(f.file)));
  const fromTranslate = objectsFromManifests(readManifestDir(dir)).objects.map(
    (o) => `${path.relative(dir, path.resolve(o.origin!.file!))} ${o.metadata.name}`,
  );
  const fromValidate = validateFiles([dir]).objects.map((o) => `${path.relative(dir, o.origin!.file!)} ${o.metadata.name}`);

  const expectedFiles = ["A.YML", "a/x.yaml", "a-b.json", "b.yaml", "z-link.yaml"];
  assert.deepEqual(files, expectedFiles, "dot-entries skipped, any extension case, symlinks followed, depth-first by name");
  assert.deepEqual(seenOrder, expectedFiles);
  // z-link.yaml defines b again: the store keeps one (the later file), validate keeps the later definition.
  assert.deepEqual(fromTranslate, ["A.YML upper-ext", "a/x.yaml nested", "a-b.json json", "b.yaml b", "z-link.yaml b"]);
  assert.deepEqual(fromValidate, ["A.YML upper-ext", "a/x.yaml nested", "a-b.json json", "z-link.yaml b"]);
  assert.deepEqual(fromSource, ["A.YML upper-ext", "a-b.json json", "a/x.yaml nested", "z-link.yaml b"]);
});

test("validate -f - reads standard input", () => {
  const cli = path.join(__dirname, "..", "..", "src", "cli", "main.js");
  const r = spawnSync(process.execPath, [cli, "validate", "-f", "-"], {
    input: svc("from-stdin") + "---\nkind: Service\nmetadata: {name: [x\n",
    encoding: "utf8",
  });
  assert.match(r.stdout, /^<stdin>:9 invalid YAML: Flow sequence/m);
  assert.match(r.stdout, /1 objects, 1 errors/);
});
