/**
 * localityLbSetting validation, Istio's rules (ValidateLocalityLbSetting,
 * validateLocalities and their tests in pkg/config/validation/agent): each
 * case with its exact diagnostics (severity, field path, message); then the
 * same rules on the mesh config's localityLbSetting.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { validateObject } from "../../src/model/validate";
import { parseMeshConfig } from "../../src/model/mesh-config";
import { meshOptionsFromConfig } from "../../src/model/mesh-config-options";

type Raw = Record<string, unknown>;

const OUTLIER = { consecutive5xxErrors: 1 };
const LB = "spec.trafficPolicy.loadBalancer.localityLbSetting";

const dr = (localityLbSetting: unknown, outlier: boolean = true): Raw => ({
  apiVersion: "networking.istio.io/v1",
  kind: "DestinationRule",
  metadata: { name: "d", namespace: "default" },
  spec: { host: "api", trafficPolicy: { loadBalancer: { localityLbSetting }, ...(outlier ? { outlierDetection: OUTLIER } : {}) } },
});
const distribute = (...entries: [string, Record<string, unknown>][]) => dr({ distribute: entries.map(([from, to]) => ({ from, to })) });
const failover = (...pairs: [string, string][]) => dr({ failover: pairs.map(([from, to]) => ({ from, to })) });

function diagnostics(raw: Raw): string[] {
  const r = validateObject(raw, { file: "dr.yaml", line: 3 });
  return (r.ok ? r.warnings : r.diagnostics).map((d) => `${d.severity} ${d.field ?? ""}: ${d.message}`);
}

const cases: [string, Raw, string[]][] = [
  // ---------------------------------------------------------------- accepted
  ["enabled only", dr({ enabled: true }), []],
  ["disabled", dr({ enabled: false }), []],
  ["empty setting", dr({}), []],
  ["distribute summing to 100", distribute(["a/b/c", { "a/b/c": 80, "a/b1": 20 }]), []],
  ["distribute to one locality", distribute(["*", { "a/*": 100 }]), []],
  ["distribute from several localities", distribute(["a1/*", { "a1/*": 100 }], ["a2/b2", { "a2/*": 100 }], ["a3/b3/c3", { "*": 100 }]), []],
  ["failover between regions", failover(["us-east", "eu-west"], ["us-west", "eu-east"]), []],
  ["failoverPriority labels", dr({ failoverPriority: ["topology.istio.io/network", "topology.kubernetes.io/region", "topology.kubernetes.io/zone"] }), []],
  ["failoverPriority with a value", dr({ failoverPriority: ["version=v1", "app"] }), []],
  ["failover with non-topology failoverPriority", dr({ failover: [{ from: "r1", to: "r2" }], failoverPriority: ["version"] }), []],
  // ---------------------------------------------------------------- distribute
  ["total weight over 100", distribute(["a/b/c", { "a/b/c": 80, "a/b1": 25 }]), [`error ${LB}.distribute[0].to: total locality weight 105 != 100`]],
  ["total weight under 100", distribute(["a/b/c", { "a/b/c": 80, "a/b1": 15 }]), [`error ${LB}.distribute[0].to: total locality weight 95 != 100`]],
  ["empty to", distribute(["a", {}]), [`error ${LB}.distribute[0].to: total locality weight 0 != 100`]],
  ["weight 0", distribute(["a/b/c", { "a/b/c": 0, "a/b1": 100 }]), [`error ${LB}.distribute[0].to["a/b/c"]: locality weight must be in range [1, 100]`]],
  ["weight over 100", distribute(["a", { a: 101 }]), [`error ${LB}.distribute[0].to.a: locality weight must be in range [1, 100]`]],
  [
    "weight not a number",
    distribute(["a", { a: "100" }]),
    [`error ${LB}.distribute[0].to.a: expected an integer, got string "100"`, `error ${LB}.distribute[0].to: total locality weight 0 != 100`],
  ],
  ["second entry's weights checked too", distribute(["a", { a: 100 }], ["b", { b: 50 }]), [`error ${LB}.distribute[1].to: total locality weight 50 != 100`]],
  [
    "to: two wildcards",
    distribute(["a", { "*/zone/*": 100 }]),
    [`error ${LB}.distribute[0].to: locality */zone/* wildcard '*' number can not exceed 1 and must be in the end`],
  ],
  [
    "to: wildcard not at the end",
    distribute(["a", { "*/zone": 100 }]),
    [`error ${LB}.distribute[0].to: locality */zone wildcard '*' number can not exceed 1 and must be in the end`],
  ],
  ["to: region after *", distribute(["a", { "*": 50, "a/b/c": 50 }]), [`error ${LB}.distribute[0].to: locality a/b/c overlap with previous specified ones`]],
  [
    "to: region covers subzone",
    distribute(["a", { a: 50, "a/b/c": 50 }]),
    [`error ${LB}.distribute[0].to: locality a/b/c overlap with previous specified ones`],
  ],
  [
    "to: zone wildcard covers subzone",
    distribute(["a", { "a/*": 50, "a/b/c": 50 }]),
    [`error ${LB}.distribute[0].to: locality a/b/c overlap with previous specified ones`],
  ],
  [
    "to: zone covers subzone",
    distribute(["a", { "a/b": 50, "a/b/c": 50 }]),
    [`error ${LB}.distribute[0].to: locality a/b/c overlap with previous specified ones`],
  ],
  [
    "to: subzone wildcard covers subzone",
    distribute(["a", { "a/b/*": 50, "a/b/c": 50 }]),
    [`error ${LB}.distribute[0].to: locality a/b/c overlap with previous specified ones`],
  ],
  ["to: empty zone", distribute(["a", { "a//c": 100 }]), [`error ${LB}.distribute[0].to: locality a//c must not contain empty region/zone/subzone info`]],
  ["to: distinct localities", distribute(["a", { "a1/*": 20, "a2/*": 20, "a3/b3/c3": 20, "a4/b4": 20, "a5/b5/*": 20 }]), []],
  [
    "from: overlapping entries",
    distribute(["a", { a: 100 }], ["a/b", { a: 100 }]),
    [`error ${LB}.distribute: locality a/b overlap with previous specified ones`],
  ],
  [
    "from: same locality twice",
    distribute(["a/b/c", { a: 100 }], ["a/b/c", { a: 100 }]),
    [`error ${LB}.distribute: locality a/b/c overlap with previous specified ones`],
  ],
  ["from: empty", distribute(["", { a: 100 }]), [`error ${LB}.distribute: locality  must not contain empty region/zone/subzone info`]],
  // ---------------------------------------------------------------- failover
  [
    "distribute and failover together",
    dr({ distribute: [{ from: "a/b/c", to: { "a/b/c": 80, "a/b1": 20 } }], failover: [{ from: "region1", to: "region2" }] }),
    [`error ${LB}: can not simultaneously specify 'distribute' and 'failover'`],
  ],
  ["same region", failover(["region1", "region1"]), [`error ${LB}.failover[0]: locality lb failover settings must specify different regions`]],
  ["from wildcard", failover(["*", "region2"]), [`error ${LB}.failover[0]: locality lb failover region should not contain '*' wildcard`]],
  ["to wildcard", failover(["region1", "*"]), [`error ${LB}.failover[0]: locality lb failover region should not contain '*' wildcard`]],
  ["from a zone", failover(["region1/zone1", "region2"]), [`error ${LB}.failover[0]: locality lb failover only specify region`]],
  ["to a zone", failover(["region1", "region2/zone1"]), [`error ${LB}.failover[0]: locality lb failover only specify region`]],
  [
    "second rule checked",
    failover(["r1", "r2"], ["r3/z", "r3/*"]),
    [
      `error ${LB}.failover[1]: locality lb failover only specify region`,
      `error ${LB}.failover[1]: locality lb failover region should not contain '*' wildcard`,
    ],
  ],
  ["no from", dr({ failover: [{ to: "r2" }] }), []],
  ["neither from nor to", dr({ failover: [{}] }), [`error ${LB}.failover[0]: locality lb failover settings must specify different regions`]],
  [
    "failover with region in failoverPriority",
    dr({ failover: [{ from: "region1", to: "region2" }], failoverPriority: ["topology.kubernetes.io/region"] }),
    [`error ${LB}.failoverPriority[0]: can not simultaneously set 'failover' and topology label 'topology.kubernetes.io/region' in 'failover_priority'`],
  ],
  [
    "failover with zone in failoverPriority",
    dr({ failover: [{ from: "region1", to: "region2" }], failoverPriority: ["version", "topology.kubernetes.io/zone"] }),
    [`error ${LB}.failoverPriority[1]: can not simultaneously set 'failover' and topology label 'topology.kubernetes.io/zone' in 'failover_priority'`],
  ],
  [
    "failover with subzone in failoverPriority",
    dr({ failover: [{ from: "region1", to: "region2" }], failoverPriority: ["topology.istio.io/subzone"] }),
    [`error ${LB}.failoverPriority[0]: can not simultaneously set 'failover' and topology label 'topology.istio.io/subzone' in 'failover_priority'`],
  ],
  // ---------------------------------------------------------------- warnings: failover needs outlier detection
  [
    "failoverPriority without outlier detection",
    dr({ failoverPriority: ["topology.istio.io/network", "topology.kubernetes.io/region"] }, false),
    ["warning spec.trafficPolicy.loadBalancer.localityLbSetting: outlier detection policy must be provided for failover"],
  ],
  [
    "failover without outlier detection",
    dr({ failover: [{ from: "us-east", to: "eu-west" }] }, false),
    [`warning ${LB}: outlier detection policy must be provided for failover`],
  ],
  [
    "distribute without outlier detection",
    {
      ...distribute(["a", { a: 100 }]),
      spec: { host: "api", trafficPolicy: { loadBalancer: { localityLbSetting: { distribute: [{ from: "a", to: { a: 100 } }] } } } },
    },
    [],
  ],
  ["enabled without outlier detection", dr({ enabled: true }, false), []],
  // ---------------------------------------------------------------- types
  ["not an object", dr("yes"), [`error ${LB}: expected an object, got string "yes"`]],
  ["enabled not a boolean", dr({ enabled: "true" }), [`error ${LB}.enabled: expected a boolean, got string "true"`]],
  ["failover not a list", dr({ failover: { from: "a", to: "b" } }), [`error ${LB}.failover: expected a list, got an object`]],
  ["failoverPriority item not a string", dr({ failoverPriority: [1] }), [`error ${LB}.failoverPriority[0]: expected a string, got number 1`]],
  ["unknown field", dr({ failovr: [] }), [`warning ${LB}.failovr: unknown field; ignored`]],
];

for (const [name, raw, want] of cases) {
  test(`localityLbSetting: ${name}`, () => assert.deepEqual(diagnostics(raw), want));
}

test("port-level and subset policies: the outlier detection of the same level counts", () => {
  const lb = { localityLbSetting: { failover: [{ from: "r1", to: "r2" }] } };
  const raw: Raw = {
    apiVersion: "networking.istio.io/v1",
    kind: "DestinationRule",
    metadata: { name: "d", namespace: "default" },
    spec: {
      host: "api",
      trafficPolicy: { outlierDetection: OUTLIER, portLevelSettings: [{ port: { number: 80 }, loadBalancer: lb }] },
      subsets: [
        { name: "v1", labels: { version: "v1" }, trafficPolicy: { loadBalancer: lb, outlierDetection: OUTLIER } },
        { name: "v2", labels: { version: "v2" }, trafficPolicy: { loadBalancer: { localityLbSetting: { distribute: [{ from: "a", to: { a: 99 } }] } } } },
      ],
    },
  };
  assert.deepEqual(diagnostics(raw), [
    "warning spec.trafficPolicy.portLevelSettings[0].loadBalancer.localityLbSetting: outlier detection policy must be provided for failover",
    "error spec.subsets[1].trafficPolicy.loadBalancer.localityLbSetting.distribute[0].to: total locality weight 99 != 100",
  ]);
});

test("diagnostics name the file and line of the object", () => {
  const r = validateObject(failover(["r1", "r1"]), { file: "dr.yaml", line: 3 });
  assert.ok(!r.ok);
  assert.deepEqual(r.diagnostics[0]!.origin, { file: "dr.yaml", line: 3 });
});

test("mesh config localityLbSetting: the same rules, no outlier warning, refused as a whole on error", () => {
  const ok = parseMeshConfig("localityLbSetting:\n  failover:\n  - from: us-east\n    to: eu-west\n", "mesh.yaml");
  assert.ok(ok.ok);
  assert.deepEqual(ok.warnings, []);
  assert.deepEqual(meshOptionsFromConfig(ok.config).localityLbSetting, { failover: [{ from: "us-east", to: "eu-west" }] });
  const bad = parseMeshConfig("localityLbSetting:\n  distribute:\n  - from: a\n    to: {a: 60}\n", "mesh.yaml");
  assert.ok(!bad.ok);
  assert.deepEqual(bad.errors, ["mesh.yaml: localityLbSetting.distribute[0].to: total locality weight 60 != 100"]);
  const off = parseMeshConfig("localityLbSetting: {enabled: false}\n", "mesh.yaml");
  assert.ok(off.ok);
  assert.deepEqual(meshOptionsFromConfig(off.config).localityLbSetting, { enabled: false });
});
