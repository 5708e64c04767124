/**
 * Puts a golden case's manifests into the test kube-apiserver the way a user's
 * `kubectl apply` would, so istiod watches exactly what mini-pilot translates,
 * and takes them out again (one istiod serves every case in turn).
 *
 * The API server needs a few things the golden files leave out, none of which
 * istiod or mini-pilot read: a container in every Pod, the Pod's status set
 * through the status subresource (a create drops it), the `default` service
 * account a real cluster's admission fills in, the namespace the EndpointSlice
 * controller always writes into a targetRef, and a ServiceCIDR
 * covering each clusterIP outside the server's own range.
 */
import * as YAML from "yaml";
import { kubeRequest, type KubeCluster } from "../kube/cluster";
import type { ManifestFile } from "../../src/cli/translate";

type Cluster = Pick<KubeCluster, "server" | "token" | "caPem">;
type Obj = Record<string, any>;

/** Where each kind the golden cases use lives in the API (namespaced unless marked). */
const COLLECTIONS: Record<string, { group: string; plural: string; cluster?: boolean }> = {
  Namespace: { group: "/api/v1", plural: "namespaces", cluster: true },
  Node: { group: "/api/v1", plural: "nodes", cluster: true },
  Service: { group: "/api/v1", plural: "services" },
  Pod: { group: "/api/v1", plural: "pods" },
  Endpoints: { group: "/api/v1", plural: "endpoints" },
  Secret: { group: "/api/v1", plural: "secrets" },
  ConfigMap: { group: "/api/v1", plural: "configmaps" },
  EndpointSlice: { group: "/apis/discovery.k8s.io/v1", plural: "endpointslices" },
  VirtualService: { group: "/apis/networking.istio.io/v1", plural: "virtualservices" },
  DestinationRule: { group: "/apis/networking.istio.io/v1", plural: "destinationrules" },
  Gateway: { group: "/apis/networking.istio.io/v1", plural: "gateways" },
  ServiceEntry: { group: "/apis/networking.istio.io/v1", plural: "serviceentries" },
  Sidecar: { group: "/apis/networking.istio.io/v1", plural: "sidecars" },
  PeerAuthentication: { group: "/apis/security.istio.io/v1", plural: "peerauthentications" },
  AuthorizationPolicy: { group: "/apis/security.istio.io/v1", plural: "authorizationpolicies" },
};

/** An object the API server would not create, and its answer. */
export interface Refused {
  kind: string;
  namespace?: string;
  name: string;
  reason: string;
}

/** One object put into the cluster (its URL, for deletion). */
export interface Applied {
  kind: string;
  namespace?: string;
  name: string;
  url: string;
}

/** The collection URL of an object: its own apiVersion for API groups (a version the server does not serve is its error to give). */
export function collectionUrl(kind: string, namespace: string | undefined, apiVersion?: string): string {
  const c = COLLECTIONS[kind];
  if (!c) throw new Error(`kind ${kind} has no API path in test/fidelity/kube-apply.ts`);
  const group = apiVersion && apiVersion.includes("/") ? `/apis/${apiVersion}` : c.group;
  return c.cluster ? `${group}/${c.plural}` : `${group}/namespaces/${namespace ?? "default"}/${c.plural}`;
}

/** The manifests' objects in file order (comments and empty documents dropped). */
export function manifestObjects(files: ManifestFile[]): Obj[] {
  const out: Obj[] = [];
  for (const f of files) {
    for (const doc of YAML.parseAllDocuments(f.text)) {
      const o = doc.toJS() as Obj | null;
      if (o && typeof o === "object" && typeof o.kind === "string") out.push(o);
    }
  }
  return out;
}

async function must(cluster: Cluster, method: string, url: string, body: unknown, ok: number[]): Promise<Obj> {
  const res = await kubeRequest(cluster, method, url, body as object);
  if (!ok.includes(res.status)) throw new Error(`${method} ${url}: HTTP ${res.status}: ${res.body.slice(0, 600)}`);
  return res.body ? (JSON.parse(res.body) as Obj) : {};
}

const readyCidrs = new Set<string>();

/** A ServiceCIDR for the /16 of `ip` (marked Ready by hand: no controller-manager runs), unless the server's range has it. */
async function ensureServiceCidr(cluster: Cluster, ip: string): Promise<void> {
  const m = /^(\d+)\.(\d+)\.\d+\.\d+$/.exec(ip);
  if (!m || (m[1] === "10" && m[2] === "96")) return; // 10.96.0.0/16 is the server's --service-cluster-ip-range
  const cidr = `${m[1]}.${m[2]}.0.0/16`;
  if (readyCidrs.has(cidr)) return;
  const name = `fidelity-${m[1]}-${m[2]}`;
  const url = "/apis/networking.k8s.io/v1/servicecidrs";
  await must(cluster, "POST", url, { apiVersion: "networking.k8s.io/v1", kind: "ServiceCIDR", metadata: { name }, spec: { cidrs: [cidr] } }, [201, 409]);
  const current = await must(cluster, "GET", `${url}/${name}`, undefined, [200]);
  current.status = {
    conditions: [{ type: "Ready", status: "True", reason: "Ready", message: "", lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, "Z") }],
  };
  await must(cluster, "PUT", `${url}/${name}/status`, current, [200]);
  readyCidrs.add(cidr);
}

async function ensureNamespace(cluster: Cluster, ns: string, labels?: Record<string, string>): Promise<void> {
  const res = await kubeRequest(cluster, "POST", "/api/v1/namespaces", { metadata: { name: ns, ...(labels ? { labels } : {}) } });
  if (res.status !== 201 && res.status !== 409) throw new Error(`creating namespace ${ns}: HTTP ${res.status}: ${res.body}`);
}

/**
 * Create every object (namespaces first, Pods' status after), recording each
 * in `applied` as it goes (so a failure half-way still cleans up). An object
 * the API server refuses (4xx: an apiVersion it does not serve, an invalid
 * object) never reaches istiod, as with `kubectl apply`: it is returned with
 * the server's reason. Namespaces are left in place afterwards (without a
 * controller-manager a deleted namespace stays Terminating); a Namespace
 * object in the case updates labels.
 */
export async function applyObjects(cluster: Cluster, objects: Obj[], applied: Applied[]): Promise<Refused[]> {
  const refused: Refused[] = [];
  const namespaces = new Set<string>(["default"]);
  for (const o of objects) if (o.kind !== "Namespace" && o.kind !== "Node" && o.metadata?.namespace) namespaces.add(String(o.metadata.namespace));
  for (const o of objects) if (o.kind === "Namespace") namespaces.delete(String(o.metadata.name));
  for (const ns of namespaces) await ensureNamespace(cluster, ns);

  // The API server sets creationTimestamp itself (to the second). Cases that order objects by it (the oldest
  // VirtualService wins a conflict) get them created oldest first, a second apart when the stamps differ.
  const stamp = (o: Obj): string => String(o.metadata?.creationTimestamp ?? "");
  const ordered = objects.map((o, i) => ({ o, i })).sort((a, b) => (stamp(a.o) < stamp(b.o) ? -1 : stamp(a.o) > stamp(b.o) ? 1 : a.i - b.i));
  let lastStamp = "";
  for (const { o: original } of ordered) {
    if (stamp(original) !== "" && lastStamp !== "" && stamp(original) !== lastStamp) await new Promise((r) => setTimeout(r, 1_100));
    if (stamp(original) !== "") lastStamp = stamp(original);
    const o = structuredClone(original);
    const kind = String(o.kind);
    const ns = COLLECTIONS[kind]?.cluster ? undefined : String(o.metadata?.namespace ?? "default");
    const base = collectionUrl(kind, ns, kind === "Namespace" ? undefined : String(o.apiVersion ?? ""));
    const name = String(o.metadata?.name ?? "");
    if (kind === "Namespace") {
      // Update in place: labels such as istio-injection are what matters.
      await ensureNamespace(cluster, name);
      const cur = await must(cluster, "GET", `${base}/${name}`, undefined, [200]);
      cur.metadata.labels = { ...(cur.metadata.labels ?? {}), ...(o.metadata.labels ?? {}) };
      await must(cluster, "PUT", `${base}/${name}`, cur, [200]);
      continue;
    }
    if (ns) o.metadata.namespace = ns;
    const status = o.status;
    delete o.status;
    if (o.metadata) delete o.metadata.creationTimestamp;
    if (kind === "Pod") {
      o.spec ??= {};
      if (!Array.isArray(o.spec.containers) || o.spec.containers.length === 0) o.spec.containers = [{ name: "app", image: "example/app:1" }];
      for (const c of o.spec.containers) c.image ??= "example/app:1";
      // What the ServiceAccount admission plugin (off in the test server: no controller makes the account) fills in.
      o.spec.serviceAccountName ??= "default";
    }
    if (kind === "EndpointSlice") {
      // The EndpointSlice controller always names the Pod's namespace; istiod skips an endpoint whose Pod it cannot find.
      for (const e of o.endpoints ?? []) if (e.targetRef && e.targetRef.kind === "Pod" && !e.targetRef.namespace) e.targetRef.namespace = ns;
    }
    if (kind === "Service") {
      for (const ip of [o.spec?.clusterIP, ...(o.spec?.clusterIPs ?? [])]) if (typeof ip === "string") await ensureServiceCidr(cluster, ip);
    }
    if (
      kind === "Secret" &&
      o.type === "kubernetes.io/tls" &&
      !(o.data?.["tls.crt"] && o.data?.["tls.key"]) &&
      !(o.stringData?.["tls.crt"] && o.stringData?.["tls.key"])
    ) {
      // The API server insists on both keys for this type; istiod and mini-pilot read the keys, not the type.
      o.type = "Opaque";
    }
    const res = await kubeRequest(cluster, "POST", base, o);
    if (res.status >= 400 && res.status < 500 && res.status !== 409) {
      let reason = res.body.trim();
      try {
        reason = (JSON.parse(res.body) as { message?: string }).message ?? reason;
      } catch {
        // not a Status object (e.g. "404 page not found" for a version no CRD serves)
      }
      refused.push({ kind, namespace: ns, name, reason: `${String(o.apiVersion)}: HTTP ${res.status}: ${reason}` });
      continue;
    }
    if (res.status !== 201) throw new Error(`POST ${base}: HTTP ${res.status}: ${res.body.slice(0, 600)}`);
    const created = JSON.parse(res.body) as Obj;
    applied.push({ kind, namespace: ns, name, url: `${base}/${name}` });
    if (kind === "Pod" && status) {
      created.status = { ...status };
      if (status.podIP && !status.podIPs) created.status.podIPs = [{ ip: status.podIP }];
      await must(cluster, "PUT", `${base}/${name}/status`, created, [200]);
    }
  }
  return refused;
}

/** Delete what applyObjects created, Pods without a grace period (no kubelet would ever confirm). */
export async function deleteApplied(cluster: Cluster, applied: Applied[]): Promise<void> {
  for (const a of [...applied].reverse()) {
    const url = a.kind === "Pod" ? `${a.url}?gracePeriodSeconds=0` : a.url;
    await must(cluster, "DELETE", url, undefined, [200, 202, 404]);
  }
}
