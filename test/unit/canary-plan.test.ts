/** The canary plans on hand-made states: what each step changes, and when it refuses. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { planAbort, planPromote, planStart, planWeight, Refusal, type Change } from "../../src/canary/plan";
import { RECORD_ANNOTATION, type AppState, type Raw } from "../../src/canary/objects";

const service: Raw = { kind: "Service", metadata: { name: "bill", namespace: "default" }, spec: { selector: { app: "bill" } } };
const pod = (name: string, version?: string): Raw => ({ kind: "Pod", metadata: { name, labels: { app: "bill", ...(version ? { version } : {}) } } });
const deployment = (name: string, version: string, containers = 1): Raw => ({
  kind: "Deployment",
  metadata: { name, namespace: "default", uid: "u1", resourceVersion: "7", labels: { app: "bill", version } },
  spec: {
    selector: { matchLabels: { app: "bill", version } },
    template: {
      metadata: { labels: { app: "bill", version } },
      spec: { containers: Array.from({ length: containers }, (_, i) => ({ name: `c${i}`, image: "bill:1" })) },
    },
  },
  status: { readyReplicas: 1 },
});
const vs = (http: Raw[]): Raw => ({ kind: "VirtualService", metadata: { name: "bill-vs", namespace: "default" }, spec: { hosts: ["bill"], http } });

function state(p: Partial<AppState>): AppState {
  return { namespace: "default", app: "bill", service, deployments: [], pods: [], endpointSlices: [], destinationRules: [], virtualServices: [], ...p };
}

const apply = (s: AppState, changes: Change[]): AppState => {
  const next = { ...s, virtualServices: [...s.virtualServices], destinationRules: [...s.destinationRules], deployments: [...s.deployments] };
  for (const c of changes) {
    const list = c.kind === "VirtualService" ? next.virtualServices : c.kind === "DestinationRule" ? next.destinationRules : next.deployments;
    const i = list.findIndex((o) => o.metadata.name === c.name);
    if (c.op === "delete") list.splice(i, 1);
    else if (i >= 0) list[i] = c.object;
    else list.push(c.object);
  }
  return next;
};

test("start with no rules creates a DestinationRule (both subsets) and a VirtualService at 100/0; abort deletes both", () => {
  const s = state({ pods: [pod("bill-1", "v1")] });
  const changes = planStart(s, { version: "v2", copyDeployment: false });
  assert.deepEqual(
    changes.map((c) => [c.op, c.kind, c.name]),
    [
      ["create", "DestinationRule", "bill"],
      ["create", "VirtualService", "bill"],
    ],
  );
  assert.deepEqual(changes[0]!.object.spec.subsets, [
    { name: "v1", labels: { version: "v1" } },
    { name: "v2", labels: { version: "v2" } },
  ]);
  assert.deepEqual(changes[1]!.object.spec.http[0].route, [
    { destination: { host: "bill", subset: "v1" }, weight: 100 },
    { destination: { host: "bill", subset: "v2" }, weight: 0 },
  ]);
  const started = apply(s, changes);
  assert.deepEqual(
    planAbort(started).map((c) => [c.op, c.kind, c.name]),
    [
      ["delete", "VirtualService", "bill"],
      ["delete", "DestinationRule", "bill"],
    ],
  );
});

test("start on a cluster copies the Deployment: new name, version label and selector, image; no server fields", () => {
  const s = state({ deployments: [deployment("bill-v1", "v1")], virtualServices: [vs([{ route: [{ destination: { host: "bill" } }] }])] });
  const [copy] = planStart(s, { version: "v2", image: "bill:2", copyDeployment: true });
  assert.equal(copy!.name, "bill-v2");
  assert.deepEqual(copy!.object.metadata, { name: "bill-v2", namespace: "default", labels: { app: "bill", version: "v2", "canary.mini-pilot.io/of": "bill" } });
  assert.deepEqual(copy!.object.spec.selector.matchLabels, { app: "bill", version: "v2" });
  assert.equal(copy!.object.spec.template.spec.containers[0].image, "bill:2");
  assert.equal(copy!.object.status, undefined);
  const two = state({ deployments: [deployment("bill-v1", "v1", 2)], virtualServices: s.virtualServices });
  assert.throws(
    () => planStart(two, { version: "v2", image: "bill:2", copyDeployment: true }),
    /has 2 containers \(c0, c1\); say which: --image CONTAINER=IMAGE/,
  );
  const [named] = planStart(two, { version: "v2", image: "c1=bill:2", copyDeployment: true });
  assert.deepEqual(
    named!.object.spec.template.spec.containers.map((c: Raw) => c.image),
    ["bill:1", "bill:2"],
  );
});

test("start refuses: no Service, no version label, two versions both routed, a subset that exists", () => {
  assert.throws(
    () => planStart(state({ service: undefined }), { version: "v2", copyDeployment: false }),
    (e: Error) => e instanceof Refusal && /no Service bill/.test(e.message),
  );
  assert.throws(
    () => planStart(state({ pods: [pod("bill-1")] }), { version: "v2", copyDeployment: false }),
    /no DestinationRule subset can be made .*Pod bill-1 carry no "version" label/,
  );
  const split = vs([
    {
      route: [
        { destination: { host: "bill", subset: "v1" }, weight: 90 },
        { destination: { host: "bill", subset: "v2" }, weight: 10 },
      ],
    },
  ]);
  assert.throws(
    () => planStart(state({ pods: [pod("a", "v1"), pod("b", "v2")], virtualServices: [split] }), { version: "v3", copyDeployment: false }),
    /already runs versions v1, v2 \(Pods\) and its routes send traffic to v1, v2/,
  );
  const dr: Raw = { kind: "DestinationRule", metadata: { name: "bill-dr" }, spec: { host: "bill", subsets: [{ name: "v2", labels: { version: "v2" } }] } };
  assert.throws(
    () => planStart(state({ pods: [pod("a", "v1")], destinationRules: [dr] }), { version: "v2", copyDeployment: false }),
    /already has a subset v2/,
  );
});

test("old pods still running after a promote: the version the routes send everything to is the stable one", () => {
  const s = state({ pods: [pod("a", "v1"), pod("b", "v2")], virtualServices: [vs([{ route: [{ destination: { host: "bill", subset: "v2" } }] }])] });
  const changes = planStart(s, { version: "v3", copyDeployment: false });
  const route = changes.find((c) => c.kind === "VirtualService")!.object.spec.http[0].route;
  assert.deepEqual(
    route.map((d: Raw) => [d.destination.subset, d.weight]),
    [
      ["v2", 100],
      ["v3", 0],
    ],
  );
});

test("weight and promote follow the record; a hand-edited route is refused, not guessed at", () => {
  const s = state({
    pods: [pod("a", "v1")],
    virtualServices: [
      vs([
        { name: "jason", match: [{ headers: { u: { exact: "j" } } }], route: [{ destination: { host: "bill", subset: "v9" } }] },
        { route: [{ destination: { host: "bill", subset: "v1" } }] },
      ]),
    ],
  });
  const started = apply(s, planStart(s, { version: "v2", copyDeployment: false }));
  assert.deepEqual(JSON.parse(started.virtualServices[0]!.metadata.annotations[RECORD_ANNOTATION]).routes, [1], "the route to another subset is left alone");
  const weighted = apply(started, planWeight(started, 25));
  assert.deepEqual(
    weighted.virtualServices[0]!.spec.http[1].route.map((d: Raw) => d.weight),
    [75, 25],
  );
  const promoted = apply(weighted, planPromote(weighted));
  assert.deepEqual(promoted.virtualServices[0]!.spec.http[1].route, [{ destination: { host: "bill", subset: "v2" } }]);
  assert.equal(promoted.virtualServices[0]!.metadata.annotations, undefined);
  assert.deepEqual(
    promoted.destinationRules[0]!.spec.subsets.map((x: Raw) => x.name),
    ["v2"],
  );
  const edited = JSON.parse(JSON.stringify(weighted)) as AppState;
  edited.virtualServices[0]!.spec.http[1].route.pop();
  assert.throws(() => planWeight(edited, 50), /http\[1\] no longer splits v1\/v2 as canary start left it; fix it by hand/);
});
