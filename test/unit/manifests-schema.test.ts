/**
 * The CRD schemas against every Istio object in the repository (examples/,
 * test/golden, test/e2e/fixtures): what mini-pilot's validation accepts, the
 * API server must store unchanged — no field pruned, no type refused. A small
 * structural-schema walker stands in for the API server here; test/kube/
 * install.test.ts checks the real one.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { installObjects } from "../../src/install";
import type { Schema } from "../../src/install/schema";
import { validateObject } from "../../src/model/validate";
import { parityFiles, readParityCases } from "../support/validation-parity";

const ROOT = path.join(__dirname, "..", "..", "..");

function yamlFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? yamlFiles(p) : /\.ya?ml$/.test(e.name) ? [p] : [];
  });
}

/** Where `value` does not fit `schema`: fields the API server would prune, and wrong types. */
function misfits(value: unknown, s: Schema, at: string): string[] {
  if (s["x-kubernetes-preserve-unknown-fields"] && !s.properties) return [];
  const t = s.type;
  const type = Array.isArray(value) ? "array" : value === null ? "null" : typeof value;
  if (t === "object") {
    if (type !== "object") return [`${at}: ${type}, want object`];
    return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => {
      const sub = s.properties?.[k] ?? s.additionalProperties;
      return sub ? misfits(v, sub, `${at}.${k}`) : s["x-kubernetes-preserve-unknown-fields"] ? [] : [`${at}.${k}: pruned (not in the schema)`];
    });
  }
  if (t === "array") return type === "array" ? (value as unknown[]).flatMap((v, i) => misfits(v, s.items!, `${at}[${i}]`)) : [`${at}: ${type}, want array`];
  if (t === "integer") return Number.isInteger(value) ? [] : [`${at}: ${JSON.stringify(value)}, want integer`];
  if (t === "number") return type === "number" ? [] : [`${at}: ${type}, want number`];
  if (t === "string")
    return type === "string" ? (s.enum && !s.enum.includes(value as string) ? [`${at}: ${String(value)} not in enum`] : []) : [`${at}: ${type}, want string`];
  if (t === "boolean") return type === "boolean" ? [] : [`${at}: ${type}, want boolean`];
  return [`${at}: schema node without a type`];
}

const schemas = new Map(
  installObjects()
    .filter((o) => o.kind === "CustomResourceDefinition")
    .map((o: any) => [o.spec.names.kind as string, o.spec.versions[0].schema.openAPIV3Schema.properties.spec as Schema]),
);

test("every Istio object mini-pilot's validation accepts fits the CRD schema with nothing pruned", () => {
  let checked = 0;
  const problems: string[] = [];
  const files = ["examples", "test/golden", "test/e2e/fixtures"].flatMap((d) => yamlFiles(path.join(ROOT, d)));
  for (const file of files) {
    for (const doc of YAML.parseAllDocuments(fs.readFileSync(file, "utf8"))) {
      const raw = doc.toJS() as Record<string, any> | null;
      const schema = raw && typeof raw === "object" && /^networking\.istio\.io\//.test(String(raw.apiVersion)) ? schemas.get(raw.kind) : undefined;
      if (!schema || !raw) continue;
      const result = validateObject(raw, { file });
      if (!result.ok) continue;
      // Fields validation itself calls unknown are fine to prune.
      const unknown = new Set(result.warnings.filter((w) => /unknown field/.test(w.message)).map((w) => w.field));
      const bad = misfits(raw.spec, schema, "spec").filter((m) => !unknown.has(m.split(":")[0]));
      problems.push(...bad.map((m) => `${path.relative(ROOT, file)} ${raw.kind} ${raw.metadata?.name}: ${m}`));
      checked++;
    }
  }
  assert.deepEqual(problems, []);
  assert.ok(checked >= 50, `checked only ${checked} objects`);
});

test("every validation-parity case mini-pilot accepts fits the CRD schema with nothing pruned", () => {
  const problems: string[] = [];
  let checked = 0;
  for (const file of parityFiles()) {
    for (const c of readParityCases(file)) {
      const raw = c.object as Record<string, any>;
      const schema = schemas.get(String(raw.kind));
      if (!schema || c.expect === "error") continue;
      const result = validateObject(raw, { file });
      if (!result.ok && result.diagnostics.some((d) => d.severity === "error")) continue;
      const warnings = result.ok ? result.warnings : result.diagnostics;
      const unknown = new Set(warnings.filter((w) => /unknown field/.test(w.message)).map((w) => w.field));
      problems.push(
        ...misfits(raw.spec, schema, "spec")
          .filter((m) => !unknown.has(m.split(":")[0]))
          .map((m) => `${c.case}: ${m}`),
      );
      checked++;
    }
  }
  assert.deepEqual(problems, []);
  assert.ok(checked >= 60, `checked only ${checked} cases`);
});

test("the walker notices a pruned field and a wrong type (so the test above can fail)", () => {
  const vs = schemas.get("VirtualService")!;
  assert.deepEqual(misfits({ hosts: ["a"], http: [{ route: [{ destination: { host: "a" }, weight: "9" }], nope: 1 }] }, vs, "spec"), [
    'spec.http[0].route[0].weight: "9", want integer',
    "spec.http[0].nope: pruned (not in the schema)",
  ]);
});

/** Paths of the schema nodes that keep unknown fields. */
function openNodes(s: Schema, at: string): string[] {
  const here = s["x-kubernetes-preserve-unknown-fields"] ? [at] : [];
  const props = Object.entries(s.properties ?? {}).flatMap(([k, v]) => openNodes(v, `${at}.${k}`));
  const items = s.items ? openNodes(s.items, `${at}[]`) : [];
  const values = s.additionalProperties ? openNodes(s.additionalProperties, `${at}{}`) : [];
  return [...here, ...props, ...items, ...values];
}

test("schemas are structural, and open only where that is justified", () => {
  for (const o of installObjects().filter((x) => x.kind === "CustomResourceDefinition") as any[]) {
    const root = o.spec.versions[0].schema.openAPIV3Schema as Schema;
    for (const v of o.spec.versions) assert.deepEqual(v.schema.openAPIV3Schema, root, "every version has the same schema");
    // status (written by Istio's controllers, never read), localityLbSetting (passed through as written),
    // and Istio fields mini-pilot does not implement (kept so it can warn): nothing else.
    const justified =
      /^(status|.*\.localityLbSetting|.*\.(statPrefix|retryIgnorePreviousHosts|allowOrigin|unmatchedPreflights|warmup|caCrl|tunnel|proxyProtocol|retryBudget|verifyCertificateSpki|verifyCertificateHash|defaultEndpoint))$/;
    for (const p of openNodes(root, "").map((x) => x.slice(1))) assert.match(p, justified, `${o.metadata.name}: ${p} keeps unknown fields`);
    const untyped = (s: Schema, at: string): string[] => [
      ...(s.type || s["x-kubernetes-preserve-unknown-fields"] ? [] : [at]),
      ...Object.entries(s.properties ?? {}).flatMap(([k, v]) => untyped(v, `${at}.${k}`)),
      ...(s.items ? untyped(s.items, `${at}[]`) : []),
      ...(s.additionalProperties ? untyped(s.additionalProperties, `${at}{}`) : []),
    ];
    assert.deepEqual(untyped(root, ""), [], `${o.metadata.name}: every node typed`);
  }
});
