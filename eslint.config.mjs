// Lint for mini-pilot: typescript-eslint's recommended rules, plus two rules
// that encode the pipeline's direction (docs/ARCHITECTURE.md):
//  - layers: a folder under src/ may import only the folders listed for it in
//    LAYERS (type-only imports included); a new folder must be given a row here,
//    or lint fails;
//  - local/no-import-cycle: no import cycle anywhere, type-only imports included.
import * as fs from "node:fs";
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import importX from "eslint-plugin-import-x";
import local from "./eslint/import-cycles.mjs";

/**
 * What each folder of src/ may import, lowest layers first. Data flows
 * sources → store → model → generate → cache → server; imports point the other
 * way only for types a stage consumes (a source writes model objects into the store).
 */
const LAYERS = {
  util: [],
  "log.ts": ["util"],
  xds: ["log.ts"],
  model: ["log.ts", "util"],
  store: ["model", "log.ts"],
  sources: ["store", "model", "xds", "log.ts"],
  generate: ["model", "xds", "log.ts"],
  cache: ["xds", "log.ts"],
  push: ["cache", "generate", "store", "model", "xds", "log.ts"],
  server: ["cache", "xds", "log.ts", "util"],
  debug: ["server", "push", "cache", "store", "model", "xds", "log.ts"],
  bootstrap: ["xds", "log.ts", "util"],
  translate: ["bootstrap", "generate", "sources", "model", "xds", "log.ts", "util"],
  security: [],
  agent: ["security", "xds", "log.ts", "util"],
  inject: ["log.ts"],
  install: ["sources", "model", "inject"],
  canary: ["sources"],
  cli: ["*"],
};

const present = fs.readdirSync(new URL("./src", import.meta.url)).filter((n) => !n.endsWith(".d.ts"));
const unlisted = present.filter((n) => !(n in LAYERS));
if (unlisted.length > 0) throw new Error(`eslint.config.mjs: give src/${unlisted.join(", src/")} a row in LAYERS`);

/** import-x/no-restricted-paths zones: for each folder, every other folder it may not use. */
const zones = Object.entries(LAYERS)
  .filter(([, allowed]) => !allowed.includes("*"))
  .map(([target, allowed]) => ({
    target: `./src/${target}`,
    from: present.filter((n) => n !== target && !allowed.includes(n)).map((n) => `./src/${n}`),
    message: `src/${target} may import only ${allowed.length ? allowed.map((a) => `src/${a}`).join(", ") : "nothing else in src/"} (see LAYERS in eslint.config.mjs)`,
  }))
  .filter((z) => z.from.length > 0);

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "bench/peers/**", "bench-results/**", "**/*.js", "**/*.cjs", "src/**/*.generated.ts"] },
  { files: ["**/*.mjs"], languageOptions: { globals: { process: "readonly", URL: "readonly", console: "readonly" } } },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    plugins: { "import-x": importX, local },
    settings: { "import-x/resolver": { typescript: { project: "./tsconfig.json" }, node: true } },
    rules: {
      "import-x/no-restricted-paths": ["error", { zones }],
      "local/no-import-cycle": "error",
      // `require()` is how cli/main.ts loads commands lazily; nowhere else.
      "@typescript-eslint/no-require-imports": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "off",
    },
  },
  {
    // Source files may not reach into tests, benchmarks or scripts.
    files: ["src/**/*.ts"],
    rules: {
      // A source file past 600 lines has more than one job: split it.
      "max-lines": ["error", { max: 600 }],
      "no-restricted-imports": [
        "error",
        { patterns: [{ group: ["**/test/**", "**/bench/**", "**/scripts/**"], message: "src/ must not import test/, bench/ or scripts/" }] },
      ],
    },
  },
  {
    // The one place that loads modules with require(): commands are loaded lazily
    // so `mini-pilot validate` does not pay for the gRPC server.
    files: ["src/cli/main.ts"],
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
  {
    // `mini-pilot bench` is the one door from src/ into bench/ (not shipped in the image).
    files: ["src/cli/bench.ts"],
    rules: { "no-restricted-imports": "off" },
  },
  {
    // Tests walk decoded JSON and admin output freely.
    files: ["test/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
);
