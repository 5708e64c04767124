import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseAllDocuments } from "yaml";

type J = any; // Kubernetes JSON

const CLI = path.join(__dirname, "../../src/cli/main.js");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mini-pilot-kube-inject-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));

const SERVICE = `# the bill service
apiVersion: v1
kind: Service
metadata:
  name: bill-service   # keep this comment
  namespace: shop
spec:
  ports: [{port: 9999, name: http}]
  selector: {app: bill-service}
`;
const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: bill-service-v1
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels: {app: bill-service, version: v1}
  template:
    metadata:
      labels: {app: bill-service, version: v1}
      annotations:
        traffic.sidecar.istio.io/excludeOutboundPorts: "5432"
    spec:
      containers:
        - name: bill
          image: bill:1
          ports: [{containerPort: 9999}]
`;
const OPTED_OUT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: batch
  namespace: shop
spec:
  selector: {matchLabels: {app: batch}}
  template:
    metadata:
      labels: {app: batch}
      annotations: {sidecar.istio.io/inject: "false"}
    spec:
      containers: [{name: batch, image: "batch:1"}]
`;
const MANIFEST = `${SERVICE}---\n${DEPLOYMENT}---\n${OPTED_OUT}`;

function kubeInject(args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, "kube-inject", ...args], { encoding: "utf8", input });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function docs(text: string): J[] {
  return parseAllDocuments(text as string)
    .map((d: J) => d.toJS())
    .filter((d: J) => d !== null);
}

test("a multi-document manifest: the Deployment is injected, the Service and the opted-out Deployment are copied byte for byte", () => {
  const file = path.join(tmp, "deploy.yaml");
  fs.writeFileSync(file, MANIFEST);
  const r = kubeInject(["-f", file]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.stdout.startsWith(SERVICE), "the Service, comments and all");
  assert.ok(r.stdout.endsWith(`---\n${OPTED_OUT}`), "the opted-out Deployment");
  const out = docs(r.stdout);
  assert.deepEqual(
    out.map((d) => d.kind),
    ["Service", "Deployment", "Deployment"],
  );
  const t = out[1].spec.template;
  assert.deepEqual(
    t.spec.containers.map((c: J) => c.name),
    ["bill", "istio-proxy"],
  );
  assert.deepEqual(
    t.spec.initContainers.map((c: J) => c.name),
    ["istio-init"],
  );
  assert.ok(t.spec.initContainers[0].args.join(" ").includes("--istio-local-outbound-ports-exclude 5432"));
  assert.equal(out[1].spec.replicas, 2);
  assert.match(r.stderr, /deploy\.yaml: document 2 \(Deployment shop\/bill-service-v1\): injected/);
  assert.match(r.stderr, /document 3 \(Deployment shop\/batch\): not injected \(the pod's annotation sidecar\.istio\.io\/inject opts out\)/);
});

test("idempotent: kube-inject of its own output prints the same bytes", () => {
  const once = kubeInject(["-f", "-"], MANIFEST);
  assert.equal(once.status, 0, once.stderr);
  const twice = kubeInject(["-f", "-"], once.stdout);
  assert.equal(twice.status, 0, twice.stderr);
  assert.equal(twice.stdout, once.stdout);
  assert.match(twice.stderr, /already injected/);
});

test("every workload kind, and -o json gives a List", () => {
  const template = `    metadata: {labels: {app: w}}\n    spec:\n      containers: [{name: w, image: w}]\n`;
  const kinds = ["StatefulSet", "DaemonSet", "ReplicaSet", "Job"].map(
    (k) => `apiVersion: x/v1\nkind: ${k}\nmetadata: {name: w-${k.toLowerCase()}}\nspec:\n  template:\n${template}`,
  );
  const cron = `apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: w-cron}\nspec:\n  schedule: "* * * * *"\n  jobTemplate:\n    spec:\n      template:\n${template.replace(/^(?=.)/gm, "    ")}`;
  const pod = `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "w-pod"}, "spec": {"containers": [{"name": "w", "image": "w"}]}}\n`;
  const r = kubeInject(["-f", "-", "-o", "json", "-q"], [...kinds, cron, pod].join("---\n"));
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, "");
  const list = JSON.parse(r.stdout);
  assert.equal(list.kind, "List");
  const templates = list.items.map((o: J) => (o.kind === "CronJob" ? o.spec.jobTemplate.spec.template : o.kind === "Pod" ? o : o.spec.template));
  assert.equal(templates.length, 6);
  for (const t of templates) assert.equal(t.spec.containers.at(-1).name, "istio-proxy", JSON.stringify(t).slice(0, 80));
  assert.equal(list.items[5].metadata.namespace, undefined, "the namespace is not invented");
});

test("--namespace-labels istio-injection=disabled: nothing injected, the output is the input", () => {
  const r = kubeInject(["-f", "-", "--namespace-labels", "istio-injection=disabled"], MANIFEST);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, MANIFEST);
});

test("bad documents: each named by number, kind/name, line, field and reason; exit 1 and nothing printed", () => {
  const bad = `${SERVICE}---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: broken, namespace: shop}\nspec:\n  template:\n    spec: {}\n---\nkind: Pod\nmetadata: {name: p, annotations: {traffic.sidecar.istio.io/includeInboundPorts: "80,eighty"}}\nspec: {containers: [{name: a}]}\n---\nfoo: [1, 2\n---\n- just a list\n`;
  const r = kubeInject(["-f", "-"], bad);
  assert.equal(r.status, 1);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /<stdin>: document 2 \(Deployment shop\/broken\) \(line 11\): spec\.template\.spec\.containers: is required/);
  assert.match(
    r.stderr,
    /document 3 \(Pod default\/p\) \(line 18\): metadata\.annotations: annotation traffic\.sidecar\.istio\.io\/includeInboundPorts: "eighty" is not a port/,
  );
  assert.match(r.stderr, /document 4 \(line 22\): not valid YAML/);
  assert.match(r.stderr, /document 5 \(line 24\): \(document\): must be a Kubernetes object/);
  assert.match(r.stderr, /4 bad document\(s\); nothing printed/);
});

test("usage errors exit 2 with the flag named", () => {
  assert.match(kubeInject([]).stderr, /-f FILE is required/);
  assert.equal(kubeInject(["-f", path.join(tmp, "missing.yaml")]).status, 2);
  assert.match(kubeInject(["-f", path.join(tmp, "missing.yaml")]).stderr, /cannot read .*missing\.yaml: ENOENT/);
  assert.match(kubeInject(["-f", "-", "-o", "xml"], "").stderr, /-o wants yaml or json/);
  assert.match(kubeInject(["-f", "-", "--discovery-address", "nope"], "").stderr, /--discovery-address wants HOST:PORT/);
  // Istio's well-known ports: TLS on the plaintext port (or the reverse) would leave the sidecar without config.
  const tlsOn15010 = kubeInject(["-f", "-", "--discovery-address", "mini-pilot.istio-system.svc:15010"], "");
  assert.equal(tlsOn15010.status, 2);
  assert.match(
    tlsOn15010.stderr,
    /--discovery-address mini-pilot\.istio-system\.svc:15010 is the plaintext xDS port, .* use the TLS port \(15012\), or add --plaintext-xds/,
  );
  assert.match(kubeInject(["-f", "-", "--plaintext-xds", "--discovery-address", "cp:15012"], "").stderr, /cp:15012 is the TLS xDS port/);
  assert.match(kubeInject(["-f", "-", "--ca-address", "", "--discovery-address", "cp:15012"], "").stderr, /cp:15012 is the TLS xDS port/);
});

test('xDS transport per flags: TLS to the CA address by default, plaintext 15010 with --ca-address "" or --plaintext-xds', () => {
  const proxyArgs = (flags: string[]): string[] => {
    const r = kubeInject(["-f", "-", "-o", "json", "-q", ...flags], DEPLOYMENT);
    assert.equal(r.status, 0, r.stderr);
    return (JSON.parse(r.stdout) as J).spec.template.spec.containers.find((c: J) => c.name === "istio-proxy").args.slice(1, 5);
  };
  assert.deepEqual(proxyArgs([]), ["--xds-address", "mini-pilot.istio-system.svc:15012", "--xds-tls", "--labels-file"]);
  assert.deepEqual(proxyArgs(["--ca-address", "cp.mesh.svc:15012"]), ["--xds-address", "cp.mesh.svc:15012", "--xds-tls", "--labels-file"]);
  assert.deepEqual(proxyArgs(["--ca-address", ""]), ["--xds-address", "mini-pilot.istio-system.svc:15010", "--labels-file", "/etc/istio/pod/labels"]);
  assert.deepEqual(proxyArgs(["--plaintext-xds"]), ["--xds-address", "mini-pilot.istio-system.svc:15010", "--labels-file", "/etc/istio/pod/labels"]);
  assert.deepEqual(proxyArgs(["--plaintext-xds", "--discovery-address", "127.0.0.1:31010"]), [
    "--xds-address",
    "127.0.0.1:31010",
    "--labels-file",
    "/etc/istio/pod/labels",
  ]);
  const help = kubeInject(["--help"]).stdout;
  assert.match(help, /Secure by default: .*\n.*xDS from the same port over TLS/);
  assert.match(help, /Plaintext xDS \(mini-pilot\.istio-system\.svc:15010\) only when asked/);
});
