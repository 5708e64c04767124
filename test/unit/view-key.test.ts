/**
 * effectiveViewKey: proxies with equal keys must get identical config. Checked
 * over every golden case's mesh with proxies that vary in namespace, labels and
 * kind; and the key must actually merge proxies (or it saves nothing).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { objectsFromManifests } from "../../src/cli/translate";
import { buildMesh } from "../../src/model/mesh";
import { parseProxy, ProxyView } from "../../src/model/proxy";
import { generate } from "../../src/generate";
import { effectiveViewKey } from "../../src/generate/view-key";
import { GOLDEN_DIR, caseManifests } from "../support/golden-cases";

const LABEL_SETS: Record<string, string>[] = [
  {},
  { app: "sleep" },
  { app: "sleep", version: "v1" },
  { app: "bill-service", version: "v1" },
  { app: "bill-service", version: "v2" },
  { app: "reviews", version: "v2" },
  { app: "productpage", version: "v1" },
  { app: "unrelated-1" },
  { app: "unrelated-2", team: "x" },
  { istio: "ingressgateway" },
  { app: "istio-ingressgateway", istio: "ingressgateway" },
];

function proxies(): ProxyView[] {
  const out: ProxyView[] = [];
  let i = 0;
  for (const kind of ["sidecar", "router"]) {
    for (const ns of ["default", "istio-system", "prod"]) {
      for (const labels of LABEL_SETS) {
        const id = `${kind}~10.0.0.${++i}~p${i}.${ns}~${ns}.svc.cluster.local`;
        const p = parseProxy(id, { NAMESPACE: ns, LABELS: labels });
        assert.ok(p.ok);
        out.push(p.proxy);
      }
    }
  }
  return out;
}

const cases = fs.readdirSync(GOLDEN_DIR).filter((n) => fs.existsSync(path.join(GOLDEN_DIR, n, "proxy.yaml"))).sort();

test("equal effective keys mean identical generated config, for every golden mesh", () => {
  let merged = 0;
  for (const name of cases) {
    const { mesh } = buildMesh(objectsFromManifests(caseManifests(path.join(GOLDEN_DIR, name))).objects);
    const byKey = new Map<string, { proxy: ProxyView; out: string }>();
    for (const proxy of proxies()) {
      const key = effectiveViewKey(mesh, proxy);
      const out = JSON.stringify(generate(mesh, proxy));
      const seen = byKey.get(key);
      if (!seen) {
        byKey.set(key, { proxy, out });
        continue;
      }
      merged++;
      assert.equal(out, seen.out, `${name}: ${proxy.id} and ${seen.proxy.id} share a key but not their config`);
    }
  }
  assert.ok(merged > cases.length * 10, `the key merges proxies (${merged} merges)`);
});
