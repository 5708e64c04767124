/**
 * Prints the replica failover time: `node dist/bench/failover.js [--proxies N] [--services N]`.
 * Two `mini-pilot serve` replicas against one real kube-apiserver, a fleet of
 * proxies (half SotW, half delta) split across them; replica 0 is killed
 * (SIGKILL) and its proxies move to replica 1 (see bench/failover/).
 */
import { parseArgs } from "node:util";
import { runReplicaFailover } from "./failover/replicas";

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { proxies: { type: "string", default: "400" }, services: { type: "string", default: "100" } } });
  const proxies = Number(values.proxies);
  const services = Number(values.services);
  if (!(proxies >= 4) || !(services >= 1)) throw new Error("--proxies wants >= 4, --services >= 1");
  const { result: r } = await runReplicaFailover({ proxies, services, log: (m) => process.stderr.write(`failover: ${m}\n`) });
  process.stdout.write(
    [
      `replica failover: ${r.proxies} proxies over 2 replicas, ${services} services; replica 0 killed (SIGKILL)`,
      `  moved: ${r.moved.sotw} SotW + ${r.moved.delta} delta; restored: ${r.restoreMs.length}, not restored: ${r.notRestored}`,
      `  failover time (kill -> last moved proxy holds every type again): ${r.failoverMs} ms; p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms`,
      `  of which noticing the death (kill -> last stream ended): ${r.detectMs} ms`,
      `  config lost: ${r.lost} resources, changed: ${r.changed}, SotW version changes: ${r.versionChanges}`,
      `  resent on resumption: SotW ${r.resent.sotw} resources (full state), delta ${r.resent.delta} (initial_resource_versions matched)`,
      `  identical versions across replicas: ${r.sameVersionsAcrossReplicas}`,
      ...(r.errors.length ? [`  client errors: ${r.errors.join("; ")}`] : []),
    ].join("\n") + "\n",
  );
  return r.notRestored === 0 && r.lost === 0 && r.changed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    process.stderr.write(`failover: ${e.stack ?? e.message}\n`);
    process.exit(2);
  },
);
