/**
 * The generated Sidecar CRD (manifests/crds.yaml) on a real kube-apiserver:
 * every Sidecar of the golden cases is stored unchanged under strict field
 * validation (so the schema prunes nothing mini-pilot reads), a wrong type is
 * refused by the API server, and the object reads back at v1beta1 and v1alpha3.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseAllDocuments } from "yaml";
import { installIstioCrds, kubeRequest, kubeUnavailable, startKube } from "./cluster";
import { GOLDEN_DIR } from "../support/golden-cases";

const CRDS = path.join(__dirname, "..", "..", "..", "manifests", "crds.yaml");

function goldenSidecars(): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  // One namespace per case and original namespace: the cases reuse names.
  for (const [i, dir] of fs
    .readdirSync(GOLDEN_DIR)
    .filter((d) => d.startsWith("sidecar-"))
    .entries()) {
    const text = fs.readFileSync(path.join(GOLDEN_DIR, dir, "input.yaml"), "utf8");
    for (const doc of parseAllDocuments(text)) {
      const o = doc.toJSON() as Record<string, unknown> | null;
      if (o?.kind !== "Sidecar") continue;
      const meta = o.metadata as { name: string; namespace: string };
      out.push({ ...o, metadata: { name: meta.name, namespace: `c${i}-${meta.namespace}` } });
    }
  }
  return out;
}

test(
  "Sidecar CRD: golden Sidecars stored unchanged (strict), wrong types refused, older versions served",
  { skip: kubeUnavailable("Sidecar CRD") },
  async (t) => {
    const cluster = await startKube({ installCrds: false });
    t.after(() => cluster.stop());
    const crds = await installIstioCrds(cluster, { file: CRDS });
    assert.ok(crds.includes("sidecars.networking.istio.io"), crds.join(", "));
    const sidecars = goldenSidecars();
    assert.ok(sidecars.length >= 6, `${sidecars.length} Sidecars in the golden cases`);
    const namespaces = new Set(sidecars.map((s) => (s.metadata as { namespace: string }).namespace));
    for (const ns of namespaces) await kubeRequest(cluster, "POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
    for (const s of sidecars) {
      const { name, namespace } = s.metadata as { name: string; namespace: string };
      const metadata = { name, namespace };
      const res = await kubeRequest(cluster, "POST", `/apis/networking.istio.io/v1/namespaces/${namespace}/sidecars?fieldValidation=Strict`, {
        ...s,
        metadata,
      });
      assert.equal(res.status, 201, `${namespace}/${name}: ${res.body}`);
      assert.deepEqual((JSON.parse(res.body) as { spec: unknown }).spec, s.spec, `${namespace}/${name} stored as written`);
    }
    const first = sidecars[0]!.metadata as { name: string; namespace: string };
    const wrong = await kubeRequest(cluster, "POST", `/apis/networking.istio.io/v1/namespaces/${first.namespace}/sidecars?fieldValidation=Strict`, {
      apiVersion: "networking.istio.io/v1",
      kind: "Sidecar",
      metadata: { name: "wrong", namespace: first.namespace },
      spec: { egress: [{ hosts: "./*" }] },
    });
    assert.equal(wrong.status, 422, wrong.body);
    assert.match((JSON.parse(wrong.body) as { message: string }).message, /spec\.egress\[0\]\.hosts in body must be of type array/);
    for (const v of ["v1beta1", "v1alpha3"]) {
      const got = await kubeRequest(cluster, "GET", `/apis/networking.istio.io/${v}/namespaces/${first.namespace}/sidecars/${first.name}`);
      assert.equal(got.status, 200, got.body);
    }
  },
);
