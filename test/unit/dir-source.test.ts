/** The YAML-folder source: add, change, delete, broken file, fixed file. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ConfigStore, ChangeSet } from "../../src/store";
import { DirSource } from "../../src/sources/file/dir-source";
import { Diagnostic, formatDiagnostic } from "../../src/model/types";

const svc = (name: string, port: number) => `apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: default
spec:
  ports:
    - name: http
      port: ${port}
`;

function setup() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mp-dir-"));
  const store = new ConfigStore();
  const changes: ChangeSet[] = [];
  store.subscribe((c) => changes.push(c));
  const diags = new Map<string, Diagnostic[]>();
  const source = new DirSource({ dirs: [dir], store, pollMs: 0, onDiagnostics: (f, d) => diags.set(f, d) });
  const write = (name: string, text: string) => {
    const p = path.join(dir, name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, text);
    // Make the mtime/size stamp differ even within one clock tick.
    const t = new Date(Date.now() + changes.length * 1000);
    fs.utimesSync(p, t, t);
  };
  return { dir, store, changes, diags, source, write };
}

test("adds objects from nested multi-document files, and emits only what changed", async () => {
  const { store, changes, source, write } = setup();
  write("a.yaml", svc("one", 80) + "---\n" + svc("two", 81));
  write("sub/b.yml", svc("three", 82));
  write("notes.txt", "not yaml config");
  await source.start();
  source.stop();
  assert.deepEqual(
    store
      .list()
      .map((o) => o.metadata.name)
      .sort(),
    ["one", "three", "two"],
  );
  const before = changes.length;
  write("a.yaml", svc("one", 80) + "---\n" + svc("two", 9999));
  await source.scan();
  assert.equal(changes.length, before + 1);
  assert.deepEqual(
    changes.at(-1)!.updated.map((o) => o.metadata.name),
    ["two"],
  );
  assert.equal(changes.at(-1)!.added.length + changes.at(-1)!.deleted.length, 0);
});

test("deleting a file deletes its objects", async () => {
  const { store, source, write, dir } = setup();
  write("a.yaml", svc("one", 80));
  write("b.yaml", svc("two", 81));
  await source.start();
  source.stop();
  fs.rmSync(path.join(dir, "b.yaml"));
  await source.scan();
  assert.deepEqual(
    store.list().map((o) => o.metadata.name),
    ["one"],
  );
});

test("a file that stops parsing keeps its last good objects and reports file:line; fixing it applies the fix", async () => {
  const { store, source, write, diags, dir } = setup();
  write("a.yaml", svc("one", 80) + "---\n" + svc("two", 81));
  await source.start();
  source.stop();
  write("a.yaml", svc("one", 80) + "---\nkind: Service\nmetadata: {name: [unclosed\n");
  await source.scan();
  assert.deepEqual(
    store
      .list()
      .map((o) => o.metadata.name)
      .sort(),
    ["one", "two"],
    "nothing lost",
  );
  const file = path.join(dir, "a.yaml");
  const text = diags.get(file)!.map(formatDiagnostic).join("\n");
  assert.match(text, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:1[0-9]? `));
  assert.match(text, /kept the 2 object\(s\) last read from this file/);
  write("a.yaml", svc("one", 80));
  await source.scan();
  assert.deepEqual(
    store.list().map((o) => o.metadata.name),
    ["one"],
  );
  assert.deepEqual(diags.get(file), []);
});

test("an object that turns invalid keeps its last valid version; the rest of the file applies", async () => {
  const { store, source, write, diags, dir } = setup();
  const vs = (weight: number) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r, namespace: default}
spec:
  hosts: [one]
  http:
    - route:
        - destination: {host: one}
          weight: ${weight}
`;
  write("a.yaml", svc("one", 80) + "---\n" + vs(100));
  await source.start();
  source.stop();
  write("a.yaml", svc("one", 8080) + "---\n" + vs(-5));
  await source.scan();
  const vsNow = store.list("VirtualService")[0]!;
  assert.equal((vsNow.spec as { http: { route: { weight: number }[] }[] }).http[0]!.route[0]!.weight, 100);
  const one = store.list("Service")[0]!;
  assert.equal((one.spec as { ports: { port: number }[] }).ports[0]!.port, 8080);
  const text = diags.get(path.join(dir, "a.yaml"))!.map(formatDiagnostic).join("\n");
  assert.match(text, /spec\.http\[0\]\.route\[0\]\.weight/);
  assert.match(text, /still serving its last valid version/);
});

test("a missing folder is a clear error", async () => {
  const store = new ConfigStore();
  assert.throws(() => new DirSource({ dirs: ["/no/such/dir"], store }).start(), /--config-dir: "\/no\/such\/dir" is not a folder/);
});
