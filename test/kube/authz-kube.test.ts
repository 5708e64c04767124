/**
 * AuthorizationPolicy on a real kube-apiserver: the generated CRD
 * (manifests/crds.yaml) types the spec (a wrong type is refused by the API
 * server, every served version reads the object), and `mini-pilot serve
 * --kubeconfig` turns a policy created through the API into RBAC on the
 * selected sidecar's inbound listener; an update and a delete follow; a policy
 * the API server stores but mini-pilot refuses gets a diagnostic naming the
 * field, and the other policies keep their effect.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readConfigDump } from "../support/config-dump";
import * as path from "node:path";
import { installIstioCrds, kubeRequest, startKube, kubeUnavailable } from "./cluster";
import { CLUSTER, LISTENER } from "../../src/xds/types";
import { TestSotwStream, SotwResponse, connect } from "../support/ads-client";
import { getJson, startServe } from "../support/serve-process";

const CRDS = path.join(__dirname, "..", "..", "..", "manifests", "crds.yaml");
const NODE = "sidecar~10.1.7.7~httpbin-v1-abc.foo~foo.svc.cluster.local";
const BASE = "/apis/security.istio.io/v1/namespaces/foo/authorizationpolicies";

const ap = (name: string, spec: object) => ({ apiVersion: "security.istio.io/v1", kind: "AuthorizationPolicy", metadata: { name, namespace: "foo" }, spec });

/** The policy names in the virtualInbound listener of an LDS response. */
function inboundPolicies(r: SotwResponse): string[] {
  const text = JSON.stringify(r.resources.find((l) => (l as { name?: string }).name === "virtualInbound") ?? {});
  return [...new Set([...text.matchAll(/-policy\[([^\]]+)\]/g)].map((m) => m[1]!))].sort();
}

async function until(s: TestSotwStream, want: (r: SotwResponse) => boolean, timeoutMs = 20_000): Promise<SotwResponse> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await s.next(Math.max(1, deadline - Date.now()));
    s.ack(r, []);
    if (r.typeUrl === LISTENER && want(r)) return r;
  }
}

test(
  "AuthorizationPolicy through the API server: CRD typing, serve --kubeconfig turns it into RBAC, updates and deletes follow",
  { skip: kubeUnavailable("AuthorizationPolicy on a cluster") },
  async (t) => {
    // Only the generated CRDs (manifests/crds.yaml), not the loose test ones: this test checks their typing.
    const cluster = await startKube({ installCrds: false });
    t.after(() => cluster.stop());
    const crds = await installIstioCrds(cluster, { file: CRDS });
    assert.ok(crds.includes("authorizationpolicies.security.istio.io"), crds.join(", "));
    const ns = await kubeRequest(cluster, "POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "foo" } });
    assert.equal(ns.status, 201, ns.body);
    const svc = await kubeRequest(cluster, "POST", "/api/v1/namespaces/foo/services", {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "httpbin", namespace: "foo" },
      spec: { selector: { app: "httpbin" }, ports: [{ name: "http", port: 8000, targetPort: 8080 }] },
    });
    assert.equal(svc.status, 201, svc.body);

    // The structural schema: ports are strings in Istio's API; a number is refused by the API server.
    const wrongType = await kubeRequest(
      cluster,
      "POST",
      `${BASE}?fieldValidation=Strict`,
      ap("typed", { rules: [{ to: [{ operation: { ports: [8080] } }] }] }),
    );
    assert.equal(wrongType.status, 422, wrongType.body);
    assert.match(
      (JSON.parse(wrongType.body) as { message: string }).message,
      /spec\.rules\[0\]\.to\[0\]\.operation\.ports\[0\] in body must be of type string/,
    );

    const allowGet = ap("allow-get", {
      selector: { matchLabels: { app: "httpbin" } },
      rules: [{ to: [{ operation: { methods: ["GET"], ports: ["8080"] } }] }],
    });
    const created = await kubeRequest(cluster, "POST", `${BASE}?fieldValidation=Strict`, allowGet);
    assert.equal(created.status, 201, created.body);
    const v1beta1 = await kubeRequest(cluster, "GET", "/apis/security.istio.io/v1beta1/namespaces/foo/authorizationpolicies/allow-get");
    assert.equal(v1beta1.status, 200, v1beta1.body);

    const serve = await startServe(["--kubeconfig", cluster.kubeconfigPath, "--debounce-after", "20ms"]);
    t.after(() => serve.stop());
    const s = new TestSotwStream(connect(serve.xdsPort), NODE, { NAMESPACE: "foo", LABELS: { app: "httpbin", version: "v1" } });
    t.after(() => s.close());
    // Clusters go out before listeners (the server's push order): subscribe to both, as Envoy does.
    s.send({ typeUrl: CLUSTER });
    s.send({ typeUrl: LISTENER });
    const first = await until(s, (r) => inboundPolicies(r).length > 0).catch(async (e: Error) => {
      const z = JSON.stringify(await getJson(serve.httpPort, "/debug/configz"));
      throw new Error(`${e.message}\n--- configz ---\n${z.slice(0, 3000)}\n--- serve log ---\n${serve.logs.slice(-20).join("\n")}`);
    });
    assert.deepEqual(inboundPolicies(first), ["allow-get"]);
    const text = JSON.stringify(first.resources);
    assert.match(text, /envoy\.filters\.http\.rbac/, "the HTTP chain of port 8080 gets the HTTP filter");
    assert.match(text, /envoy\.filters\.network\.rbac/, "the passthrough chain gets the network filter (the HTTP-only rule dropped: it allows nothing)");

    // A DENY policy next to it, then one the API server stores but mini-pilot refuses (bad CIDR): a diagnostic, the others stay.
    const deny = await kubeRequest(
      cluster,
      "POST",
      BASE,
      ap("deny-admin", { action: "DENY", rules: [{ to: [{ operation: { paths: ["/admin/*"], ports: ["8080"] } }] }] }),
    );
    assert.equal(deny.status, 201, deny.body);
    await until(s, (r) => JSON.stringify(inboundPolicies(r)) === JSON.stringify(["allow-get", "deny-admin"]));
    const bad = await kubeRequest(cluster, "POST", BASE, ap("bad-cidr", { rules: [{ from: [{ source: { ipBlocks: ["10.0.0.0/99"] } }] }] }));
    assert.equal(bad.status, 201, bad.body);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const z = (await getJson(serve.httpPort, "/debug/configz")) as { diagnostics: string[] };
      const hit = z.diagnostics.find((d) => d.includes("bad-cidr"));
      if (hit) {
        assert.match(hit, /AuthorizationPolicy foo\/bad-cidr spec\.rules\[0\]\.from\[0\]\.source\.ipBlocks\[0\]: bad CIDR range \(10\.0\.0\.0\/99\)/);
        break;
      }
      assert.ok(Date.now() < deadline, `no diagnostic for bad-cidr: ${JSON.stringify(z.diagnostics)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const dump = readConfigDump(await getJson(serve.httpPort, `/debug/config_dump?proxy=${encodeURIComponent(NODE)}`));
    const held = [...new Set([...JSON.stringify([...dump.types.listeners!.values()]).matchAll(/-policy\[([^\]]+)\]/g)].map((m) => m[1]!))].sort();
    assert.deepEqual(held, ["allow-get", "deny-admin"], "the refused policy is left out, the others keep their effect");

    // Delete both valid ones: the RBAC filters go away.
    for (const name of ["allow-get", "deny-admin", "bad-cidr"]) {
      const del = await kubeRequest(cluster, "DELETE", `${BASE}/${name}`);
      assert.equal(del.status, 200, del.body);
    }
    const last = await until(s, (r) => inboundPolicies(r).length === 0);
    // No RBAC filter left (Istio's tracing tags still name the rbac filter's metadata, as a metadata key).
    assert.doesNotMatch(JSON.stringify(last.resources), /"name":"envoy\.filters\.(http|network)\.rbac"/);
  },
);
