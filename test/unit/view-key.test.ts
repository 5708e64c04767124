/**
 * ViewIndex: proxies share a generation exactly when they answer every
 * question generation asked alike. Checked over every golden case's mesh with
 * proxies that vary in kind, generator, namespace and labels: a shared result
 * is always what the proxy's own generation gives, and sharing does happen.
 * Then that the questions come from what generation reads, not from a list.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { objectsFromManifests } from "../../src/cli/translate";
import { Mesh, buildMesh } from "../../src/model/mesh";
import { parseProxy, ProxyView } from "../../src/model/proxy";
import { generate, generateEndpoints } from "../../src/generate";
import { ViewIndex } from "../../src/generate/view-key";
import { GOLDEN_DIR, caseManifests } from "../support/golden-cases";

const LABEL_SETS: Record<string, string>[] = [
  {},
  { app: "sleep" },
  { app: "sleep", "pod-template-hash": "7f8d9c6b5" },
  { app: "sleep", version: "v1" },
  { app: "bill-service", version: "v1" },
  { app: "bill-service", version: "v2" },
  { app: "httpbin", version: "v1" },
  { app: "reviews", version: "v2" },
  { app: "productpage", version: "v1" },
  { app: "unrelated-1" },
  { app: "unrelated-2", team: "x" },
  { istio: "ingressgateway" },
  { app: "istio-ingressgateway", istio: "ingressgateway" },
];

/** Proxies in a few localities (those of the locality-* golden cases, and none), so EDS made per locality is checked too. */
const LOCALITIES = [
  undefined,
  { region: "us-east1", zone: "us-east1-b" },
  { region: "us-east1", zone: "us-east1-c" },
  { region: "eu-west1", zone: "eu-west1-a" },
];

function proxy(kind: string, ns: string, labels: Record<string, string>, i: number, extra: Record<string, unknown> = {}): ProxyView {
  const id = `${kind}~10.0.${Math.floor(i / 250)}.${i % 250}~p${i}.${ns}~${ns}.svc.cluster.local`;
  const p = parseProxy(id, { NAMESPACE: ns, LABELS: labels, ...extra }, LOCALITIES[i % LOCALITIES.length]);
  assert.ok(p.ok);
  return p.proxy;
}

function proxies(): ProxyView[] {
  const out: ProxyView[] = [];
  let i = 0;
  for (const [kind, extra] of [
    ["sidecar", {}],
    ["router", {}],
    ["sidecar", { GENERATOR: "grpc" }],
  ] as const) {
    for (const ns of ["default", "istio-system", "prod"]) {
      for (const labels of LABEL_SETS) out.push(proxy(kind, ns, labels, ++i, extra));
    }
  }
  return out;
}

const cases = fs
  .readdirSync(GOLDEN_DIR)
  .filter((n) => fs.existsSync(path.join(GOLDEN_DIR, n, "proxy.yaml")))
  .sort();

function meshOf(name: string): Mesh {
  return buildMesh(objectsFromManifests(caseManifests(path.join(GOLDEN_DIR, name))).objects).mesh;
}

test("a shared generation is exactly the proxy's own, for every golden mesh", () => {
  let shared = 0;
  let total = 0;
  for (const name of cases) {
    const mesh = meshOf(name);
    const full = new ViewIndex<string>();
    const eds = new ViewIndex<string>();
    for (const p of proxies()) {
      total++;
      if (full.find(p)) shared++;
      const own = JSON.stringify(generate(mesh, p));
      assert.equal(
        full.get(p, (v) => JSON.stringify(generate(mesh, v))),
        own,
        `${name}: ${p.id} ${JSON.stringify(p.labels)}`,
      );
      const ownEds = JSON.stringify(generateEndpoints(mesh, p));
      assert.equal(
        eds.get(p, (v) => JSON.stringify(generateEndpoints(mesh, v))),
        ownEds,
        `${name}: EDS of ${p.id}`,
      );
    }
    assert.equal(full.conflicts + eds.conflicts, 0, `${name}: generation asked questions in the same order for equal answers`);
  }
  // Most proxies are told apart by nothing the meshes select on.
  assert.ok(shared > total / 2, `proxies share generations (${shared} of ${total})`);
});

test("labels no selector reads do not split a view; a label a selector reads does", () => {
  const mesh = meshOf("bill-service-canary");
  const index = new ViewIndex<string>();
  const gen = (v: ProxyView) => JSON.stringify(generate(mesh, v));
  index.get(proxy("sidecar", "default", { app: "sleep", "pod-template-hash": "aaaa" }, 1), gen);
  assert.ok(index.find(proxy("sidecar", "default", { app: "sleep", "pod-template-hash": "bbbb" }, 2)), "a label nothing selects on is not asked about");
  assert.ok(index.find(proxy("sidecar", "default", { app: "other" }, 3)), "a selector that fails for both answers alike");
  // bill-service's Service selects app=bill-service: that pod gets inbound listeners.
  const server = proxy("sidecar", "default", { app: "bill-service", version: "v1" }, 4);
  assert.equal(index.find(server), undefined);
  assert.notEqual(index.get(server, gen), gen(proxy("sidecar", "default", { app: "sleep" }, 5)));
  assert.equal(index.find(proxy("sidecar", "prod", { app: "sleep" }, 6)), undefined, "the namespace is asked");
  assert.equal(index.find(proxy("router", "default", { app: "sleep" }, 7)), undefined, "the kind is asked");
  assert.equal(index.size, 2);
});

test("whatever a generator starts to read becomes part of the view, with no list to update", () => {
  const a = proxy("sidecar", "default", { app: "sleep" }, 1, { ISTIO_VERSION: "1.22" });
  const b = proxy("sidecar", "default", { app: "sleep" }, 2, { ISTIO_VERSION: "1.23" });
  const c = proxy("sidecar", "default", { app: "sleep" }, 3, { ISTIO_VERSION: "1.22" });
  const byVersion = new ViewIndex<string>();
  const readsVersion = (v: ProxyView) => `${v.namespace}/${v.istioVersion}`;
  byVersion.get(a, readsVersion);
  assert.equal(byVersion.find(b), undefined, "a new field read splits views");
  assert.deepEqual(byVersion.find(c), { value: "default/1.22" });

  // Reading labels other than through selectors is recorded conservatively.
  const byLabels = new ViewIndex<string>();
  const listsLabels = (v: ProxyView) => Object.keys(v.labels).join(",");
  byLabels.get(proxy("sidecar", "default", { app: "sleep", x: "1" }, 4), listsLabels);
  assert.equal(byLabels.find(proxy("sidecar", "default", { app: "sleep", x: "2" }, 5)), undefined);
  assert.ok(byLabels.find(proxy("sidecar", "prod", { app: "sleep", x: "1" }, 6)), "only what was read counts");

  const byOneLabel = new ViewIndex<string>();
  const readsOne = (v: ProxyView) => v.labels.version ?? "none";
  byOneLabel.get(proxy("sidecar", "default", { app: "a", version: "v1" }, 7), readsOne);
  assert.ok(byOneLabel.find(proxy("sidecar", "default", { app: "b", version: "v1" }, 8)));
  assert.equal(byOneLabel.find(proxy("sidecar", "default", { app: "a", version: "v2" }, 9)), undefined);
});

test("a generation that throws is not kept", () => {
  const index = new ViewIndex<string>();
  const p = proxy("sidecar", "default", {}, 1);
  assert.throws(
    () =>
      index.get(p, (v) => {
        if (v.namespace === "default") throw new Error("boom");
        return "x";
      }),
    /boom/,
  );
  assert.equal(index.find(p), undefined);
  assert.equal(index.size, 0);
});
