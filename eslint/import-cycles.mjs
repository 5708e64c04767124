/**
 * ESLint rule `local/no-import-cycle`: reports a file that sits on an import
 * cycle, counting every kind of import — `import type`, re-exports, `require()`
 * and `import()` — because a type-only cycle still ties two modules together
 * (import-x/no-cycle skips type imports, so it cannot prove that).
 *
 * The graph is built once per lint run from TypeScript's own pre-processor
 * (`ts.preProcessFile`), resolving relative specifiers to `.ts` files or
 * `index.ts`; package imports are not followed. Strongly connected components
 * (Tarjan) give every cycle at once, so each file costs a map lookup.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import ts from "typescript";

/** file -> the project files it imports (absolute paths). */
const edgesCache = new Map();

function resolveSpecifier(fromFile, spec) {
  if (!spec.startsWith(".")) return undefined;
  const base = path.resolve(path.dirname(fromFile), spec);
  for (const candidate of [base, `${base}.ts`, path.join(base, "index.ts")]) {
    if (candidate.endsWith(".ts") && fs.existsSync(candidate) && fs.statSync(candidate).isFile()) return candidate;
  }
  return undefined;
}

function importsOf(file, text) {
  let edges = edgesCache.get(file);
  if (edges) return edges;
  const info = ts.preProcessFile(text ?? fs.readFileSync(file, "utf8"), true, true);
  edges = [];
  for (const ref of info.importedFiles) {
    const target = resolveSpecifier(file, ref.fileName);
    if (target) edges.push(target);
  }
  edgesCache.set(file, edges);
  return edges;
}

/** Tarjan's SCCs over everything reachable from `start`; returns file -> its cycle (files), for files on one. */
function cyclesFrom(start, known) {
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const visit = (v) => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of importsOf(v)) {
      if (known.has(w)) continue; // settled in an earlier run
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const scc = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      const selfLoop = scc.length === 1 && importsOf(v).includes(v);
      for (const f of scc) known.set(f, scc.length > 1 || selfLoop ? scc : null);
    }
  };
  visit(start);
}

/** file -> null (no cycle) or the files of its cycle; filled lazily across files of one run. */
const settled = new Map();

export const noImportCycle = {
  meta: {
    type: "problem",
    docs: { description: "forbid import cycles, type-only imports included" },
    schema: [],
    messages: { cycle: "import cycle (type-only imports count): {{cycle}}" },
  },
  create(context) {
    const file = path.resolve(context.physicalFilename);
    if (!file.endsWith(".ts")) return {};
    return {
      Program(node) {
        importsOf(file, context.sourceCode.text); // the text being linted, which may not be on disk yet
        if (!settled.has(file)) cyclesFrom(file, settled);
        const scc = settled.get(file);
        if (!scc) return;
        const cwd = context.cwd ?? process.cwd();
        const cycle = [...scc].sort().map((f) => path.relative(cwd, f));
        context.report({ node, messageId: "cycle", data: { cycle: cycle.join(" <-> ") } });
      },
    };
  },
};

export default { rules: { "no-import-cycle": noImportCycle } };
