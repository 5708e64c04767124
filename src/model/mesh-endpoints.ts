/**
 * Endpoints of every service, per service port: from EndpointSlices
 * (preferred) or Endpoints for Kubernetes services, from the entry itself (or
 * selected Pods) for ServiceEntries. Each endpoint carries its pod's labels
 * (for subsets) and its locality.
 */
import type { EndpointSlice, Endpoints, Node, Pod, ServiceEntry } from "./types";
import type { Locality, MeshEndpoint, MeshOptions, MeshPort, MeshService } from "./mesh-types";
import { NO_LOCALITY, localityFromLabel, localityFromNodeLabels, splitLocality } from "./locality";
import { cmp, labelsMatch } from "./mesh-hosts";
import { spiffeId } from "./mesh-identity";
import { Steps, YIELD_EVERY, runSteps } from "./steps";
import { istioWorkloadValue } from "./workload-meta";

export interface EndpointInputs {
  slices: EndpointSlice[];
  endpoints: Endpoints[];
  pods: Pod[];
  nodes: Node[];
  entries: ServiceEntry[];
}

/** Lookups shared by every service's endpoint build. */
interface Index {
  slicesBySvc: Map<string, EndpointSlice[]>;
  endpointsBySvc: Map<string, Endpoints>;
  podsByName: Map<string, Pod>;
  podsByIp: Map<string, Pod>;
  nodes: Map<string, Node>;
  entries: Map<string, ServiceEntry>;
  options: MeshOptions;
}

export type EndpointTable = Map<string, Map<number, MeshEndpoint[]>>;

export function buildEndpoints(services: MeshService[], inputs: EndpointInputs, options: MeshOptions): EndpointTable {
  return runSteps(buildEndpointsSteps(services, inputs, options));
}

/** buildEndpoints with a yield every few hundred services (see ./steps). */
export function* buildEndpointsSteps(services: MeshService[], inputs: EndpointInputs, options: MeshOptions): Steps<EndpointTable> {
  const ix = index(inputs, options);
  yield;
  const table: EndpointTable = new Map();
  for (let i = 0; i < services.length; i++) {
    const svc = services[i]!;
    if (i % YIELD_EVERY === YIELD_EVERY - 1) yield;
    const byPort = new Map<number, MeshEndpoint[]>();
    for (const port of svc.ports) {
      const eps = endpointsFor(svc, port, ix);
      byPort.set(port.port, dedupeAndSort(eps));
    }
    table.set(svc.host, byPort);
  }
  return table;
}

function index(inputs: EndpointInputs, options: MeshOptions): Index {
  const slicesBySvc = new Map<string, EndpointSlice[]>();
  for (const s of inputs.slices) {
    const k = `${s.metadata.namespace}/${s.spec.serviceName}`;
    slicesBySvc.set(k, [...(slicesBySvc.get(k) ?? []), s]);
  }
  for (const list of slicesBySvc.values()) list.sort((a, b) => cmp(a.metadata.name, b.metadata.name));
  const podsByIp = new Map<string, Pod>();
  for (const p of inputs.pods) for (const ip of podIps(p)) podsByIp.set(`${p.metadata.namespace}/${ip}`, p);
  return {
    slicesBySvc,
    endpointsBySvc: new Map(inputs.endpoints.map((e) => [`${e.metadata.namespace}/${e.metadata.name}`, e])),
    podsByName: new Map(inputs.pods.map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p])),
    podsByIp,
    nodes: new Map(inputs.nodes.map((n) => [n.metadata.name, n])),
    entries: new Map(inputs.entries.map((e) => [`${e.metadata.namespace}/${e.metadata.name}`, e])),
    options,
  };
}

function endpointsFor(svc: MeshService, port: MeshPort, ix: Index): MeshEndpoint[] {
  if (svc.source === "serviceentry") return entryEndpoints(svc, port, ix);
  if (svc.externalName) return [plainEndpoint(svc.externalName, port.port)];
  const key = `${svc.namespace}/${svc.name}`;
  const slices = ix.slicesBySvc.get(key);
  if (slices && slices.length > 0) return slices.flatMap((s) => sliceEndpoints(s, port, ix));
  const eps = ix.endpointsBySvc.get(key);
  return eps ? legacyEndpoints(eps, port, ix) : [];
}

/** Service port and endpoint port are paired by name (both unnamed counts as a match). */
function portNameMatches(servicePortName: string, endpointPortName: string | undefined): boolean {
  return servicePortName === (endpointPortName ?? "");
}

function sliceEndpoints(slice: EndpointSlice, port: MeshPort, ix: Index): MeshEndpoint[] {
  if (slice.spec.addressType === "FQDN") return [];
  const sp = (slice.spec.ports ?? []).find((p) => portNameMatches(port.name, p.name));
  if (!sp) return [];
  const out: MeshEndpoint[] = [];
  for (const e of slice.spec.endpoints) {
    const health = sliceEndpointHealth(e.conditions ?? {});
    if (health === "TERMINATING") continue; // istiod never sends these, not even as UNHEALTHY
    const ready = health === "HEALTHY";
    if (!ready && !ix.options.includeNotReadyEndpoints) continue;
    const ns = e.targetRef?.namespace ?? slice.metadata.namespace;
    for (const address of e.addresses) {
      const pod = findPod(ix, ns, e.targetRef, address);
      // istiod's getPod: an endpoint naming a Pod it has not seen yet waits for that Pod (its labels, identity, TLS mode).
      if (!pod && (e.targetRef?.kind ?? "") === "Pod") continue;
      out.push(podEndpoint(address, sp.port, pod, e.nodeName, ready, ix));
    }
  }
  return out;
}

/**
 * istiod's endpointHealthStatus (kube/controller/endpointslice.go): ready
 * (or unset) is HEALTHY whatever else is set; a not-ready endpoint is
 * TERMINATING unless `terminating` is explicitly false (a pod starting up,
 * which Kubernetes always marks so), and only then UNHEALTHY. TERMINATING
 * endpoints are left out so a rollout's old pods do not count as unhealthy
 * hosts; UNHEALTHY ones are sent and get no traffic (panic mode is off).
 */
export function sliceEndpointHealth(c: NonNullable<EndpointSlice["spec"]["endpoints"][number]["conditions"]>): "HEALTHY" | "UNHEALTHY" | "TERMINATING" {
  if (c.ready !== false) return "HEALTHY";
  if (c.terminating !== false) return "TERMINATING";
  return "UNHEALTHY";
}

function legacyEndpoints(eps: Endpoints, port: MeshPort, ix: Index): MeshEndpoint[] {
  const out: MeshEndpoint[] = [];
  for (const subset of eps.spec.subsets ?? []) {
    const ep = (subset.ports ?? []).find((p) => portNameMatches(port.name, p.name));
    if (!ep) continue;
    const groups: [typeof subset.addresses, boolean][] = [
      [subset.addresses, true],
      [ix.options.includeNotReadyEndpoints ? subset.notReadyAddresses : [], false],
    ];
    for (const [addresses, ready] of groups) {
      for (const a of addresses ?? []) {
        const pod = findPod(ix, a.targetRef?.namespace ?? eps.metadata.namespace, a.targetRef, a.ip);
        out.push(podEndpoint(a.ip, ep.port, pod, a.nodeName, ready, ix));
      }
    }
  }
  return out;
}

function findPod(ix: Index, namespace: string, ref: { kind?: string; name?: string } | undefined, ip: string): Pod | undefined {
  if (ref?.name && (ref.kind ?? "Pod") === "Pod") {
    const byName = ix.podsByName.get(`${namespace}/${ref.name}`);
    if (byName) return byName;
  }
  // YAML mode often has no targetRef: fall back to the Pod with this IP.
  return ix.podsByIp.get(`${namespace}/${ip}`);
}

function podEndpoint(address: string, port: number, pod: Pod | undefined, nodeName: string | undefined, ready: boolean, ix: Index): MeshEndpoint {
  const labels = { ...(pod?.metadata.labels ?? {}) };
  const node = pod?.spec.nodeName || nodeName;
  const ep: MeshEndpoint = {
    address,
    port,
    labels,
    locality: localityOf(labels, node, ix),
    health: ready ? "HEALTHY" : "UNHEALTHY",
    weight: 1,
  };
  // Without a pod istiod knows neither workload nor namespace: ";;;;Kubernetes".
  ep.istioWorkload = pod ? istioWorkloadValue(pod.spec.workloadName ?? pod.metadata.name, pod.metadata.namespace, labels) : istioWorkloadValue("", "", {});
  if (node) ep.nodeName = node;
  if (pod) {
    ep.workload = `${pod.metadata.name}.${pod.metadata.namespace}`;
    // Kubernetes gives a pod without serviceAccountName the "default" account.
    ep.identity = spiffeId(ix.options.trustDomain, pod.metadata.namespace, pod.spec.serviceAccountName || "default");
  }
  return ep;
}

/**
 * As istiod's getPodLocality: the pod's locality label, else its Node's
 * topology labels. Not the EndpointSlice's zone hint: istiod never reads it,
 * and a Node it does not know gives no locality.
 */
function localityOf(labels: Record<string, string>, nodeName: string | undefined, ix: Index): Locality {
  const fromLabel = localityFromLabel(labels);
  if (fromLabel) return fromLabel;
  const node = nodeName ? ix.nodes.get(nodeName) : undefined;
  return localityFromNodeLabels(node?.metadata.labels ?? {}) ?? NO_LOCALITY;
}

function entryEndpoints(svc: MeshService, port: MeshPort, ix: Index): MeshEndpoint[] {
  if (svc.resolution === "ORIGINAL_DST") return [];
  const se = ix.entries.get(`${svc.namespace}/${svc.name}`);
  if (!se) return [];
  const target = port.targetPort ?? port.port;
  if (se.spec.workloadSelector?.labels) return selectedPodEndpoints(svc.namespace, se.spec.workloadSelector.labels, target, ix);
  const declared = se.spec.endpoints ?? [];
  if (declared.length === 0) {
    // DNS entries without endpoints resolve the host itself (never a wildcard).
    const dns = svc.resolution === "STRICT_DNS" || svc.resolution === "LOGICAL_DNS";
    if (!dns || svc.host.startsWith("*")) return [];
    // The host's own endpoint belongs to a workload named after the entry.
    return [{ ...plainEndpoint(svc.host, target), istioWorkload: istioWorkloadValue(se.metadata.name, svc.namespace, {}) }];
  }
  const out: MeshEndpoint[] = [];
  declared.forEach((e, i) => {
    if (!e.address || e.address.startsWith("unix://")) return;
    const labels = { ...(e.labels ?? {}) };
    const ep: MeshEndpoint = {
      address: e.address,
      port: e.ports?.[port.name] ?? target,
      labels,
      // ServiceEntry localities are "region/zone/subzone" as written (istiod does not read dots as separators here).
      locality: e.locality ? splitLocality(e.locality) : NO_LOCALITY,
      health: "HEALTHY" as const,
      weight: e.weight && e.weight > 0 ? e.weight : 1,
      // istiod names an inline endpoint's workload "<entry>-<index>".
      istioWorkload: istioWorkloadValue(`${se.metadata.name}-${i}`, svc.namespace, labels),
    };
    if (e.serviceAccount) ep.identity = spiffeId(ix.options.trustDomain, svc.namespace, e.serviceAccount);
    out.push(ep);
  });
  return out;
}

function selectedPodEndpoints(namespace: string, selector: Record<string, string>, port: number, ix: Index): MeshEndpoint[] {
  const out: MeshEndpoint[] = [];
  for (const pod of ix.podsByName.values()) {
    if (pod.metadata.namespace !== namespace || !labelsMatch(selector, pod.metadata.labels ?? {})) continue;
    if (pod.spec.ready === false || (pod.spec.phase && pod.spec.phase !== "Running")) continue;
    for (const ip of podIps(pod).slice(0, 1)) out.push(podEndpoint(ip, port, pod, pod.spec.nodeName, true, ix));
  }
  return out;
}

function plainEndpoint(address: string, port: number): MeshEndpoint {
  return { address, port, labels: {}, locality: NO_LOCALITY, health: "HEALTHY", weight: 1 };
}

function podIps(p: Pod): string[] {
  return [...new Set([...(p.spec.podIP ? [p.spec.podIP] : []), ...(p.spec.podIPs ?? [])])];
}

/** The same address:port may appear in several slices; keep the first, sort by address then port. */
function dedupeAndSort(eps: MeshEndpoint[]): MeshEndpoint[] {
  const seen = new Map<string, MeshEndpoint>();
  for (const e of eps) {
    const k = `${e.address}|${e.port}`;
    const prev = seen.get(k);
    // A ready copy beats a not-ready one (slices can disagree while updating).
    if (!prev || (prev.health === "UNHEALTHY" && e.health === "HEALTHY")) seen.set(k, e);
  }
  return [...seen.values()].sort((a, b) => cmp(a.address, b.address) || a.port - b.port);
}

/**
 * A named targetPort ("http-web") resolves to a number through the endpoints
 * (their port is the pod's port) or, failing that, the selected pods' containers.
 */
export function resolveTargetPorts(services: MeshService[], table: EndpointTable, pods: Pod[], raw: Map<string, Map<number, string>>): void {
  for (const svc of services) {
    const names = raw.get(svc.host);
    if (!names) continue;
    for (const port of svc.ports) {
      const name = names.get(port.port);
      if (port.targetPort !== undefined || !name) continue;
      const fromEps = table.get(svc.host)?.get(port.port)?.[0]?.port;
      const fromPods = fromEps ?? containerPort(pods, svc, name);
      if (fromPods !== undefined) port.targetPort = fromPods;
    }
  }
}

function containerPort(pods: Pod[], svc: MeshService, name: string): number | undefined {
  const sorted = pods
    .filter((p) => p.metadata.namespace === svc.namespace && svc.selector && labelsMatch(svc.selector, p.metadata.labels ?? {}))
    .sort((a, b) => cmp(a.metadata.name, b.metadata.name));
  for (const p of sorted) {
    for (const c of p.spec.containers ?? []) {
      const hit = (c.ports ?? []).find((cp) => cp.name === name);
      if (hit) return hit.containerPort;
    }
  }
  return undefined;
}
