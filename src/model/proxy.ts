/**
 * Proxy identity: what a connecting Envoy (or gRPC client) tells us about
 * itself in its node id and metadata, narrowed to the few facts generation
 * depends on. Generators see this view, never the raw node.
 */

import type { Locality, Mesh } from "./mesh-types";
import type { Pod } from "./types";
import { NO_LOCALITY, TOPOLOGY_REGION, TOPOLOGY_SUBZONE, TOPOLOGY_ZONE, localityFromLabel, localityFromNodeLabels } from "./locality";

export type ProxyKind = "sidecar" | "router";

export interface ProxyView {
  kind: ProxyKind;
  /** The full node id as sent. */
  id: string;
  /** The proxy's primary IP (from the node id). */
  ip: string;
  podName: string;
  namespace: string;
  labels: Record<string, string>;
  /** "grpc" for proxyless gRPC clients (metadata GENERATOR). */
  generator?: "grpc";
  /** `<namespace>.svc.cluster.local`-style DNS domain, from the node id. */
  dnsDomain: string;
  istioVersion?: string;
  clusterId?: string;
  /** Metadata MESH_ID (tracing tags). */
  meshId?: string;
  /** INSTANCE_IPS, else the node id's IP. */
  instanceIps: string[];
  /**
   * Its agent serves it a workload certificate over SDS (`default`/`ROOTCA` on
   * the bootstrap's `sds-grpc` cluster): node metadata `SDS: "true"`, which
   * `mini-pilot bootstrap`/`agent` write with `--sds-socket` (the key Istio's
   * agent sent while SDS was optional). Only such a proxy is given auto-mTLS
   * and PERMISSIVE mTLS chains (model/mesh-mtls.ts).
   */
  sds?: boolean;
  /**
   * Where it runs, as istiod decides (setTopologyLabels): the topology labels
   * in its metadata LABELS, else its `topology.istio.io/locality` /
   * `istio-locality` label, else the Envoy node's locality. Empty parts when
   * unknown. Locality load balancing orders endpoints relative to it.
   */
  locality: Locality;
}

/** The locality Envoy sends in its node (region, zone, sub_zone). */
export interface NodeLocality {
  region?: string;
  zone?: string;
  sub_zone?: string;
}

export type ParseProxyResult = { ok: true; proxy: ProxyView } | { ok: false; error: string };

const KINDS: readonly ProxyKind[] = ["sidecar", "router"];
const NODE_ID_FORM = "<type>~<ip>~<pod>.<namespace>~<namespace>.svc.cluster.local";

/**
 * Parse a node id `<type>~<ip>~<pod>.<namespace>~<domain>` plus node metadata.
 * The namespace comes from metadata NAMESPACE when present (what pilot-agent
 * sends), else from the pod part of the id.
 */
export function parseProxy(nodeId: string, metadata: Record<string, unknown>, nodeLocality?: NodeLocality): ParseProxyResult {
  const parts = nodeId.split("~");
  if (parts.length !== 4) {
    return fail(`node id "${nodeId}" has ${parts.length} "~"-separated parts; want 4: ${NODE_ID_FORM}`);
  }
  const [type, ip, podPart, domain] = parts as [string, string, string, string];
  if (!(KINDS as readonly string[]).includes(type)) {
    return fail(`node id "${nodeId}": proxy type "${type}" is not one of ${KINDS.join(", ")}`);
  }
  if (ip === "") return fail(`node id "${nodeId}": the IP part is empty`);
  const dot = podPart.indexOf(".");
  const podName = dot > 0 ? podPart.slice(0, dot) : podPart;
  const idNamespace = dot > 0 ? podPart.slice(dot + 1) : "";
  if (podName === "") return fail(`node id "${nodeId}": the pod part is empty; want <pod>.<namespace>`);

  const metaNamespace = typeof metadata.NAMESPACE === "string" ? metadata.NAMESPACE : "";
  const namespace = metaNamespace || idNamespace;
  if (namespace === "") {
    return fail(`node id "${nodeId}": no namespace (neither "<pod>.<namespace>" in the id nor metadata NAMESPACE)`);
  }
  const labels = parseLabelsMeta(metadata.LABELS);
  if (!labels.ok) return fail(`node "${nodeId}": metadata LABELS ${labels.error}`);

  const generator = metadata.GENERATOR;
  if (generator !== undefined && generator !== "grpc" && generator !== "") {
    return fail(`node "${nodeId}": metadata GENERATOR "${String(generator)}" is not supported (only "grpc")`);
  }
  const proxy: ProxyView = {
    kind: type as ProxyKind,
    id: nodeId,
    ip,
    podName,
    namespace,
    labels: labels.value,
    dnsDomain: domain || `${namespace}.svc.cluster.local`,
    instanceIps: parseInstanceIps(metadata.INSTANCE_IPS, ip),
    locality: proxyLocality(labels.value, nodeLocality),
  };
  if (generator === "grpc") proxy.generator = "grpc";
  if (typeof metadata.ISTIO_VERSION === "string") proxy.istioVersion = metadata.ISTIO_VERSION;
  if (typeof metadata.CLUSTER_ID === "string") proxy.clusterId = metadata.CLUSTER_ID;
  if (metadata.SDS === true || metadata.SDS === "true" || metadata.SDS === "1") proxy.sds = true;
  if (typeof metadata.MESH_ID === "string") proxy.meshId = metadata.MESH_ID;
  return { ok: true, proxy };
}

function proxyLocality(labels: Record<string, string>, node: NodeLocality | undefined): Locality {
  const has = (k: string) => Object.prototype.hasOwnProperty.call(labels, k);
  if (has(TOPOLOGY_REGION) || has(TOPOLOGY_ZONE) || has(TOPOLOGY_SUBZONE)) {
    return { region: labels[TOPOLOGY_REGION] ?? "", zone: labels[TOPOLOGY_ZONE] ?? "", subzone: labels[TOPOLOGY_SUBZONE] ?? "" };
  }
  const fromLabel = localityFromLabel(labels);
  if (fromLabel) return fromLabel;
  if (!node) return NO_LOCALITY;
  return { region: node.region ?? "", zone: node.zone ?? "", subzone: node.sub_zone ?? "" };
}

/**
 * The proxy with the locality istiod would give it on Kubernetes: when its pod
 * (the node id's `<pod>.<namespace>`) is in the mesh, the pod's locality
 * label, else its Node's topology labels, win over what the proxy says about
 * itself (istiod reads the proxy's labels from the registry first). Unchanged
 * when the pod or its Node is unknown or has no locality. Read once, when the
 * proxy connects.
 */
export function withWorkloadLocality(proxy: ProxyView, mesh: Mesh): ProxyView {
  const pod = podsByName(mesh).get(`${proxy.namespace}/${proxy.podName}`);
  if (!pod) return proxy;
  const node = pod.spec.nodeName ? mesh.nodes.get(pod.spec.nodeName) : undefined;
  const locality = localityFromLabel(pod.metadata.labels ?? {}) ?? localityFromNodeLabels(node?.metadata.labels ?? {});
  return locality ? { ...proxy, locality } : proxy;
}

/** "namespace/name" → Pod, built once per mesh (proxies connect one by one; a mesh may hold many pods). */
const podIndex = new WeakMap<Mesh, Map<string, Pod>>();
function podsByName(mesh: Mesh): Map<string, Pod> {
  let m = podIndex.get(mesh);
  if (!m) podIndex.set(mesh, (m = new Map(mesh.pods.map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p]))));
  return m;
}

function fail(error: string): ParseProxyResult {
  return { ok: false, error };
}

/** LABELS arrives as a map (Struct) from Envoy, or as a JSON string from some agents. */
function parseLabelsMeta(raw: unknown): { ok: true; value: Record<string, string> } | { ok: false; error: string } {
  if (raw === undefined || raw === null || raw === "") return { ok: true, value: {} };
  let obj: unknown = raw;
  if (typeof raw === "string") {
    try {
      obj = JSON.parse(raw);
    } catch {
      return { ok: false, error: "is a string but not JSON" };
    }
  }
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) return { ok: false, error: "must be a map of strings" };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    if (typeof v !== "string") return { ok: false, error: `value of "${k}" must be a string` };
    out[k] = v;
  }
  return { ok: true, value: out };
}

function parseInstanceIps(raw: unknown, fallback: string): string[] {
  if (typeof raw === "string" && raw.trim() !== "") {
    return raw
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "");
  }
  return [fallback];
}

/**
 * Two proxies with equal keys get identical config, so they can share one
 * generated snapshot. What sidecar/router output depends on:
 * - kind (sidecar vs router pipelines) and generator (Envoy vs proxyless gRPC);
 * - namespace: visibility (exportTo), DestinationRule lookup, short vhost
 *   domains, sourceNamespace matches;
 * - labels: inbound listeners/clusters (services whose selector matches),
 *   sourceLabels matches, gateway selection, DR workloadSelector;
 * - dnsDomain: vhost short names are computed against it;
 * - sds: whether it holds a workload certificate (mutual TLS);
 * - locality: endpoint priorities and weights (locality load balancing).
 * Not the IP or pod name: inbound clusters are ORIGINAL_DST (no own address in
 * the config), and labels come from metadata, not from a Pod lookup.
 */
export function proxyViewKey(proxy: ProxyView): string {
  const labels = Object.keys(proxy.labels)
    .sort()
    .map((k) => [k, proxy.labels[k]]);
  const l = proxy.locality;
  return JSON.stringify([proxy.kind, proxy.generator ?? "", proxy.namespace, proxy.dnsDomain, labels, proxy.sds === true, [l.region, l.zone, l.subzone]]);
}
