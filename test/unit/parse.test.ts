import { test } from "node:test";
import assert from "node:assert/strict";
import { parseManifests } from "../../src/model/parse";

const lines = (r: ReturnType<typeof parseManifests>) =>
  r.objects.map((o) => `${o.origin.file}:${o.origin.line} ${String(o.raw.kind)}/${String((o.raw.metadata as { name?: string } | undefined)?.name)}`);

test("multi-document YAML: each object starts on its first content line; empty documents are skipped", () => {
  const text = [
    "# services", // 1
    "apiVersion: v1", // 2
    "kind: Service", // 3
    "metadata: {name: a}", // 4
    "---", // 5
    "# nothing here", // 6
    "---", // 7
    "---", // 8
    "", // 9
    "apiVersion: v1", // 10
    "kind: Pod", // 11
    "metadata:", // 12
    "  name: p", // 13
    "",
  ].join("\n");
  const r = parseManifests(text, "m.yaml");
  assert.deepEqual(r.diagnostics, []);
  assert.deepEqual(lines(r), ["m.yaml:2 Service/a", "m.yaml:10 Pod/p"]);
  assert.deepEqual(r.objects[1]?.raw, { apiVersion: "v1", kind: "Pod", metadata: { name: "p" } });
});

test("kind: List items each get their own line", () => {
  const text = ["apiVersion: v1", "kind: List", "items:", "- kind: Pod", "  metadata: {name: p1}", "- kind: Pod", "  metadata:", "    name: p2", ""].join("\n");
  assert.deepEqual(lines(parseManifests(text, "list.yaml")), ["list.yaml:4 Pod/p1", "list.yaml:6 Pod/p2"]);
});

test("JSON: a single object, and a top-level array of objects", () => {
  const one = parseManifests('{\n  "apiVersion": "v1",\n  "kind": "Service",\n  "metadata": {"name": "s"}\n}\n', "s.json");
  assert.deepEqual(lines(one), ["s.json:1 Service/s"]);
  const many = parseManifests('[\n  {"kind": "Pod", "metadata": {"name": "a"}},\n  {"kind": "Pod", "metadata": {"name": "b"}}\n]\n', "p.json");
  assert.deepEqual(lines(many), ["p.json:2 Pod/a", "p.json:3 Pod/b"]);
});

test("a document that does not parse is reported with its line; the others still come through", () => {
  const text = [
    "kind: Service", // 1
    "metadata: {name: a}", // 2
    "---", // 3
    "kind: Pod", // 4
    "metadata:", // 5
    "  name: [unclosed", // 6
    "spec: {}", // 7
    "---", // 8
    "kind: Pod", // 9
    "metadata: {name: b}", // 10
    "",
  ].join("\n");
  const r = parseManifests(text, "broken.yaml");
  assert.deepEqual(lines(r), ["broken.yaml:1 Service/a", "broken.yaml:9 Pod/b"]);
  assert.equal(r.diagnostics.length, 1);
  const d = r.diagnostics[0];
  assert.equal(d?.severity, "error");
  assert.equal(d?.origin?.file, "broken.yaml");
  assert.equal(d?.origin?.line, 7);
  assert.match(d?.message ?? "", /^invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a \]$/);
});

test("duplicate keys and non-object documents are diagnostics", () => {
  const r = parseManifests("kind: Pod\nkind: Service\n---\njust a string\n---\n- 1\n", "odd.yaml");
  assert.deepEqual(r.objects, []);
  assert.deepEqual(
    r.diagnostics.map((d) => `${d.origin?.line} ${d.message}`),
    ["2 invalid YAML: Map keys must be unique", "4 document is not an object (got string)", "6 list item is not an object"],
  );
});

test("anchors and merge keys resolve as Kubernetes' YAML reader does", () => {
  const text = ["x-labels: &labels {app: bill}", "kind: Pod", "metadata:", "  name: p", "  labels:", "    <<: *labels", "    version: v1", ""].join("\n");
  const r = parseManifests(text, "a.yaml");
  assert.deepEqual((r.objects[0]?.raw.metadata as { labels: unknown }).labels, { app: "bill", version: "v1" });
});
