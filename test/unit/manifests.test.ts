/**
 * `mini-pilot manifests` and the checked-in manifests/: up to date, least
 * privilege, a hardened Deployment whose args and probes `serve` really
 * takes, and option errors that say what is wrong.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";
import { DEFAULTS, DEFAULT_IMAGE, installObjects, manifestFiles, renderObjects, type K8sObject } from "../../src/install";
import { run } from "../../src/cli/manifests";
import { CliError, parseFlags } from "../../src/cli/args";
import { spec as serveSpec } from "../../src/cli/serve";
import { ISTIO_TYPES } from "../../src/sources/kube/resources";
import { startServe } from "../support/serve-process";

const ROOT = path.join(__dirname, "..", "..", "..");
const MANIFESTS = path.join(ROOT, "manifests");
const REGENERATE = "run `npm run build && node dist/src/cli/main.js manifests --out-dir manifests` and commit manifests/";

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

async function cliError(argv: string[]): Promise<string> {
  const e = await capture(argv).then(
    () => undefined,
    (err: unknown) => err,
  );
  assert.ok(e instanceof CliError, `expected a CliError for ${argv.join(" ")}, got ${String(e)}`);
  return e.message;
}

const byKind = (objects: K8sObject[], kind: string): K8sObject[] => objects.filter((o) => o.kind === kind);
const one = (objects: K8sObject[], kind: string): any => {
  const found = byKind(objects, kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0];
};

test("manifests/ matches what `mini-pilot manifests --out-dir` writes today", () => {
  const wanted = manifestFiles();
  for (const [file, text] of wanted) {
    const p = path.join(MANIFESTS, file);
    assert.ok(fs.existsSync(p), `manifests/${file} is missing: ${REGENERATE}`);
    assert.equal(fs.readFileSync(p, "utf8"), text, `manifests/${file} is stale: ${REGENERATE}`);
  }
  const extra = fs.readdirSync(MANIFESTS).filter((f) => !wanted.has(f));
  assert.deepEqual(extra, [], `files in manifests/ that are not generated: ${REGENERATE}`);
  // The kustomization lists every other file, and together they are exactly the default objects.
  const kustomization = YAML.parse(wanted.get("kustomization.yaml")!) as { resources: string[] };
  assert.deepEqual(
    kustomization.resources,
    [...wanted.keys()].filter((f) => f !== "kustomization.yaml"),
  );
  const fromFiles = kustomization.resources.flatMap((f) => YAML.parseAllDocuments(wanted.get(f)!).map((d) => d.toJS()));
  assert.deepEqual(fromFiles, installObjects());
});

test("--out-dir writes the folder, rewrites only what changed and names files it did not make", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mp-manifests-"));
  try {
    fs.writeFileSync(path.join(dir, "mine.yaml"), "kind: Mine\n");
    assert.equal((await capture(["--out-dir", dir, "--replicas", "1"])).code, 0);
    assert.deepEqual(fs.readdirSync(dir).sort(), [
      "crds.yaml",
      "deployment.yaml",
      "injector.yaml",
      "kustomization.yaml",
      "mine.yaml",
      "namespace.yaml",
      "rbac.yaml",
      "service.yaml",
    ]);
    assert.equal(fs.readFileSync(path.join(dir, "mine.yaml"), "utf8"), "kind: Mine\n", "a file it did not make is left alone");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the default image is the one `docker build -t mini-pilot:<package.json version>` makes", () => {
  const version = (JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string }).version;
  assert.equal(DEFAULT_IMAGE, `mini-pilot:${version}`);
});

test("the ClusterRole is list and watch on what the Kubernetes source watches, plus the CA's rules", () => {
  const role = installObjects().find((o) => o.kind === "ClusterRole" && o.metadata.name === "mini-pilot") as any;
  assert.deepEqual(role.rules, [
    { apiGroups: [""], resources: ["namespaces", "nodes", "pods", "secrets", "services"], verbs: ["list", "watch"] },
    { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] },
    {
      apiGroups: ["networking.istio.io"],
      resources: ["destinationrules", "gateways", "serviceentries", "sidecars", "virtualservices"],
      verbs: ["list", "watch"],
    },
    { apiGroups: ["security.istio.io"], resources: ["authorizationpolicies", "peerauthentications"], verbs: ["list", "watch"] },
    { apiGroups: ["authentication.k8s.io"], resources: ["tokenreviews"], verbs: ["create"] },
    { apiGroups: [""], resources: ["configmaps"], verbs: ["create", "get", "list", "update", "watch"] },
    { apiGroups: [""], resources: ["secrets"], verbs: ["create", "get"] },
  ]);
  const binding = installObjects().find((o) => o.kind === "ClusterRoleBinding" && o.metadata.name === "mini-pilot") as any;
  assert.deepEqual(binding.roleRef, { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role.metadata.name });
  assert.deepEqual(binding.subjects, [{ kind: "ServiceAccount", name: "mini-pilot", namespace: "istio-system" }]);
  // The YAML says what is deliberately not granted yet.
  assert.match(renderObjects([role], "yaml"), /Secrets are read for gateway credentialName/);
});

test("the Deployment runs `serve --in-cluster` hardened, and its args parse as serve flags", () => {
  const d = one(installObjects(), "Deployment");
  assert.equal(d.spec.replicas, 2);
  const pod = d.spec.template.spec;
  assert.equal(pod.serviceAccountName, "mini-pilot");
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.equal(pod.securityContext.seccompProfile.type, "RuntimeDefault");
  assert.equal(pod.containers.length, 1);
  const c = pod.containers[0];
  assert.equal(c.image, DEFAULTS.image);
  assert.deepEqual(c.args, [
    "serve",
    "--in-cluster",
    "--http-address",
    "0.0.0.0:15014",
    "--inject-webhook-address",
    "0.0.0.0:15017",
    "--inject-image",
    DEFAULTS.image,
  ]);
  const parsed = parseFlags(serveSpec, c.args.slice(1));
  assert.equal(parsed?.flags["in-cluster"], true);
  assert.equal(parsed?.flags["http-address"], "0.0.0.0:15014");
  assert.equal(parsed?.flags["inject-webhook-address"], "0.0.0.0:15017");
  assert.equal(parsed?.flags["inject-image"], DEFAULTS.image, "pods are injected with the image the install runs");
  // The webhook's certificate names mini-pilot.<this namespace>.svc: serve learns it from the downward API.
  assert.deepEqual(
    c.env.find((e: any) => e.name === "POD_NAMESPACE"),
    {
      name: "POD_NAMESPACE",
      valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "metadata.namespace" } },
    },
  );
  assert.equal(parsed?.flags["xds-address"], "0.0.0.0:15010", "xDS listens where the container port says");
  const sc = c.securityContext;
  assert.equal(sc.runAsNonRoot, true);
  assert.ok(Number.isInteger(sc.runAsUser) && sc.runAsUser > 0, "numeric non-root user, so the kubelet can check runAsNonRoot");
  assert.equal(sc.readOnlyRootFilesystem, true);
  assert.equal(sc.allowPrivilegeEscalation, false);
  assert.deepEqual(sc.capabilities, { drop: ["ALL"] });
  assert.ok(c.resources.requests.cpu && c.resources.requests.memory);
  assert.deepEqual(
    c.ports.map((p: any) => [p.name, p.containerPort]),
    [
      ["grpc-xds", 15010],
      ["https-xds", 15012],
      ["http-monitoring", 15014],
      ["https-webhook", 15017],
    ],
  );
  assert.equal(c.readinessProbe.httpGet.path, "/ready");
  assert.equal(c.livenessProbe.httpGet.path, "/healthz");
  for (const p of [c.readinessProbe, c.livenessProbe, c.startupProbe]) assert.equal(p.httpGet.port, "http-monitoring");
});

test("the probe paths are answered by serve's HTTP port (200 once the config is loaded)", async (t) => {
  const serve = await startServe(["--config-dir", path.join(ROOT, "examples")]);
  t.after(() => serve.stop());
  const c = one(installObjects(), "Deployment").spec.template.spec.containers[0];
  for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe]) {
    const res = await fetch(`http://127.0.0.1:${serve.httpPort}${probe.httpGet.path}`);
    assert.equal(res.status, 200, probe.httpGet.path);
  }
  const missing = await fetch(`http://127.0.0.1:${serve.httpPort}/no-such-probe`);
  assert.equal(missing.status, 404, "a wrong path would fail the probe");
});

test("the Service exposes plaintext xDS, TLS xDS and monitoring by the container's port names; the PDB keeps one replica", () => {
  const objects = installObjects();
  const svc = one(objects, "Service");
  const d = one(objects, "Deployment");
  assert.deepEqual(svc.spec.selector, d.spec.selector.matchLabels);
  assert.deepEqual(
    svc.spec.ports.map((p: any) => [p.name, p.port, p.targetPort]),
    [
      ["grpc-xds", 15010, "grpc-xds"],
      ["https-xds", 15012, "https-xds"],
      ["http-monitoring", 15014, "http-monitoring"],
      ["https-webhook", 443, "https-webhook"],
    ],
  );
  const pdb = one(objects, "PodDisruptionBudget");
  assert.equal(pdb.spec.minAvailable, 1);
  assert.deepEqual(pdb.spec.selector.matchLabels, d.spec.selector.matchLabels);
  // One replica: a minAvailable 1 budget would block every node drain.
  assert.equal(byKind(installObjects({ ...DEFAULTS, replicas: 1 }), "PodDisruptionBudget").length, 0);
});

test("one CRD per served Istio kind: v1 stored, v1beta1 (and v1alpha3 for networking) served, status subresource", () => {
  const crds = byKind(installObjects(), "CustomResourceDefinition") as any[];
  assert.deepEqual(
    crds.map((c) => c.metadata.name),
    ISTIO_TYPES.map((t) => `${t.plural}.${t.group}`),
  );
  for (const c of crds) {
    assert.equal(c.spec.scope, "Namespaced");
    // security.istio.io never had v1alpha3.
    const security = c.spec.group === "security.istio.io";
    assert.deepEqual(
      c.spec.versions.map((v: any) => [v.name, v.served, v.storage]),
      [["v1", true, true], ["v1beta1", true, false], ...(security ? [] : [["v1alpha3", true, false]])],
    );
    for (const v of c.spec.versions) assert.deepEqual(v.subresources, { status: {} });
  }
});

test("options: namespace, image and replicas reach every object; -o json is one v1 List", async () => {
  const { code, out } = await capture(["--namespace", "mesh", "--image", "registry.example/mp:1", "--replicas", "3", "-o", "json"]);
  assert.equal(code, 0);
  const list = JSON.parse(out) as { apiVersion: string; kind: string; items: any[] };
  assert.equal(list.kind, "List");
  const namespaced = list.items.filter(
    (o) => !["Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration"].includes(o.kind),
  );
  assert.deepEqual([...new Set(namespaced.map((o) => o.metadata.namespace))], ["mesh"]);
  assert.equal(list.items.find((o) => o.kind === "Namespace").metadata.name, "mesh");
  assert.equal(list.items.find((o) => o.kind === "ClusterRoleBinding").subjects[0].namespace, "mesh");
  const d = list.items.find((o) => o.kind === "Deployment");
  assert.equal(d.spec.replicas, 3);
  assert.equal(d.spec.template.spec.containers[0].image, "registry.example/mp:1");
  assert.deepEqual(d.spec.template.spec.containers[0].args.slice(-2), ["--inject-image", "registry.example/mp:1"]);
  const webhook = list.items.find((o) => o.kind === "MutatingWebhookConfiguration");
  for (const w of webhook.webhooks) assert.deepEqual(w.clientConfig.service, { name: "mini-pilot", namespace: "mesh", port: 443, path: "/inject" });
  for (const b of list.items.filter((o) => o.kind === "ClusterRoleBinding")) assert.equal(b.subjects[0].namespace, "mesh");
  // YAML output is the same objects.
  const yaml = await capture(["--namespace", "mesh", "--image", "registry.example/mp:1", "--replicas", "3"]);
  assert.deepEqual(
    YAML.parseAllDocuments(yaml.out).map((doc) => doc.toJS()),
    list.items,
  );
});

test("bad options are refused with the flag and the reason", async () => {
  assert.match(await cliError(["--replicas", "two"]), /^--replicas: "two" is not a whole number from 1 to 100/);
  assert.match(await cliError(["--replicas", "0"]), /^--replicas: "0"/);
  assert.match(await cliError(["--namespace", "Istio_System"]), /^--namespace "Istio_System" is not a valid Kubernetes namespace name/);
  assert.match(await cliError(["--image", ""]), /^--image "" is not an image reference/);
  assert.match(await cliError(["-o", "xml"]), /^-o\/--output wants yaml or json, got "xml"/);
  assert.match(await cliError(["--out-dir", "x", "-o", "json"]), /--out-dir writes YAML files/);
});

test("a Role lets serve list and watch the mesh config ConfigMap (istio) in its namespace, and no other ConfigMap", () => {
  const objects = installObjects({ ...DEFAULTS, namespace: "mesh-cp" });
  const role = one(objects, "Role");
  assert.equal(role.metadata.namespace, "mesh-cp");
  assert.deepEqual(role.rules, [{ apiGroups: [""], resources: ["configmaps"], resourceNames: ["istio"], verbs: ["list", "watch"] }]);
  const binding = one(objects, "RoleBinding");
  assert.deepEqual(binding.roleRef, { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "mini-pilot" });
  assert.deepEqual(binding.subjects, [{ kind: "ServiceAccount", name: "mini-pilot", namespace: "mesh-cp" }]);
});

test("the injection webhook: Istio's MutatingWebhookConfiguration on Service port 443, and get/patch on that one object only", () => {
  const objects = installObjects();
  const config = one(objects, "MutatingWebhookConfiguration");
  assert.equal(config.metadata.name, "mini-pilot-sidecar-injector");
  assert.deepEqual(
    config.webhooks.map((w: any) => [w.name, w.namespaceSelector, w.objectSelector, w.failurePolicy]),
    [
      [
        "namespace.sidecar-injector.mini-pilot.io",
        { matchExpressions: [{ key: "istio-injection", operator: "In", values: ["enabled"] }] },
        { matchExpressions: [{ key: "sidecar.istio.io/inject", operator: "NotIn", values: ["false"] }] },
        "Fail",
      ],
      [
        "object.sidecar-injector.mini-pilot.io",
        { matchExpressions: [{ key: "istio-injection", operator: "DoesNotExist" }] },
        { matchExpressions: [{ key: "sidecar.istio.io/inject", operator: "In", values: ["true"] }] },
        "Fail",
      ],
    ],
  );
  for (const w of config.webhooks) {
    assert.deepEqual(
      w.clientConfig,
      { service: { name: "mini-pilot", namespace: "istio-system", port: 443, path: "/inject" } },
      "no caBundle: serve writes it",
    );
    assert.deepEqual(w.rules, [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"] }]);
  }
  // Port 443 of the Service leads to the container port the webhook listens on.
  const svcPort = one(objects, "Service").spec.ports.find((p: any) => p.port === 443);
  const containerPort = one(objects, "Deployment").spec.template.spec.containers[0].ports.find((p: any) => p.name === svcPort.targetPort);
  assert.equal(containerPort.containerPort, 15017);
  const role = objects.find((o) => o.kind === "ClusterRole" && o.metadata.name === "mini-pilot-injector") as any;
  assert.deepEqual(role.rules, [
    {
      apiGroups: ["admissionregistration.k8s.io"],
      resources: ["mutatingwebhookconfigurations"],
      resourceNames: ["mini-pilot-sidecar-injector"],
      verbs: ["get", "patch"],
    },
  ]);
  const binding = objects.find((o) => o.kind === "ClusterRoleBinding" && o.metadata.name === "mini-pilot-injector") as any;
  assert.deepEqual(binding.roleRef, { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "mini-pilot-injector" });
  assert.deepEqual(binding.subjects, [{ kind: "ServiceAccount", name: "mini-pilot", namespace: "istio-system" }]);
});
