import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigStore, type ChangeSet } from "../../src/store";
import type { MeshObject, Service } from "../../src/model/types";

function svc(name: string, port = 80, extra: Partial<Service["metadata"]> = {}, line = 1): Service {
  return {
    kind: "Service",
    apiVersion: "v1",
    metadata: { name, namespace: "default", ...extra },
    spec: { ports: [{ name: "http", port }] },
    origin: { file: "a.yaml", line },
  };
}

function pod(name: string, ip: string): MeshObject {
  return { kind: "Pod", apiVersion: "v1", metadata: { name, namespace: "default" }, spec: { podIP: ip } };
}

const names = (c: ChangeSet) => ({
  added: c.added.map((o) => o.metadata.name),
  updated: c.updated.map((o) => o.metadata.name),
  deleted: c.deleted.map((o) => o.metadata.name),
});
const none = { added: [], updated: [], deleted: [] };

test("apply adds, updates and reports net changes sorted by key", () => {
  const s = new ConfigStore();
  assert.deepEqual(names(s.apply([svc("b"), svc("a"), pod("p", "10.0.0.1")])), { added: ["p", "a", "b"], updated: [], deleted: [] });
  assert.deepEqual(names(s.apply([svc("a", 81)])), { added: [], updated: ["a"], deleted: [] });
  assert.equal((s.get("Service/default/a") as Service).spec.ports[0]?.port, 81);
  // Two writes of one key in a batch: the net effect is one update.
  assert.deepEqual(names(s.apply([svc("b", 90), svc("b", 91)])), { added: [], updated: ["b"], deleted: [] });
  assert.deepEqual(
    s.list().map((o) => `${o.kind}/${o.metadata.name}`),
    ["Pod/p", "Service/a", "Service/b"],
  );
  assert.deepEqual(
    s.list("Pod").map((o) => o.metadata.name),
    ["p"],
  );
});

test("writing an equal object is a no-op, whatever its origin, resourceVersion or key order", () => {
  const s = new ConfigStore();
  s.apply([svc("a", 80, { labels: { x: "1", y: "2" } })]);
  const calls: ChangeSet[] = [];
  s.subscribe((c) => calls.push(c));
  const same = svc("a", 80, { resourceVersion: "42", labels: { y: "2", x: "1" } }, 99);
  assert.deepEqual(names(s.apply([same])), none);
  assert.deepEqual(calls, []);
  // The stored copy still moves to the new origin, so diagnostics point at the right line.
  assert.equal(s.get("Service/default/a")?.origin?.line, 99);
  assert.deepEqual(names(s.apply([svc("a", 80, { labels: { x: "1", y: "3" } })])), { added: [], updated: ["a"], deleted: [] });
  assert.equal(calls.length, 1);
});

test("delete removes objects and ignores unknown keys", () => {
  const s = new ConfigStore();
  s.apply([svc("a"), svc("b")]);
  const c = s.delete(["Service/default/a", "Service/default/nope"]);
  assert.deepEqual(names(c), { added: [], updated: [], deleted: ["a"] });
  assert.equal((c.deleted[0] as Service).spec.ports[0]?.port, 80, "a deletion carries the object as it was");
  assert.equal(s.get("Service/default/a"), undefined);
  assert.deepEqual(names(s.delete(["Service/default/a"])), none);
});

test("replaceSource swaps a file's objects, deleting what it no longer has", () => {
  const s = new ConfigStore();
  assert.deepEqual(names(s.replaceSource("a.yaml", [svc("a"), svc("b")])), { added: ["a", "b"], updated: [], deleted: [] });
  assert.deepEqual(names(s.replaceSource("a.yaml", [svc("b", 81), svc("c")])), { added: ["c"], updated: ["b"], deleted: ["a"] });
  assert.deepEqual(names(s.replaceSource("a.yaml", [svc("b", 81), svc("c")])), none);
  assert.deepEqual(names(s.replaceSource("a.yaml", [])), { added: [], updated: [], deleted: ["b", "c"] });
  assert.equal(s.size, 0);
});

test("two sources with one key: the latest write shows; dropping it brings the other back", () => {
  const s = new ConfigStore();
  s.replaceSource("a.yaml", [svc("x", 80)]);
  assert.deepEqual(names(s.replaceSource("b.yaml", [svc("x", 81)])), { added: [], updated: ["x"], deleted: [] });
  assert.deepEqual(names(s.replaceSource("b.yaml", [])), { added: [], updated: ["x"], deleted: [] });
  assert.equal((s.get("Service/default/x") as Service).spec.ports[0]?.port, 80);
  // a.yaml's copy is the visible one again, so a.yaml dropping it deletes the object.
  assert.deepEqual(names(s.replaceSource("a.yaml", [])), { added: [], updated: [], deleted: ["x"] });
  // A source dropping a key another source now shows leaves the visible copy alone.
  s.replaceSource("a.yaml", [svc("y", 80)]);
  s.apply([svc("y", 82)]);
  assert.deepEqual(names(s.replaceSource("a.yaml", [])), none);
  assert.equal((s.get("Service/default/y") as Service).spec.ports[0]?.port, 82);
});

test("subscribers get every non-empty change set until they unsubscribe", () => {
  const s = new ConfigStore();
  const seen: string[] = [];
  const off = s.subscribe((c) => seen.push(JSON.stringify(names(c))));
  s.apply([svc("a")]);
  s.apply([svc("a")]);
  s.delete(["Service/default/a"]);
  off();
  s.apply([svc("b")]);
  assert.deepEqual(seen, [JSON.stringify({ added: ["a"], updated: [], deleted: [] }), JSON.stringify({ added: [], updated: [], deleted: ["a"] })]);
});

test("a key's holders are counted through writes, rewrites, drops and deletes: the right copy shows, and a key held by none is gone", () => {
  const s = new ConfigStore();
  s.replaceSource("a.yaml", [svc("x", 80)]);
  s.replaceSource("a.yaml", [svc("x", 80, {}, 2)]); // rewritten by the same source: still one holder
  s.replaceSource("b.yaml", [svc("x", 81)]);
  s.replaceSource("c.yaml", [svc("x", 82)]);
  assert.equal((s.get("Service/default/x") as Service).spec.ports[0]?.port, 82);
  s.replaceSource("c.yaml", []);
  assert.equal((s.get("Service/default/x") as Service).spec.ports[0]?.port, 80, "the first other source by id takes over");
  s.replaceSource("a.yaml", []);
  assert.equal((s.get("Service/default/x") as Service).spec.ports[0]?.port, 81);
  assert.deepEqual(names(s.replaceSource("b.yaml", [])), { added: [], updated: [], deleted: ["x"] });
  assert.equal(s.size, 0);
  // delete() forgets every holder: a later write and drop by one source leaves nothing behind.
  s.replaceSource("a.yaml", [svc("z")]);
  s.replaceSource("b.yaml", [svc("z", 81)]);
  s.delete(["Service/default/z"]);
  s.replaceSource("a.yaml", [svc("z")]);
  assert.deepEqual(names(s.replaceSource("a.yaml", [])), { added: [], updated: [], deleted: ["z"] });
  assert.equal(s.get("Service/default/z"), undefined);
});
