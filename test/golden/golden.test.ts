/**
 * Golden tests for the translation engine. Each folder under test/golden is a
 * case:
 *   input.yaml     manifests (optional when include.txt names them)
 *   include.txt    optional: repo-relative files/folders of manifests to load too
 *   proxy.yaml     {id, metadata, mesh?}: the proxy under test and buildMesh options
 *   mesh-config.yaml  optional: Istio MeshConfig YAML (as `--mesh-config` reads it); proxy.yaml's mesh wins
 *   listeners.yaml routes.yaml clusters.yaml endpoints.yaml   expected output
 *   secrets.yaml   SDS secrets (absent when the proxy is sent none)
 *   diagnostics.txt  expected diagnostics (absent when there are none)
 *
 * Every resource is converted strictly (unknown fields throw), checked against
 * Envoy's PGV rules (`checkRules` on the `fromJson` result: a violation fails
 * with the resource name and the rule), encoded, checked against the
 * snapshot's cross-references, then decoded, so the expected files show
 * exactly what goes on the wire. diagnostics.txt holds the parse/validation
 * and buildMesh diagnostics, then the generator's own for this proxy.
 * `UPDATE_GOLDEN=1` rewrites the expected files and deletes stale ones.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse, stringify } from "yaml";
import { objectsFromManifests } from "../../src/cli/translate";
import { caseManifests } from "../support/golden-cases";
import { buildMesh, BuildMeshOptions } from "../../src/model/mesh";
import { parseProxy } from "../../src/model/proxy";
import { parseMeshConfig } from "../../src/model/mesh-config";
import { meshOptionsFromConfig } from "../../src/model/mesh-config-options";
import { formatDiagnostic } from "../../src/model/types";
import { generate, GeneratedResources } from "../../src/generate";
import { encodeResource, resourceToJson, EncodedResource } from "../../src/xds/resource";
import { CLUSTER, ENDPOINT, LISTENER, NAME_FIELD, ROUTE, SECRET, XdsTypeUrl, messageName } from "../../src/xds/types";
import { fromJson } from "../../src/xds/json";
import { makeSnapshot, checkConsistency } from "../../src/cache/snapshot";
import { checkRules } from "../../src/xds/pgv";
import { messageType } from "../../src/xds/protos";

const REPO = path.resolve(__dirname, "../../..");
const GOLDEN = path.join(REPO, "test/golden");
const UPDATE = process.env.UPDATE_GOLDEN === "1";

const OUTPUTS: { file: string; url: XdsTypeUrl; key: keyof GeneratedResources }[] = [
  { file: "listeners.yaml", url: LISTENER, key: "listeners" },
  { file: "routes.yaml", url: ROUTE, key: "routes" },
  { file: "clusters.yaml", url: CLUSTER, key: "clusters" },
  { file: "endpoints.yaml", url: ENDPOINT, key: "endpoints" },
];
const INPUT_FILES = new Set(["input.yaml", "include.txt", "proxy.yaml", "mesh-config.yaml", "README.md"]);

interface ProxySpec {
  id: string;
  metadata?: Record<string, unknown>;
  mesh?: BuildMeshOptions;
}

/** Convert strictly, check PGV rules, encode, decode. */
function onTheWire(url: XdsTypeUrl, resources: object[], encoded: EncodedResource[]): unknown[] {
  const type = messageType(messageName(url));
  return resources.map((r) => {
    const wire = fromJson(type, r);
    const violations = checkRules(type, wire);
    if (violations.length > 0) {
      assert.fail(`${messageName(url)} "${String(wire[NAME_FIELD[url]] ?? "")}" breaks Envoy's validation rules:\n  ${violations.join("\n  ")}`);
    }
    const e = encodeResource(url, r);
    encoded.push(e);
    return resourceToJson(e);
  });
}

/** The case's mesh-config.yaml as buildMesh options (none: {}); a refused config fails the case. */
function meshConfigOptions(dir: string): BuildMeshOptions {
  const file = path.join(dir, "mesh-config.yaml");
  if (!fs.existsSync(file)) return {};
  const parsed = parseMeshConfig(fs.readFileSync(file, "utf8"), "mesh-config.yaml");
  assert.ok(parsed.ok, parsed.ok ? "" : parsed.errors.join("\n"));
  return meshOptionsFromConfig(parsed.config);
}

function runCase(name: string): void {
  const dir = path.join(GOLDEN, name);
  const proxySpec = parse(fs.readFileSync(path.join(dir, "proxy.yaml"), "utf8")) as ProxySpec;
  const parsedProxy = parseProxy(proxySpec.id, proxySpec.metadata ?? {});
  assert.ok(parsedProxy.ok, parsedProxy.ok ? "" : parsedProxy.error);
  const loaded = objectsFromManifests(caseManifests(dir));
  const { mesh, diagnostics } = buildMesh(loaded.objects, { ...meshConfigOptions(dir), ...(proxySpec.mesh ?? {}) });
  const generated = generate(mesh, parsedProxy.proxy);

  const encoded: EncodedResource[] = [];
  const actual = new Map<string, string>();
  for (const o of OUTPUTS) actual.set(o.file, stringify(onTheWire(o.url, generated[o.key], encoded), { lineWidth: 0 }));
  const secrets = generated.credentials?.secrets ?? [];
  if (secrets.length > 0) actual.set("secrets.yaml", stringify(onTheWire(SECRET, secrets, encoded), { lineWidth: 0 }));
  assert.deepEqual(checkConsistency(makeSnapshot(encoded)), [], "clusters and listeners must only reference resources in the snapshot");
  const diags = [...loaded.diagnostics, ...diagnostics, ...(generated.diagnostics ?? []), ...(generated.credentials?.diagnostics ?? [])].map((d) => `${d.severity}: ${formatDiagnostic(d)}`);
  if (diags.length > 0) actual.set("diagnostics.txt", diags.join("\n") + "\n");

  if (UPDATE) {
    for (const f of fs.readdirSync(dir)) if (!INPUT_FILES.has(f) && !actual.has(f)) fs.rmSync(path.join(dir, f));
    for (const [f, text] of actual) fs.writeFileSync(path.join(dir, f), text);
    return;
  }
  for (const f of fs.readdirSync(dir)) {
    if (!INPUT_FILES.has(f)) assert.ok(actual.has(f), `${name}/${f} is stale: nothing produces it (run with UPDATE_GOLDEN=1)`);
  }
  for (const [f, text] of actual) {
    const expectedPath = path.join(dir, f);
    assert.ok(fs.existsSync(expectedPath), `${name}/${f} is missing (run with UPDATE_GOLDEN=1)`);
    assert.equal(text, fs.readFileSync(expectedPath, "utf8"), `${name}/${f} differs`);
  }
}

const cases = fs
  .readdirSync(GOLDEN, { withFileTypes: true })
  .filter((e) => e.isDirectory() && fs.existsSync(path.join(GOLDEN, e.name, "proxy.yaml")))
  .map((e) => e.name)
  .sort();

test("there are golden cases", () => assert.ok(cases.length > 0));
for (const name of cases) test(`golden: ${name}`, () => runCase(name));
