import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run, validateFiles } from "../../src/cli/validate";
import { CliError } from "../../src/cli/args";

async function capture(argv: string[]): Promise<{ code: number; out: string }> {
  const original = process.stdout.write.bind(process.stdout);
  let out = "";
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString();
    return true;
  }) as typeof process.stdout.write;
  try {
    return { code: await run(argv), out };
  } finally {
    process.stdout.write = original;
  }
}

const SERVICE = "apiVersion: v1\nkind: Service\nmetadata:\n  name: bill-service\nspec:\n  selector: {app: bill}\n  ports:\n  - {name: http, port: 9999}\n";
const DR =
  "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: bill-service\nspec:\n  host: bill-service\n  subsets:\n  - {name: v1, labels: {version: v1}}\n";

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "mp-validate-"));
  for (const [path, text] of Object.entries(files)) {
    const full = join(root, path);
    mkdirSync(join(full, ".."), { recursive: true });
    writeFileSync(full, text);
  }
  return root;
}

test("a clean folder: summary only, exit 0", async () => {
  const root = tree({ "svc.yaml": SERVICE, "rules/dr.yml": DR, "README.md": "not a manifest" });
  try {
    const { code, out } = await capture(["-f", root]);
    assert.equal(out, "2 objects, 0 errors, 0 warnings\n");
    assert.equal(code, 0);
  } finally {
    rmSync(root, { recursive: true });
  }
});

test("errors are listed by file then line; a broken document does not hide the others", async () => {
  const broken = `${SERVICE}---\nkind: Pod\nmetadata:\n  name: [oops\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\nspec:\n  hosts: [bill-service]\n  http:\n  - route:\n    - destination: {host: bill-service}\n      weight: -1\n    - destination: {host: bill-service, subset: v_2}\n`;
  const root = tree({ "b/broken.yaml": broken, "a.json": '{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bill"}}' });
  try {
    const { code, out } = await capture(["-f", join(root, "b"), "--filename", join(root, "a.json")]);
    const b = join(root, "b", "broken.yaml");
    assert.equal(
      out,
      [
        `${join(root, "a.json")}:1 Deployment bill kind: apps/v1 Deployment is not read by mini-pilot; ignored (warning)`,
        `${b}:13 invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]`,
        `${b}:14 VirtualService default/r spec.http[0].route[0].weight: weight -1 < 0`,
        `${b}:14 VirtualService default/r spec.http[0].route[1].destination.subset: subset name is invalid: v_2`,
        "3 objects, 3 errors, 1 warnings",
        "",
      ].join("\n"),
    );
    assert.equal(code, 1);
  } finally {
    rmSync(root, { recursive: true });
  }
});

test("validateFiles returns the accepted objects, keeps the last of duplicates, and adds cross-object checks", () => {
  const vs =
    "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\nspec:\n  hosts: [bill-service]\n  http:\n  - route:\n    - destination: {host: bill-service, subset: v9}\n";
  const root = tree({ "1.yaml": SERVICE, "2.yaml": `${SERVICE}---\n${DR}---\n${vs}` });
  try {
    const r = validateFiles([root]);
    assert.deepEqual(
      r.objects.map((o) => `${o.kind}@${o.origin?.file?.slice(root.length + 1)}:${o.origin?.line}`),
      ["Service@2.yaml:1", "DestinationRule@2.yaml:10", "VirtualService@2.yaml:19"],
    );
    assert.equal(r.read, 4);
    const messages = r.diagnostics.map((d) => `${d.severity} ${d.kind} ${d.message}`);
    assert.equal(messages[0], `warning Service also defined at ${join(root, "1.yaml")}:1; the later definition wins`);
    // The mesh model (another module) reports the unknown subset; this only checks it is consulted.
    assert.ok(
      messages.slice(1).some((m) => m.startsWith("warning VirtualService") && m.includes("v9")),
      messages.join("\n"),
    );
  } finally {
    rmSync(root, { recursive: true });
  }
});

test("missing paths are errors; no paths is a usage error; --help prints the flags", async () => {
  const missing = await capture(["-f", "/nonexistent/mini-pilot-manifests"]);
  assert.equal(missing.out, "/nonexistent/mini-pilot-manifests cannot read: ENOENT\n0 objects, 1 errors, 0 warnings\n");
  assert.equal(missing.code, 1);
  await assert.rejects(capture([]), CliError);
  const help = await capture(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.out, /^Usage: mini-pilot validate -f PATH \[-f PATH\.\.\.\]/);
  assert.match(help.out, /-f, --filename PATH/);
});
