/**
 * The generated install against a real kube-apiserver: every object is
 * accepted by server-side apply (dry run first, then for real, with strict
 * field validation); `serve` with a token of the generated ServiceAccount,
 * i.e. bound only to the generated ClusterRole, serves the bill-service mesh
 * end to end; and every verb the role grants is needed: with any one of them
 * removed, serve names exactly that verb and resource.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { kubeRequest, startKube, type KubeCluster, kubeUnavailable } from "./cluster";
import { installObjects, clusterRoleRules, SECURITY_RULES, WATCHED, VERBS, type K8sObject } from "../../src/install";
import type { ResourceType } from "../../src/sources/kube/resources";
import { ROUTE, CLUSTER, LISTENER } from "../../src/xds/types";
import { TestSotwStream, connect, type SotwResponse } from "../support/ads-client";
import { CLI, startServe } from "../support/serve-process";

const skip = kubeUnavailable("install manifests tests");
const EXAMPLES = path.join(__dirname, "..", "..", "..", "examples", "bill-service");
const NODE = "sidecar~172.7.120.13~front-tomcat-6b8d7c5f4-9zq7w.default~default.svc.cluster.local";
const NS = "istio-system";

let kube: KubeCluster;

before(async () => {
  if (skip) return;
  // The install brings its own CRDs.
  kube = await startKube({ installCrds: false });
});
after(() => kube?.stop());

/** The REST collection of a kind the install or the example uses. */
const COLLECTIONS: Record<string, [prefix: string, plural: string, namespaced: boolean]> = {
  Namespace: ["/api/v1", "namespaces", false],
  ServiceAccount: ["/api/v1", "serviceaccounts", true],
  Service: ["/api/v1", "services", true],
  Pod: ["/api/v1", "pods", true],
  Node: ["/api/v1", "nodes", false],
  EndpointSlice: ["/apis/discovery.k8s.io/v1", "endpointslices", true],
  CustomResourceDefinition: ["/apis/apiextensions.k8s.io/v1", "customresourcedefinitions", false],
  ClusterRole: ["/apis/rbac.authorization.k8s.io/v1", "clusterroles", false],
  ClusterRoleBinding: ["/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", false],
  Role: ["/apis/rbac.authorization.k8s.io/v1", "roles", true],
  RoleBinding: ["/apis/rbac.authorization.k8s.io/v1", "rolebindings", true],
  ConfigMap: ["/api/v1", "configmaps", true],
  Deployment: ["/apis/apps/v1", "deployments", true],
  PodDisruptionBudget: ["/apis/policy/v1", "poddisruptionbudgets", true],
  MutatingWebhookConfiguration: ["/apis/admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations", false],
  VirtualService: ["/apis/networking.istio.io/v1", "virtualservices", true],
  DestinationRule: ["/apis/networking.istio.io/v1", "destinationrules", true],
};

function objectPath(o: { kind: string; metadata: { name: string; namespace?: string } }): string {
  const c = COLLECTIONS[o.kind];
  assert.ok(c, `no collection for ${o.kind}`);
  const [prefix, plural, namespaced] = c;
  return `${prefix}${namespaced ? `/namespaces/${o.metadata.namespace ?? "default"}` : ""}/${plural}/${encodeURIComponent(o.metadata.name)}`;
}

/** `kubectl apply --server-side --field-manager mini-pilot-install [--dry-run=server]`, with unknown fields an error. */
async function serverSideApply(
  o: object & { kind: string; metadata: { name: string; namespace?: string } },
  dryRun: boolean,
): Promise<{ status: number; body: string }> {
  const q = `?fieldManager=mini-pilot-install&force=true&fieldValidation=Strict${dryRun ? "&dryRun=All" : ""}`;
  return kubeRequest(kube, "PATCH", objectPath(o) + q, JSON.stringify(o), "application/apply-patch+yaml");
}

async function waitFor(what: string, cond: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function establish(crd: K8sObject): Promise<void> {
  await waitFor(`CRD ${crd.metadata.name} Established`, async () => {
    const res = await kubeRequest(kube, "GET", objectPath(crd));
    const conds = (JSON.parse(res.body) as { status?: { conditions?: { type: string; status: string }[] } }).status?.conditions ?? [];
    return conds.some((c) => c.type === "Established" && c.status === "True");
  });
}

let installed = false;
async function install(): Promise<K8sObject[]> {
  const objects = installObjects();
  if (installed) return objects;
  for (const o of objects) {
    const dry = await serverSideApply(o, true);
    assert.ok(dry.status === 200 || dry.status === 201, `dry-run apply ${o.kind}/${o.metadata.name}: HTTP ${dry.status} ${dry.body}`);
    const real = await serverSideApply(o, false);
    assert.ok(real.status === 200 || real.status === 201, `apply ${o.kind}/${o.metadata.name}: HTTP ${real.status} ${real.body}`);
    if (o.kind === "CustomResourceDefinition") await establish(o);
  }
  installed = true;
  return objects;
}

test("every generated manifest is accepted by server-side apply (dry run, then real) with strict field validation", { skip }, async () => {
  const objects = await install();
  assert.deepEqual(
    [...new Set(objects.map((o) => o.kind))],
    [
      "Namespace",
      "CustomResourceDefinition",
      "ServiceAccount",
      "ClusterRole",
      "ClusterRoleBinding",
      "Role",
      "RoleBinding",
      "Deployment",
      "Service",
      "PodDisruptionBudget",
      "MutatingWebhookConfiguration",
    ],
  );
  // Stored as generated: nothing pruned or defaulted away in what we set.
  for (const o of objects) {
    const stored = JSON.parse((await kubeRequest(kube, "GET", objectPath(o))).body) as Record<string, any>;
    if (o.kind === "ClusterRole") assert.deepEqual(stored.rules, o.rules);
    if (o.kind === "Deployment")
      assert.deepEqual(stored.spec.template.spec.containers[0].securityContext, (o as any).spec.template.spec.containers[0].securityContext);
    if (o.kind === "CustomResourceDefinition")
      assert.deepEqual(stored.spec.versions[0].schema, (o as any).spec.versions[0].schema, `${o.metadata.name} schema stored unchanged (structural)`);
  }
  // Applying again changes nothing (idempotent, like a second `kubectl apply`).
  for (const o of objects) {
    const before = JSON.parse((await kubeRequest(kube, "GET", objectPath(o))).body).metadata.resourceVersion;
    await serverSideApply(o, false);
    const again = JSON.parse((await kubeRequest(kube, "GET", objectPath(o))).body).metadata.resourceVersion;
    assert.equal(again, before, `${o.kind}/${o.metadata.name} unchanged by a second apply`);
  }
});

test("the CRD schemas: typed fields checked by the API server, Istio fields mini-pilot ignores kept, unknown ones refused", { skip }, async () => {
  await install();
  const ns = await kubeRequest(kube, "POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "schema" } });
  assert.ok(ns.status === 201 || ns.status === 409, ns.body);
  const vs = (spec: object) => ({ apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name: "vs", namespace: "schema" }, spec });
  const route = { destination: { host: "bill-service" }, weight: 100 };

  // A create, as `kubectl create` sends it (server-side apply reports type errors as a 500 from its patch typer).
  const create = (o: object) =>
    kubeRequest(kube, "POST", "/apis/networking.istio.io/v1/namespaces/schema/virtualservices?dryRun=All&fieldValidation=Strict", o);
  const wrongType = await create(vs({ hosts: ["bill-service"], http: [{ route: [{ ...route, weight: "ninety" }] }] }));
  assert.equal(wrongType.status, 422, wrongType.body);
  assert.match(
    (JSON.parse(wrongType.body) as { message: string }).message,
    /spec\.http\[0\]\.route\[0\]\.weight: Invalid value: "string": spec\.http\[0\]\.route\[0\]\.weight in body must be of type integer/,
  );

  const unknown = await create(vs({ hosts: ["bill-service"], http: [{ route: [route], notAField: true }] }));
  assert.ok(unknown.status >= 400, `unknown field refused under strict validation: ${unknown.body}`);
  assert.match((JSON.parse(unknown.body) as { message: string }).message, /unknown field "spec\.http\[0\]\.notAField"/);

  // retries.backoff is Istio API that mini-pilot ignores: stored as written, so mini-pilot can warn about it.
  const kept = await serverSideApply(vs({ hosts: ["bill-service"], http: [{ route: [route], retries: { attempts: 2, backoff: "25ms" } }] }), false);
  assert.equal(kept.status, 201, kept.body);
  assert.equal((JSON.parse(kept.body) as any).spec.http[0].retries.backoff, "25ms");

  // Every served version takes the same object.
  for (const v of ["v1beta1", "v1alpha3"]) {
    const res = await kubeRequest(kube, "GET", `/apis/networking.istio.io/${v}/namespaces/schema/virtualservices/vs`);
    assert.equal(res.status, 200, `${v}: ${res.body}`);
  }
});

// ------------------------------------------------------------ serve with the generated RBAC

/** A token of the generated ServiceAccount (bound only to the generated ClusterRole), via the TokenRequest API. */
async function serviceAccountKubeconfig(): Promise<string> {
  const tr = await kubeRequest(kube, "POST", `/api/v1/namespaces/${NS}/serviceaccounts/mini-pilot/token`, {
    apiVersion: "authentication.k8s.io/v1",
    kind: "TokenRequest",
    spec: { expirationSeconds: 3600 },
  });
  assert.equal(tr.status, 201, tr.body);
  const token = (JSON.parse(tr.body) as { status: { token: string } }).status.token;
  const file = path.join(kube.dir, "mini-pilot-sa.kubeconfig");
  const kc = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "c", cluster: { server: kube.server, "certificate-authority-data": Buffer.from(kube.caPem).toString("base64") } }],
    users: [{ name: "mini-pilot-sa", user: { token } }],
    contexts: [{ name: "c", context: { cluster: "c", user: "mini-pilot-sa" } }],
    "current-context": "c",
  };
  fs.writeFileSync(file, YAML.stringify(kc), { mode: 0o600 });
  return file;
}

/** Create the bill-service example objects as admin. */
async function applyExample(file: string): Promise<void> {
  for (const doc of YAML.parseAllDocuments(fs.readFileSync(path.join(EXAMPLES, file), "utf8"))) {
    const o = doc.toJS() as Record<string, any>;
    if (!o) continue;
    delete o.status;
    if (o.kind === "Pod") for (const c of o.spec.containers) c.image ??= "example/app:1";
    if (o.kind === "Service") delete o.spec.clusterIP;
    o.metadata.namespace ??= "default";
    const res = await serverSideApply(o as any, false);
    assert.ok(res.status === 200 || res.status === 201, `${o.kind}/${o.metadata.name}: HTTP ${res.status} ${res.body}`);
  }
}

async function until(s: TestSotwStream, type: string, want: (r: SotwResponse) => boolean, timeoutMs = 20_000): Promise<SotwResponse> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await s.next(Math.max(1, deadline - Date.now()));
    s.ack(r, r.typeUrl === ROUTE ? ["9999"] : []);
    if (r.typeUrl === type && want(r)) return r;
  }
}

test("serve --kubeconfig with the generated ServiceAccount's token serves the bill-service mesh end to end", { skip }, async (t) => {
  await install();
  for (const f of ["workloads.yaml", "services.yaml", "endpointslices.yaml", "destination-rule.yaml", "virtual-service.yaml"]) await applyExample(f);
  // The mesh config, read through the generated Role (the one ConfigMap it may list and watch).
  const mesh = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "istio", namespace: NS },
    data: { mesh: "outboundTrafficPolicy:\n  mode: REGISTRY_ONLY\n" },
  };
  const cm = await serverSideApply(mesh as K8sObject, false);
  assert.ok(cm.status === 200 || cm.status === 201, cm.body);
  const kubeconfig = await serviceAccountKubeconfig();
  const serve = await startServe(["--kubeconfig", kubeconfig, "--debounce-after", "20ms"]);
  t.after(() => serve.stop());
  await serve.waitForLog(/every informer has listed once; ready/);
  assert.equal((await fetch(`http://127.0.0.1:${serve.httpPort}/ready`)).status, 200);
  // Nothing was refused: no RBAC warning for any type, CRDs included.
  assert.deepEqual(
    serve.logs.filter((l) => /RBAC|forbid/i.test(l)),
    [],
  );

  const s = new TestSotwStream(connect(serve.xdsPort), NODE, { NAMESPACE: "default", LABELS: { app: "front-tomcat" } });
  t.after(() => s.close());
  s.send({ typeUrl: CLUSTER });
  s.send({ typeUrl: LISTENER });
  s.send({ typeUrl: ROUTE, names: ["9999"] });
  const routes = await until(s, ROUTE, (r) => JSON.stringify(r.resources).includes('"weight":90'));
  const text = JSON.stringify(routes.resources);
  assert.match(text, /outbound\|9999\|v1\|bill-service\.default\.svc\.cluster\.local/);
  assert.match(text, /outbound\|9999\|v2\|bill-service\.default\.svc\.cluster\.local/);
  assert.match(text, /"weight":10/);
  assert.match(text, /"block_all"/, "the istio ConfigMap's REGISTRY_ONLY, read with the generated Role");
});

test(
  "with the generated RBAC, serve's injection webhook keeps the installed configuration's caBundle; without the injector binding it names the verb",
  { skip },
  async (t) => {
    const objects = await install();
    const kubeconfig = await serviceAccountKubeconfig();
    const CONFIG = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/mini-pilot-sidecar-injector";
    let serve = await startServe(["--kubeconfig", kubeconfig, "--inject-webhook-address", "127.0.0.1:0"], {}, { caSecret: true });
    try {
      await serve.waitForLog(/caBundle of MutatingWebhookConfiguration mini-pilot-sidecar-injector set to the CA root/);
    } finally {
      await serve.stop();
    }
    const secret = JSON.parse((await kubeRequest(kube, "GET", `/api/v1/namespaces/${NS}/secrets/istio-ca-secret`)).body) as any;
    const config = JSON.parse((await kubeRequest(kube, "GET", CONFIG)).body) as any;
    assert.deepEqual(
      config.webhooks.map((w: any) => w.clientConfig.caBundle),
      config.webhooks.map(() => secret.data["root-cert.pem"]),
      "every webhook's caBundle is the CA root",
    );
    assert.equal(config.webhooks[0].clientConfig.service.port, 443, "the installed configuration, not a test one");

    // Without the mini-pilot-injector binding: one line naming the verb and the object to grant, and serve keeps serving.
    const binding = objects.find((o) => o.kind === "ClusterRoleBinding" && o.metadata.name === "mini-pilot-injector")!;
    assert.equal((await kubeRequest(kube, "DELETE", objectPath(binding))).status, 200);
    t.after(async () => void (await serverSideApply(binding, false)));
    await new Promise((r) => setTimeout(r, 500)); // the authorizer's RBAC cache
    serve = await startServe(["--kubeconfig", kubeconfig, "--inject-webhook-address", "127.0.0.1:0"], {}, { caSecret: true });
    try {
      const line = await serve.waitForLog(/caBundle not updated/);
      assert.match(line, /forbidden: grant \\?"get\\?" on mutatingwebhookconfigurations\.admissionregistration\.k8s\.io \(name mini-pilot-sidecar-injector\)/);
      assert.equal((await fetch(`http://127.0.0.1:${serve.httpPort}/ready`)).status, 200);
    } finally {
      await serve.stop();
    }
  },
);

/** Replace the ClusterRole's rules, then wait until the authorizer answers with them for `probe`. */
async function setRules(rules: object[], probe: { verb: string; group: string; resource: string; allowed: boolean }): Promise<void> {
  const role = installObjects().find((o) => o.kind === "ClusterRole")!;
  const res = await serverSideApply({ ...role, rules } as K8sObject, false);
  assert.equal(res.status, 200, res.body);
  await waitFor(`RBAC to ${probe.allowed ? "allow" : "deny"} ${probe.verb} ${probe.resource}`, async () => {
    const sar = await kubeRequest(kube, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", {
      apiVersion: "authorization.k8s.io/v1",
      kind: "SubjectAccessReview",
      spec: {
        user: `system:serviceaccount:${NS}:mini-pilot`,
        groups: ["system:serviceaccounts"],
        resourceAttributes: { verb: probe.verb, group: probe.group, resource: probe.resource },
      },
    });
    return (JSON.parse(sar.body) as { status?: { allowed?: boolean } }).status?.allowed === probe.allowed;
  });
}

/** Run serve to its exit (it refuses to start); returns the exit code and stderr. */
function serveExit(args: string[], timeoutMs = 30_000): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, "serve", "--xds-address", "127.0.0.1:0", "--http-address", "127.0.0.1:0", ...args], {
      env: { ...process.env, LOG_FORMAT: "json" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`serve did not exit within ${timeoutMs} ms; stderr:\n${stderr}`));
    }, timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

const label = (t: ResourceType) => (t.group ? `${t.plural}.${t.group}` : t.plural);

test("every verb the ClusterRole grants is needed: with any one removed, serve names that verb and resource", { skip }, async (t) => {
  await install();
  const kubeconfig = await serviceAccountKubeconfig();
  t.after(() => setRules([...clusterRoleRules(), ...SECURITY_RULES], { verb: "watch", group: "", resource: "pods", allowed: true }));
  let cases = 0;
  for (const type of WATCHED) {
    for (const verb of VERBS) {
      // The role minus this one verb on this one resource.
      // The CA's rules stay: serve keeps its CA in the Secret istio-ca-secret before it starts watching.
      const rules = [
        ...clusterRoleRules(WATCHED.filter((w) => w !== type)),
        ...SECURITY_RULES,
        { apiGroups: [type.group], resources: [type.plural], verbs: VERBS.filter((v) => v !== verb) },
      ];
      await setRules(rules, { verb, group: type.group, resource: type.plural, allowed: false });
      const scope = type.namespaced ? "all namespaces" : "cluster-scoped";
      const named = new RegExp(`RBAC forbids ${verb} on ${type.plural} \\([^,]+, ${scope}\\): .*cannot ${verb} resource \\\\?"${type.plural}\\\\?"`);
      if (!type.crd && !type.optional) {
        // A core type: serve refuses to start, with one line naming the verb and the resource, and only that.
        const { code, stderr } = await serveExit(["--kubeconfig", kubeconfig]);
        assert.equal(code, 2, `${verb} ${label(type)}: exit code; stderr:\n${stderr}`);
        const line = stderr.split("\n").find((l) => l.startsWith("mini-pilot serve: "));
        assert.ok(line, `${verb} ${label(type)}: a "mini-pilot serve:" line; stderr:\n${stderr}`);
        assert.match(line, named, `${verb} ${label(type)}`);
        assert.equal(line.match(/RBAC forbids/g)?.length, 1, `only the removed verb is reported: ${line}`);
        assert.match(line, new RegExp(`grant it .*${verb}.* on ${label(type).replace(/\./g, "\\.")}`));
      } else {
        // An Istio CRD or another optional type (Secrets): serve keeps serving the rest and warns, naming the verb and the resource.
        const serve = await startServe(["--kubeconfig", kubeconfig]);
        try {
          const warning = await serve.waitForLog(new RegExp(`RBAC forbids ${verb} on ${type.plural}`));
          assert.match(JSON.parse(warning).msg, named);
          assert.equal(serve.logs.filter((l) => /RBAC forbids/.test(l)).length, 1, `only the removed verb is reported:\n${serve.logs.join("\n")}`);
        } finally {
          await serve.stop();
        }
      }
      cases++;
    }
  }
  assert.equal(cases, WATCHED.length * VERBS.length);
});
