/**
 * The lint rules that encode the pipeline's direction must be able to fail:
 * an upward import (model -> server), a type-only import cycle, and a new
 * src/ folder without a layer are each reported. Runs ESLint's own API on
 * the repository's eslint.config.mjs.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { spawnSync } from "node:child_process";
import { ESLint } from "eslint";

const ROOT = path.resolve(__dirname, "../../..");
// Compiled to CommonJS, `import()` would become require(); load the ES module config for real.
const importEsm = new Function("specifier", "return import(specifier)") as (s: string) => Promise<{ default: unknown; noImportCycle?: unknown }>;

async function lintAs(filePath: string, code: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: ROOT });
  const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, filePath) });
  return result!.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

test("lint: a lower layer importing a higher one is an error, type-only imports included", async () => {
  const upward = await lintAs("src/model/upward-fixture.ts", 'import type { XdsStream } from "../server/stream";\nexport type S = XdsStream;\n');
  assert.ok(
    upward.some((m) => m.startsWith("import-x/no-restricted-paths") && m.includes("src/model may import only")),
    upward.join("\n"),
  );
  const allowed = await lintAs("src/generate/downward-fixture.ts", 'import type { MeshObject } from "../model/types";\nexport type M = MeshObject;\n');
  assert.deepEqual(allowed, []);
});

test("lint: a type-only import cycle is an error", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lint-cycle-"));
  try {
    fs.writeFileSync(path.join(dir, "a.ts"), 'import type { B } from "./b";\nexport interface A { b?: B }\n');
    fs.writeFileSync(path.join(dir, "b.ts"), 'import type { A } from "./a";\nexport interface B { a?: A }\n');
    fs.writeFileSync(path.join(dir, "c.ts"), 'import type { A } from "./a";\nexport type C = A;\n');
    const local = (await importEsm(pathToFileURL(path.join(ROOT, "eslint/import-cycles.mjs")).href)).default as ESLint.Plugin;
    const tseslint = (await importEsm("typescript-eslint")).default as { parser: unknown };
    const eslint = new ESLint({
      cwd: dir,
      overrideConfigFile: true,
      overrideConfig: [
        { files: ["**/*.ts"], languageOptions: { parser: tseslint.parser as never }, plugins: { local }, rules: { "local/no-import-cycle": "error" } },
      ],
    });
    const results = await eslint.lintFiles(["*.ts"]);
    const byFile = Object.fromEntries(results.map((r) => [path.basename(r.filePath), r.messages.map((m) => m.message)]));
    assert.match(byFile["a.ts"]![0] ?? "", /import cycle.*a\.ts <-> .*b\.ts/);
    assert.match(byFile["b.ts"]![0] ?? "", /import cycle/);
    assert.deepEqual(byFile["c.ts"], [], "a file that only imports into a cycle is not on it");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("lint: a src/ folder without a row in LAYERS fails the configuration", async () => {
  const dir = path.join(ROOT, "src", "zz-unlisted-fixture");
  fs.mkdirSync(dir);
  try {
    // A child process: this one has the configuration cached already.
    const run = spawnSync(process.execPath, [path.join(ROOT, "node_modules/eslint/bin/eslint.js"), "src/log.ts"], { cwd: ROOT, encoding: "utf8" });
    assert.notEqual(run.status, 0);
    assert.match(run.stderr + run.stdout, /give src\/zz-unlisted-fixture a row in LAYERS/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
