/**
 * `mini-pilot canary` against a real kube-apiserver, run as a user runs it
 * (the CLI as a child process with a kubeconfig): start → weight → promote and
 * start → abort leave exactly the expected objects; refusals change nothing;
 * a step the API server rejects half-way (a ValidatingAdmissionPolicy that
 * denies the VirtualService) rolls back the Deployment and DestinationRule it
 * had already written, and says so.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { kubeRequest, startKube, type KubeCluster, kubeUnavailable } from "./cluster";
import { CLI } from "../support/serve-process";

type Raw = Record<string, any>;

const NS = "default";
const PATHS: Record<string, string> = {
  Service: `/api/v1/namespaces/${NS}/services`,
  Pod: `/api/v1/namespaces/${NS}/pods`,
  EndpointSlice: `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices`,
  Deployment: `/apis/apps/v1/namespaces/${NS}/deployments`,
  VirtualService: `/apis/networking.istio.io/v1/namespaces/${NS}/virtualservices`,
  DestinationRule: `/apis/networking.istio.io/v1/namespaces/${NS}/destinationrules`,
};

async function create(kube: KubeCluster, o: Raw): Promise<void> {
  const r = await kubeRequest(kube, "POST", PATHS[o.kind]!, o);
  assert.equal(r.status, 201, `POST ${o.kind}/${o.metadata.name}: ${r.body}`);
}

async function list(kube: KubeCluster, kind: string): Promise<Raw[]> {
  const r = await kubeRequest(kube, "GET", PATHS[kind]!);
  assert.equal(r.status, 200, r.body);
  return (JSON.parse(r.body) as { items: Raw[] }).items;
}

async function get(kube: KubeCluster, kind: string, name: string): Promise<Raw | undefined> {
  const r = await kubeRequest(kube, "GET", `${PATHS[kind]}/${name}`);
  return r.status === 404 ? undefined : (JSON.parse(r.body) as Raw);
}

/** What a canary may change, without the server's bookkeeping. */
async function snapshot(kube: KubeCluster): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const kind of ["Deployment", "DestinationRule", "VirtualService"]) {
    for (const o of await list(kube, kind)) {
      out[`${kind}/${o.metadata.name}`] = { labels: o.metadata.labels ?? {}, annotations: o.metadata.annotations ?? {}, spec: o.spec };
    }
  }
  return out;
}

function canary(kube: KubeCluster, ...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, "canary", ...args, "--kubeconfig", kube.kubeconfigPath], { encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function deployment(name: string, labels: Record<string, string>, image: string): Raw {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: NS, labels },
    spec: {
      replicas: 2,
      selector: { matchLabels: labels },
      template: { metadata: { labels }, spec: { containers: [{ name: "app", image, ports: [{ containerPort: 8080 }] }] } },
    },
  };
}

async function seed(kube: KubeCluster): Promise<void> {
  await create(kube, {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "bill-service", namespace: NS },
    spec: { selector: { app: "bill-service" }, ports: [{ name: "http", port: 9999, targetPort: 8080 }] },
  });
  await create(kube, deployment("bill-service-v1", { app: "bill-service", version: "v1" }, "example/bill:1"));
  await create(kube, {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "bill-service-v1-x1", namespace: NS, labels: { app: "bill-service", version: "v1" } },
    spec: { containers: [{ name: "app", image: "example/bill:1" }] },
  });
  await create(kube, {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: "bill-service-a", namespace: NS, labels: { "kubernetes.io/service-name": "bill-service" } },
    addressType: "IPv4",
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    endpoints: [{ addresses: ["10.1.0.11"], conditions: { ready: true }, targetRef: { kind: "Pod", name: "bill-service-v1-x1", namespace: NS } }],
  });
  await create(kube, {
    apiVersion: "networking.istio.io/v1",
    kind: "DestinationRule",
    metadata: { name: "bill-service-dr", namespace: NS },
    spec: { host: "bill-service", trafficPolicy: { loadBalancer: { simple: "RANDOM" } }, subsets: [{ name: "v1", labels: { version: "v1" } }] },
  });
  await create(kube, {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: "bill-service-route", namespace: NS },
    spec: {
      hosts: ["bill-service"],
      http: [{ name: "main", route: [{ destination: { host: "bill-service", subset: "v1" } }], timeout: "5s" }],
    },
  });
}

test(
  "canary on a cluster: start → weight → promote, start → abort, refusals, rollback",
  { timeout: 240_000, skip: kubeUnavailable("canary kube tests") },
  async (t) => {
    const kube = await startKube();
    t.after(() => kube.stop());
    await seed(kube);
    const initial = await snapshot(kube);

    // Refusals change nothing.
    const noService = canary(kube, "start", "nosuch", "--version", "v2");
    assert.equal(noService.code, 1);
    assert.match(noService.stderr, /^mini-pilot canary start: refused: no Service nosuch in namespace default/);
    await create(kube, {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "plain", namespace: NS },
      spec: { selector: { app: "plain" }, ports: [{ port: 80 }] },
    });
    await create(kube, deployment("plain", { app: "plain" }, "example/plain:1"));
    const unlabelled = canary(kube, "start", "plain", "--version", "v2");
    assert.equal(unlabelled.code, 1);
    assert.match(
      unlabelled.stderr,
      /refused: no DestinationRule subset can be made for the running version of plain: Deployment plain carry no "version" label/,
    );
    const bad = canary(kube, "weight", "bill-service", "140");
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr.trim().split("\n").length, 1, bad.stderr);
    assert.deepEqual(await snapshot(kube), { ...initial, "Deployment/plain": (await snapshot(kube))["Deployment/plain"] });

    // start
    const started = canary(kube, "start", "bill-service", "--version", "v2", "--image", "example/bill:2");
    assert.equal(started.code, 0, started.stderr);
    assert.match(
      started.stdout,
      /created Deployment bill-service-v2\n\s+updated DestinationRule bill-service-dr\n\s+updated VirtualService bill-service-route/,
    );
    const v2 = (await get(kube, "Deployment", "bill-service-v2"))!;
    assert.deepEqual(v2.spec.selector.matchLabels, { app: "bill-service", version: "v2" });
    assert.deepEqual(v2.spec.template.metadata.labels, { app: "bill-service", version: "v2" });
    assert.equal(v2.spec.template.spec.containers[0].image, "example/bill:2");
    assert.equal(v2.metadata.labels["canary.mini-pilot.io/of"], "bill-service");
    const dr = (await get(kube, "DestinationRule", "bill-service-dr"))!;
    assert.deepEqual(
      dr.spec.subsets.map((s: Raw) => [s.name, s.labels.version]),
      [
        ["v1", "v1"],
        ["v2", "v2"],
      ],
    );
    assert.deepEqual(dr.spec.trafficPolicy, { loadBalancer: { simple: "RANDOM" } }, "the rest of the rule is kept");
    let vs = (await get(kube, "VirtualService", "bill-service-route"))!;
    assert.deepEqual(vs.spec.http[0].route, [
      { destination: { host: "bill-service", subset: "v1" }, weight: 100 },
      { destination: { host: "bill-service", subset: "v2" }, weight: 0 },
    ]);
    assert.equal(vs.spec.http[0].timeout, "5s");

    const again = canary(kube, "start", "bill-service", "--version", "v3");
    assert.equal(again.code, 1);
    assert.match(again.stderr, /refused: a canary of bill-service to v2 is in progress/);

    // weight + status
    const w = canary(kube, "weight", "bill-service", "30");
    assert.equal(w.code, 0, w.stderr);
    vs = (await get(kube, "VirtualService", "bill-service-route"))!;
    assert.deepEqual(
      vs.spec.http[0].route.map((d: Raw) => [d.destination.subset, d.weight]),
      [
        ["v1", 70],
        ["v2", 30],
      ],
    );
    const st = canary(kube, "status", "bill-service");
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, /canary v2 in progress, stable v1/);
    assert.match(st.stdout, /VirtualService bill-service-route http\[0\] main: v1 70%, v2 30%/);
    assert.match(st.stdout, /ready endpoints: v1 1, v2 0/);

    // promote waits for the new version to have ready endpoints (no kubelet here: the test plays it).
    const early = canary(kube, "promote", "bill-service");
    assert.equal(early.code, 1);
    assert.match(early.stderr, /refused: v2 of bill-service has no ready endpoints; all its traffic would fail \(wait for its pods, or --force\)/);
    await create(kube, {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "bill-service-v2-x1", namespace: NS, labels: { app: "bill-service", version: "v2" } },
      spec: { containers: [{ name: "app", image: "example/bill:2" }] },
    });
    await create(kube, {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: "bill-service-b", namespace: NS, labels: { "kubernetes.io/service-name": "bill-service" } },
      addressType: "IPv4",
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
      endpoints: [{ addresses: ["10.1.0.12"], conditions: { ready: true }, targetRef: { kind: "Pod", name: "bill-service-v2-x1", namespace: NS } }],
    });
    assert.match(canary(kube, "status", "bill-service").stdout, /ready endpoints: v1 1, v2 1/);

    // promote: only v2 is left.
    const p = canary(kube, "promote", "bill-service");
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /updated VirtualService bill-service-route\n\s+updated DestinationRule bill-service-dr\n\s+deleted Deployment bill-service-v1/);
    const afterPromote = await snapshot(kube);
    assert.deepEqual(Object.keys(afterPromote).sort(), [
      "Deployment/bill-service-v2",
      "Deployment/plain",
      "DestinationRule/bill-service-dr",
      "VirtualService/bill-service-route",
    ]);
    assert.deepEqual((afterPromote["DestinationRule/bill-service-dr"] as Raw).spec, {
      host: "bill-service",
      trafficPolicy: { loadBalancer: { simple: "RANDOM" } },
      subsets: [{ name: "v2", labels: { version: "v2" } }],
    });
    assert.deepEqual(afterPromote["VirtualService/bill-service-route"], {
      labels: {},
      annotations: {},
      spec: { hosts: ["bill-service"], http: [{ name: "main", route: [{ destination: { host: "bill-service", subset: "v2" } }], timeout: "5s" }] },
    });

    // start → abort leaves exactly what was there.
    const s3 = canary(kube, "start", "bill-service", "--version", "v3");
    assert.equal(s3.code, 0, s3.stderr);
    assert.equal(canary(kube, "promote", "bill-service").code, 1, "v3 has no ready endpoints");
    assert.ok(await get(kube, "Deployment", "bill-service-v3"));
    const a = canary(kube, "abort", "bill-service");
    assert.equal(a.code, 0, a.stderr);
    assert.deepEqual(await snapshot(kube), afterPromote);

    // Half-way failure: the API server denies the VirtualService update; the Deployment and subset start made are undone.
    const policy = {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicy",
      metadata: { name: "freeze-canaries" },
      spec: {
        failurePolicy: "Fail",
        matchConstraints: {
          resourceRules: [{ apiGroups: ["networking.istio.io"], apiVersions: ["*"], operations: ["CREATE", "UPDATE"], resources: ["virtualservices"] }],
        },
        validations: [
          { expression: "!has(object.metadata.annotations) || !('canary.mini-pilot.io/state' in object.metadata.annotations)", message: "canaries are frozen" },
        ],
      },
    };
    assert.equal((await kubeRequest(kube, "POST", "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies", policy)).status, 201);
    const binding = {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicyBinding",
      metadata: { name: "freeze-canaries" },
      spec: { policyName: "freeze-canaries", validationActions: ["Deny"] },
    };
    assert.equal((await kubeRequest(kube, "POST", "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings", binding)).status, 201);
    // The policy takes effect once the API server has compiled it: probe with a throwaway VirtualService.
    const probe = {
      apiVersion: "networking.istio.io/v1",
      kind: "VirtualService",
      metadata: { name: "probe", namespace: NS, annotations: { "canary.mini-pilot.io/state": "{}" } },
      spec: { hosts: ["probe"] },
    };
    for (let i = 0; ; i++) {
      const r = await kubeRequest(kube, "POST", PATHS.VirtualService!, probe);
      if (r.status === 201) await kubeRequest(kube, "DELETE", `${PATHS.VirtualService}/probe`);
      if (r.status !== 201 && /canaries are frozen/.test(r.body)) break;
      assert.ok(i < 100, `the admission policy never took effect: ${r.status} ${r.body}`);
      await new Promise((res) => setTimeout(res, 200));
    }
    const failed = canary(kube, "start", "bill-service", "--version", "v4");
    assert.equal(failed.code, 1);
    assert.match(
      failed.stderr,
      /^mini-pilot canary start: replace VirtualService bill-service-route failed: PUT .*canaries are frozen.*; rolled back: restored DestinationRule bill-service-dr, deleted Deployment bill-service-v4\n$/,
    );
    assert.deepEqual(await snapshot(kube), afterPromote, "nothing half-made is left");
  },
);
