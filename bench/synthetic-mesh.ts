/**
 * The synthetic mesh the translation benchmarks build in memory, as validated
 * objects: services over namespaces (ports 80/8080/9080 HTTP, 9090 gRPC, 3306
 * TCP, one per service in turn), 10 pods each (versions v1/v2) behind one
 * EndpointSlice, VirtualServices (header match + 90/10 split, the first 100
 * also bound to an ingress gateway) and DestinationRules (subsets v1/v2, a
 * traffic policy) on the HTTP-family services; and the distinct proxy views
 * that read it.
 */
import { parseProxy, proxyViewKey, ProxyView } from "../src/model/proxy";
import type { DestinationRule, EndpointSlice, Gateway, MeshObject, Pod, Service, VirtualService } from "../src/model/types";

export interface Shape {
  services: number;
  namespaces: number;
  podsPerService: number;
  virtualServices: number;
  destinationRules: number;
  sidecarViews: number;
  runs: number;
}

export const PORTS: { name: string; port: number }[] = [
  { name: "http", port: 80 },
  { name: "http-api", port: 8080 },
  { name: "http-web", port: 9080 },
  { name: "grpc", port: 9090 },
  { name: "tcp-db", port: 3306 },
];

export const meta = (name: string, namespace: string, extra: Record<string, unknown> = {}) => ({ name, namespace, ...extra });
export const ns = (shape: Shape, i: number) => `ns-${String(i % shape.namespaces).padStart(2, "0")}`;
export const svcName = (i: number) => `svc-${i}`;
export const host = (shape: Shape, i: number) => `${svcName(i)}.${ns(shape, i)}.svc.cluster.local`;
export const portOf = (i: number) => PORTS[i % PORTS.length]!;
/** Service VIPs in 10.96/16; pod IPs from a 20-bit counter in 10.128/10, all distinct. */
export const vip = (i: number) => `10.96.${(i >> 8) & 255}.${i & 255}`;
export const podIp = (n: number) => `10.${128 + ((n >> 16) & 63)}.${(n >> 8) & 255}.${n & 255}`;

/** Indices of the services with an HTTP-family port (VirtualServices and rules go there). */
export function routed(shape: Shape): number[] {
  const out: number[] = [];
  for (let i = 0; out.length < Math.max(shape.virtualServices, shape.destinationRules) && i < shape.services; i++) if (portOf(i).port !== 3306) out.push(i);
  return out;
}

export function objects(shape: Shape, extraPods = new Set<number>()): MeshObject[] {
  const out: MeshObject[] = [];
  for (let i = 0; i < shape.services; i++) {
    const n = ns(shape, i);
    const p = portOf(i);
    out.push({
      kind: "Service",
      apiVersion: "v1",
      metadata: meta(svcName(i), n),
      spec: { clusterIP: vip(i), selector: { app: svcName(i) }, ports: [{ name: p.name, port: p.port, targetPort: 8000 }] },
    } as Service);
    const pods = shape.podsPerService + (extraPods.has(i) ? 1 : 0);
    const endpoints = [];
    for (let k = 0; k < pods; k++) {
      const pod = `${svcName(i)}-${k}`;
      const addr = podIp(i * 16 + k);
      out.push({
        kind: "Pod",
        apiVersion: "v1",
        metadata: meta(pod, n, { labels: { app: svcName(i), version: k % 2 === 0 ? "v1" : "v2" } }),
        spec: { podIP: addr, phase: "Running", ready: true },
      } as Pod);
      endpoints.push({ addresses: [addr], conditions: { ready: true }, targetRef: { kind: "Pod", name: pod, namespace: n } });
    }
    out.push({
      kind: "EndpointSlice",
      apiVersion: "discovery.k8s.io/v1",
      metadata: meta(`${svcName(i)}-abc`, n),
      spec: { addressType: "IPv4", serviceName: svcName(i), ports: [{ name: p.name, port: 8000 }], endpoints },
    } as EndpointSlice);
  }
  const targets = routed(shape);
  targets.slice(0, shape.destinationRules).forEach((i) => {
    out.push({
      kind: "DestinationRule",
      apiVersion: "networking.istio.io/v1",
      metadata: meta(svcName(i), ns(shape, i)),
      spec: {
        host: svcName(i),
        trafficPolicy: { connectionPool: { http: { http2MaxRequests: 1000 } }, outlierDetection: { consecutive5xxErrors: 5, interval: "10s" } },
        subsets: [
          { name: "v1", labels: { version: "v1" } },
          { name: "v2", labels: { version: "v2" } },
        ],
      },
    } as DestinationRule);
  });
  targets.slice(0, shape.virtualServices).forEach((i, k) => {
    const h = svcName(i);
    out.push({
      kind: "VirtualService",
      apiVersion: "networking.istio.io/v1",
      metadata: meta(h, ns(shape, i)),
      spec: {
        hosts: k < 100 ? [h, `${h}.example.com`] : [h],
        gateways: k < 100 ? ["mesh", "istio-system/ingress"] : undefined,
        http: [
          { name: "canary-user", match: [{ headers: { "end-user": { exact: "jason" } } }], route: [{ destination: { host: h, subset: "v2" } }] },
          {
            name: "split",
            route: [
              { destination: { host: h, subset: "v1" }, weight: 90 },
              { destination: { host: h, subset: "v2" }, weight: 10 },
            ],
            timeout: "5s",
          },
        ],
      },
    } as VirtualService);
  });
  out.push({
    kind: "Gateway",
    apiVersion: "networking.istio.io/v1",
    metadata: meta("ingress", "istio-system"),
    spec: { selector: { istio: "ingressgateway" }, servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*.example.com"] }] },
  } as Gateway);
  return out;
}

export function views(shape: Shape): ProxyView[] {
  const out: ProxyView[] = [];
  const add = (id: string, md: Record<string, unknown>) => {
    const r = parseProxy(id, md);
    if (!r.ok) throw new Error(r.error);
    out.push(r.proxy);
  };
  // Sidecars: each namespace once with the labels of one of its services (its own inbound config).
  for (let v = 0; v < shape.sidecarViews; v++) {
    const i = v; // service v lives in namespace v % namespaces
    add(`sidecar~10.0.${v}.1~${svcName(i)}-0.${ns(shape, i)}~${ns(shape, i)}.svc.cluster.local`, { LABELS: { app: svcName(i), version: "v1" } });
  }
  add("router~10.0.250.1~istio-ingressgateway-0.istio-system~istio-system.svc.cluster.local", { LABELS: { istio: "ingressgateway" } });
  add(`sidecar~10.0.251.1~grpc-client-0.${ns(shape, 0)}~${ns(shape, 0)}.svc.cluster.local`, { GENERATOR: "grpc", LABELS: { app: "grpc-client" } });
  if (new Set(out.map(proxyViewKey)).size !== out.length) throw new Error("views are not distinct");
  return out;
}

/** The VirtualService with its "split" route's two weights set to w and 100 - w (a routing edit the benches and tests make). */
export function withSplitWeight(vs: VirtualService, w: number): VirtualService {
  const http = vs.spec.http!.map((h) =>
    h.name === "split"
      ? {
          ...h,
          route: [
            { ...h.route![0]!, weight: w },
            { ...h.route![1]!, weight: 100 - w },
          ],
        }
      : h,
  );
  return { ...vs, spec: { ...vs.spec, http } } as VirtualService;
}
