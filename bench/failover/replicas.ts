/**
 * The failover set-up with real parts: one kube-apiserver (+ etcd, the test
 * helpers' binaries), a mesh of `services` Services with EndpointSlices
 * created through its API, and `replicas` processes of `mini-pilot serve
 * --kubeconfig` watching it, each on its own 127.0.0.1 port. Used by the
 * failover test (test/kube/replicas-failover.test.ts) and by
 * `node dist/bench/failover.js`, which prints the numbers.
 */
import { kubeRequest, startKube, type KubeCluster } from "../../test/kube/cluster";
import { startServe, type ServeProcess } from "../../test/support/serve-process";
import { makeClientSpecs } from "../fleet/fleet";
import { measureFailover, type FailoverResult } from "./measure";
import type { ProxySpec } from "./client";

export interface ReplicaRunOptions {
  proxies: number;
  services: number;
  replicas?: number;
  log?: (msg: string) => void;
}

async function create(cluster: KubeCluster, path: string, body: object): Promise<void> {
  const r = await kubeRequest(cluster, "POST", path, body);
  if (r.status !== 201) throw new Error(`POST ${path}: ${r.status} ${r.body}`);
}

/** `services` HTTP services in namespace `mesh`, 3 ready endpoints each. */
async function populate(cluster: KubeCluster, services: number): Promise<void> {
  await create(cluster, "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "mesh" } });
  for (let i = 0; i < services; i++) {
    const name = `svc-${i}`;
    await create(cluster, "/api/v1/namespaces/mesh/services", {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace: "mesh" },
      spec: { selector: { app: name }, ports: [{ name: "http", port: 8080, targetPort: 8080 }] },
    });
    await create(cluster, "/apis/discovery.k8s.io/v1/namespaces/mesh/endpointslices", {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: `${name}-abcde`, namespace: "mesh", labels: { "kubernetes.io/service-name": name } },
      addressType: "IPv4",
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
      endpoints: [1, 2, 3].map((k) => ({ addresses: [`10.${1 + (i >> 8)}.${i & 0xff}.${k}`], conditions: { ready: true } })),
    });
  }
}

export interface ReplicaRun {
  result: FailoverResult;
  /** The surviving replicas' log lines (for a failed test). */
  logs: string[];
}

export async function runReplicaFailover(o: ReplicaRunOptions): Promise<ReplicaRun> {
  const log = o.log ?? (() => undefined);
  const cluster = await startKube({ installCrds: false });
  const serves: ServeProcess[] = [];
  try {
    await populate(cluster, o.services);
    log(`kube-apiserver up, ${o.services} services`);
    for (let i = 0; i < (o.replicas ?? 2); i++) {
      serves.push(await startServe(["--kubeconfig", cluster.kubeconfigPath, "--debounce-after", "20ms"]));
      log(`replica ${i} serving xDS on 127.0.0.1:${serves[i]!.xdsPort}`);
    }
    // Both replicas have listed everything before proxies connect (readiness, as the Service would require).
    for (const s of serves) {
      const deadline = Date.now() + 30_000;
      while ((await fetch(`http://127.0.0.1:${s.httpPort}/ready`)).status !== 200) {
        if (Date.now() > deadline) throw new Error("a replica did not become ready");
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    log("replicas ready");
    const proxies: ProxySpec[] = makeClientSpecs(o.proxies).map((c) => ({ nodeId: c.nodeId, metadata: c.metadata }));
    const result = await measureFailover({
      targets: serves.map((s) => `127.0.0.1:${s.xdsPort}`),
      proxies,
      log,
      kill: async (i) => {
        const child = serves[i]!.child;
        const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        child.kill("SIGKILL");
        await gone;
      },
    });
    return { result, logs: serves.slice(1).flatMap((s) => s.logs) };
  } finally {
    // A replica killed by a signal has exitCode null: stop() would wait for an exit that already happened.
    await Promise.all(serves.filter((s) => s.child.exitCode === null && s.child.signalCode === null).map((s) => s.stop()));
    await cluster.stop();
  }
}
