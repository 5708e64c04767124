/**
 * The mesh the API-server benchmark (kube-bench.ts) puts into a test
 * kube-apiserver, and the changes it makes there: Services with Pods and an
 * EndpointSlice each, a DestinationRule (v1/v2 subsets) and a weighted
 * VirtualService for the first `routes` services. mini-pilot and istiod read
 * these same objects; the fleet's clients are the Pods (sidecars of the
 * services), so every client's pod exists in the API server as istiod expects.
 *
 * A change is recognised at the clients by bytes it alone produces in the xDS
 * response (the fleet's literal markers, bench/fleet/client.ts):
 *  - endpoint: a new Pod IP in an EndpointSlice, found as the encoded
 *    SocketAddress.address field (tag 0x12, length, IP), so 10.200.0.1 never
 *    matches 10.200.0.10;
 *  - route: a new weight in a VirtualService, found as the encoded
 *    ClusterWeight {name(1) = the v1 subset cluster, weight(2) = {value(1) = w}}.
 */
import type { ClientSpec } from "./fleet/protocol";

export interface KubeMeshShape {
  services: number;
  /** Pods (endpoints) per service. */
  endpoints: number;
  /** Services with a DestinationRule and a weighted VirtualService. */
  routes: number;
  namespaces: number;
}

type Obj = Record<string, unknown>;

export const PORT = 8080;
/** The Istio version the fleet claims (ISTIO_VERSION metadata, as pilot-agent sends it). */
export const FLEET_ISTIO_VERSION = "1.28.0";

export const nsOf = (svc: number, shape: KubeMeshShape) => `bench-${svc % shape.namespaces}`;
export const svcName = (svc: number) => `svc-${svc}`;
export const hostOf = (svc: number, shape: KubeMeshShape) => `${svcName(svc)}.${nsOf(svc, shape)}.svc.cluster.local`;

/** Pod IPs: 10.200.0.0/16 upward, one per (service, replica); extra pods (scale-ups) from 10.220.0.0 on. */
export function podIp(index: number, base = 200): string {
  const i = index + 1;
  return `10.${base + (i >> 16)}.${(i >> 8) & 0xff}.${i & 0xff}`;
}

export interface PodInfo {
  svc: number;
  replica: number;
  name: string;
  namespace: string;
  ip: string;
  version: "v1" | "v2";
}

export function pods(shape: KubeMeshShape): PodInfo[] {
  const out: PodInfo[] = [];
  // Replica-major order: the first N pods (the fleet) spread over all services.
  for (let r = 0; r < shape.endpoints; r++) for (let s = 0; s < shape.services; s++) out.push(podInfo(s, r, shape, podIp(r * shape.services + s)));
  return out;
}

export function podInfo(svc: number, replica: number, shape: KubeMeshShape, ip: string): PodInfo {
  return { svc, replica, name: `${svcName(svc)}-${replica}`, namespace: nsOf(svc, shape), ip, version: replica % 2 === 0 ? "v1" : "v2" };
}

const labels = (p: PodInfo) => ({ app: svcName(p.svc), version: p.version, "security.istio.io/tlsMode": "istio" });

export function podObject(p: PodInfo): Obj {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: p.name, namespace: p.namespace, labels: labels(p) },
    spec: { serviceAccountName: "default", containers: [{ name: "app", image: "example/app:1", ports: [{ containerPort: PORT }] }] },
  };
}

/** What a kubelet would report for a running, ready pod (written through the status subresource). */
export function podStatus(p: PodInfo): Obj {
  const t = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  return {
    phase: "Running",
    podIP: p.ip,
    podIPs: [{ ip: p.ip }],
    hostIP: "10.0.0.1",
    conditions: [{ type: "Ready", status: "True", lastTransitionTime: t }],
  };
}

export function serviceObject(svc: number, shape: KubeMeshShape): Obj {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: svcName(svc), namespace: nsOf(svc, shape), labels: { app: svcName(svc) } },
    spec: { selector: { app: svcName(svc) }, ports: [{ name: "http", port: PORT, targetPort: PORT, protocol: "TCP" }] },
  };
}

export function endpointSliceObject(svc: number, shape: KubeMeshShape, members: PodInfo[]): Obj {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: `${svcName(svc)}-bench`, namespace: nsOf(svc, shape), labels: { "kubernetes.io/service-name": svcName(svc) } },
    addressType: "IPv4",
    ports: [{ name: "http", port: PORT, protocol: "TCP" }],
    endpoints: members.map((p) => ({
      addresses: [p.ip],
      conditions: { ready: true, serving: true, terminating: false },
      targetRef: { kind: "Pod", name: p.name, namespace: p.namespace },
    })),
  };
}

export function destinationRuleObject(svc: number, shape: KubeMeshShape): Obj {
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "DestinationRule",
    metadata: { name: svcName(svc), namespace: nsOf(svc, shape) },
    spec: {
      host: hostOf(svc, shape),
      subsets: [
        { name: "v1", labels: { version: "v1" } },
        { name: "v2", labels: { version: "v2" } },
      ],
    },
  };
}

export function virtualServiceObject(svc: number, shape: KubeMeshShape, v1Weight: number): Obj {
  const host = hostOf(svc, shape);
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: svcName(svc), namespace: nsOf(svc, shape) },
    spec: {
      hosts: [host],
      http: [
        {
          route: [
            { destination: { host, subset: "v1", port: { number: PORT } }, weight: v1Weight },
            { destination: { host, subset: "v2", port: { number: PORT } }, weight: 100 - v1Weight },
          ],
        },
      ],
    },
  };
}

/** The fleet: one sidecar per pod, node id and metadata as pilot-agent sends them. */
export function clientSpecs(fleet: PodInfo[]): ClientSpec[] {
  return fleet.map((p) => ({
    nodeId: `sidecar~${p.ip}~${p.name}.${p.namespace}~${p.namespace}.svc.cluster.local`,
    cluster: `${svcName(p.svc)}.${p.namespace}`,
    metadata: {
      NAMESPACE: p.namespace,
      NAME: p.name,
      WORKLOAD_NAME: svcName(p.svc),
      OWNER: `kubernetes://apis/apps/v1/namespaces/${p.namespace}/deployments/${svcName(p.svc)}`,
      LABELS: { ...labels(p), "service.istio.io/canonical-name": svcName(p.svc), "service.istio.io/canonical-revision": p.version },
      ISTIO_VERSION: FLEET_ISTIO_VERSION,
      CLUSTER_ID: "Kubernetes",
      MESH_ID: "cluster.local",
      INTERCEPTION_MODE: "REDIRECT",
      INSTANCE_IPS: p.ip,
      SERVICE_ACCOUNT: "default",
      POD_PORTS: JSON.stringify([{ containerPort: PORT, protocol: "TCP" }]),
      APP_CONTAINERS: "app",
      ENVOY_STATUS_PORT: 15021,
      ENVOY_PROMETHEUS_PORT: 15090,
    },
  }));
}

/** Bytes 0..127 as a string the fleet turns back into the same bytes (utf8 of ASCII). */
function ascii(bytes: number[]): string {
  for (const b of bytes) if (b > 0x7f) throw new Error(`marker byte ${b} is not ASCII`);
  return String.fromCharCode(...bytes);
}

/** SocketAddress.address (field 2) = ip, as encoded. */
export function addressMarker(ip: string): string {
  return ascii([0x12, ip.length, ...Buffer.from(ip, "latin1")]);
}

/** ClusterWeight { name(1) = cluster, weight(2) = UInt32Value { value(1) = w } }, as encoded (w < 128). */
export function clusterWeightMarker(cluster: string, w: number): string {
  if (cluster.length > 127 || w > 127) throw new Error("marker too long");
  return ascii([0x0a, cluster.length, ...Buffer.from(cluster, "latin1"), 0x12, 0x02, 0x08, w]);
}

export const subsetCluster = (svc: number, shape: KubeMeshShape, subset: string) => `outbound|${PORT}|${subset}|${hostOf(svc, shape)}`;
