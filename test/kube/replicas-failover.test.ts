/**
 * Replicas (issue 10): two `mini-pilot serve --kubeconfig` replicas against one
 * real kube-apiserver, a fleet of proxies (SotW and delta) split across them.
 * Replica 0 is killed with SIGKILL; every proxy it served must be served by
 * replica 1 again, with no config lost or changed: delta proxies resume with
 * initial_resource_versions and get nothing resent (the replicas' versions are
 * identical: generation is deterministic), SotW proxies get the full state
 * with the same version_info. `node dist/bench/failover.js` prints the same
 * measurement for a bigger fleet.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { kubeUnavailable } from "./cluster";
import { runReplicaFailover } from "../../bench/failover/replicas";

test("kill one of two replicas: its SotW and delta proxies are served by the other, nothing lost", { skip: kubeUnavailable("replica failover") }, async () => {
  const { result: r, logs } = await runReplicaFailover({ proxies: 40, services: 20 });
  const why = `${JSON.stringify({ ...r, restoreMs: undefined })}\n${logs.slice(-20).join("\n")}`;
  process.stderr.write(`replica failover: ${r.moved.sotw}+${r.moved.delta} proxies moved in ${r.failoverMs} ms (p50 ${r.p50Ms} ms)\n`);
  assert.ok(r.moved.sotw > 0 && r.moved.delta > 0, `both kinds of proxy were on the killed replica: ${why}`);
  assert.equal(r.notRestored, 0, `every moved proxy is served by the other replica: ${why}`);
  assert.equal(r.lost, 0, `no resource lost: ${why}`);
  assert.equal(r.changed, 0, `no resource changed: ${why}`);
  assert.equal(r.versionChanges, 0, `SotW proxies see the same version_info on the other replica: ${why}`);
  assert.equal(r.resent.delta, 0, `delta proxies resuming with initial_resource_versions get nothing resent: ${why}`);
  assert.ok(r.resent.sotw > 0, "SotW proxies get the full state again");
  assert.equal(r.sameVersionsAcrossReplicas, true, "the same identity gets the same versions from either replica");
  assert.deepEqual(r.errors, []);
  assert.ok(r.failoverMs < 10_000, `failover within 10 s (took ${r.failoverMs} ms)`);
});
