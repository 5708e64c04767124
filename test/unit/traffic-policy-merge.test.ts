/**
 * istiod's MergeSubsetTrafficPolicy (found by the fidelity harness, case dr-port-level-settings): a port-level
 * setting replaces the whole policy for its port (omitted blocks take defaults, they are not inherited), and a
 * subset's port-level setting replaces all four blocks of the merged policy.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { effectivePolicy } from "../../src/generate/traffic-policy";
import type { ResolvedDestinationRule } from "../../src/model/mesh";
import type { Subset } from "../../src/model/types";

const dr: ResolvedDestinationRule = {
  sources: [],
  subsets: [],
  trafficPolicy: {
    loadBalancer: { simple: "ROUND_ROBIN" },
    connectionPool: { tcp: { maxConnections: 10 } },
    portLevelSettings: [{ port: { number: 9000 }, loadBalancer: { simple: "RANDOM" } }],
  },
};
const canary: Subset = {
  name: "canary",
  labels: { track: "canary" },
  trafficPolicy: {
    connectionPool: { tcp: { maxConnections: 2 } },
    portLevelSettings: [{ port: { number: 80 }, outlierDetection: { consecutive5xxErrors: 2 } }],
  },
};

test("a port-level setting replaces the rule's policy for its port: blocks it omits are not inherited", () => {
  assert.deepEqual(effectivePolicy(dr, undefined, 9000), { loadBalancer: { simple: "RANDOM" } });
  assert.deepEqual(effectivePolicy(dr, undefined, 80), { loadBalancer: { simple: "ROUND_ROBIN" }, connectionPool: { tcp: { maxConnections: 10 } } });
});

test("a subset's port-level setting replaces all four blocks; elsewhere the subset's set blocks override the rule's", () => {
  assert.deepEqual(effectivePolicy(dr, canary, 80), { outlierDetection: { consecutive5xxErrors: 2 } });
  assert.deepEqual(effectivePolicy(dr, canary, 9000), { loadBalancer: { simple: "RANDOM" }, connectionPool: { tcp: { maxConnections: 2 } } });
  assert.deepEqual(effectivePolicy(undefined, canary, 81), { connectionPool: { tcp: { maxConnections: 2 } } });
});
