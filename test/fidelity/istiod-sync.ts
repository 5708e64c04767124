/**
 * Knowing when istiod has seen what the harness put into the API server, from
 * its debug endpoints (/debug/registryz, /debug/configz, /debug/mesh on its
 * HTTP port), and the mesh config it reads from the `istio` ConfigMap.
 */
import * as http from "node:http";
import { stringify } from "yaml";
import { kubeRequest, type KubeCluster } from "../kube/cluster";

type Cluster = Pick<KubeCluster, "server" | "token" | "caPem">;

export function httpGetText(url: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString("utf8")) : reject(new Error(`GET ${url}: HTTP ${res.statusCode}`))));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${url}: timeout`)));
    req.on("error", reject);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `probe` until it returns true; the error names `what`. */
export async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    try {
      if (await probe()) return;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`istiod: ${what} not seen within ${timeoutMs} ms${last ? ` (${last})` : ""}`);
    await sleep(100);
  }
}

/** Hostnames istiod's registry has (Services and ServiceEntries). */
export async function registryHosts(httpAddress: string): Promise<Set<string>> {
  const list = JSON.parse(await httpGetText(`http://${httpAddress}/debug/registryz`)) as { hostname: string }[];
  return new Set(list.map((s) => s.hostname));
}

/** `Kind/namespace/name` of every Istio config istiod's store has. */
export async function configKeys(httpAddress: string): Promise<Set<string>> {
  const list = JSON.parse(await httpGetText(`http://${httpAddress}/debug/configz`)) as { kind: string; metadata: { name: string; namespace: string } }[];
  return new Set(list.map((c) => `${c.kind}/${c.metadata.namespace}/${c.metadata.name}`));
}

/** istiod's endpoint shards (/debug/endpointShardz) as text: enough to ask whether an address is there yet. */
export function endpointShardsText(httpAddress: string): Promise<string> {
  return httpGetText(`http://${httpAddress}/debug/endpointShardz`);
}

/**
 * Write the mesh config istiod reads (ConfigMap istio-system/istio, key
 * `mesh`), with `marker` in defaultConfig.proxyMetadata (an agent-only field
 * istiod never puts into xDS), and wait until istiod serves it.
 */
export async function setMeshConfig(cluster: Cluster, httpAddress: string, mesh: Record<string, unknown>, marker: string): Promise<void> {
  const defaultConfig = { ...((mesh.defaultConfig as Record<string, unknown> | undefined) ?? {}) };
  defaultConfig.proxyMetadata = { ...((defaultConfig.proxyMetadata as Record<string, string> | undefined) ?? {}), FIDELITY_MARKER: marker };
  const cm = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "istio", namespace: "istio-system" },
    data: { mesh: stringify({ ...mesh, defaultConfig }) },
  };
  const url = "/api/v1/namespaces/istio-system/configmaps";
  const put = await kubeRequest(cluster, "PUT", `${url}/istio`, cm);
  if (put.status === 404) {
    const post = await kubeRequest(cluster, "POST", url, cm);
    if (post.status !== 201) throw new Error(`creating ConfigMap istio-system/istio: HTTP ${post.status}: ${post.body}`);
  } else if (put.status !== 200) throw new Error(`updating ConfigMap istio-system/istio: HTTP ${put.status}: ${put.body}`);
  await until(`mesh config ${marker}`, async () => (await httpGetText(`http://${httpAddress}/debug/mesh`)).includes(marker));
}
