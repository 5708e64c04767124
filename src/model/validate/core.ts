/**
 * Kubernetes kinds: Service, Endpoints, EndpointSlice, Pod, Node, Namespace.
 * Only the fields mini-pilot reads are narrowed; everything else in these
 * busy objects is skipped quietly. Rules are Kubernetes' own where mini-pilot
 * depends on them (port numbers and names, addresses).
 */
import type { EndpointPort, EndpointSlice, EndpointSubset, Pod, ServicePort, ServiceSpec, SliceEndpoint } from "../types";
import { at, type Ctx, idx } from "./ctx";
import { portNumber } from "./common";
import { checkFQDN, isDNS1123Label, isIPAddress } from "./names";
import { bool, checked, enumOf, int, intOrString, isPlainObject, list, object, record, str, type Reader } from "./read";
import { isIP } from "node:net";
import { podWorkloadName } from "../workload-meta";

// Kubernetes IANA_SVC_NAME: a named container port.
function isServiceName(s: string): boolean {
  return s.length <= 15 && /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(s) && /[a-z]/.test(s) && !s.includes("--");
}

const targetPort: Reader<number | string> = checked(intOrString, (t, path, ctx) => {
  if (typeof t === "number" ? t < 1 || t > 65535 : !isServiceName(t)) {
    ctx.error(path, `invalid targetPort ${JSON.stringify(t)}: want a port number 1..65535 or a port name`);
  }
});

const servicePort = object<ServicePort>(
  { name: str, port: portNumber, targetPort, protocol: enumOf("TCP", "UDP", "SCTP"), appProtocol: str, nodePort: int },
  {
    open: true,
    check: (p, path, ctx) => {
      if (p.port === undefined) ctx.error(at(path, "port"), "port is required");
      if (p.name && !isDNS1123Label(p.name)) ctx.error(at(path, "name"), `invalid port name "${p.name}": must be a DNS-1123 label`);
    },
  },
);

function checkServicePorts(spec: Partial<ServiceSpec>, path: string, ctx: Ctx): void {
  const ports = spec.ports ?? [];
  const optional = spec.type === "ExternalName" || spec.clusterIP === "None";
  if (ports.length === 0 && !optional) ctx.error(at(path, "ports"), "at least one port is required");
  const names = new Set<string>();
  const numbers = new Set<string>();
  ports.forEach((p, i) => {
    const pp = idx(at(path, "ports"), i);
    if (ports.length > 1 && !p.name) ctx.error(at(pp, "name"), "name is required when a service has more than one port");
    if (p.name && names.has(p.name)) ctx.error(at(pp, "name"), `duplicate port name "${p.name}"`);
    const key = `${p.port}/${p.protocol ?? "TCP"}`;
    if (p.port !== undefined && numbers.has(key)) ctx.error(at(pp, "port"), `duplicate port ${key}`);
    if (p.name) names.add(p.name);
    numbers.add(key);
  });
  if (spec.type === "ExternalName" && !spec.externalName) ctx.error(at(path, "externalName"), "externalName is required for type ExternalName");
}

export const serviceSpec = object<ServiceSpec>(
  {
    type: enumOf("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"),
    clusterIP: str,
    clusterIPs: list(str),
    selector: record(str),
    ports: list(servicePort),
    externalName: str,
  },
  { open: true, check: checkServicePorts },
);

const ipAddress: Reader<string> = checked(str, (ip, path, ctx) => {
  if (!isIPAddress(ip)) ctx.error(path, `${JSON.stringify(ip)} is not a valid IP address`);
});

const targetRef = object<NonNullable<SliceEndpoint["targetRef"]>>({ kind: str, name: str, namespace: str }, { open: true });

const endpointPort = object<EndpointPort>(
  { name: str, port: portNumber, protocol: str, appProtocol: str },
  {
    open: true,
    check: (p, path, ctx) => {
      if (p.port === undefined) ctx.error(at(path, "port"), "port is required");
    },
  },
);

const endpointAddress = object<NonNullable<EndpointSubset["addresses"]>[number]>(
  { ip: ipAddress, nodeName: str, hostname: str, targetRef },
  {
    open: true,
    check: (a, path, ctx) => {
      if (a.ip === undefined) ctx.error(at(path, "ip"), "ip is required");
    },
  },
);

const endpointSubset = object<EndpointSubset>(
  { addresses: list(endpointAddress), notReadyAddresses: list(endpointAddress), ports: list(endpointPort) },
  { open: true },
);

/** core/v1 Endpoints: `subsets` sits at the top level of the object. */
export function readEndpointsSpec(raw: Record<string, unknown>, ctx: Ctx): { subsets: EndpointSubset[] } {
  return { subsets: list(endpointSubset)(raw.subsets, "subsets", ctx) ?? [] };
}

const sliceEndpoint = object<SliceEndpoint>(
  {
    addresses: list(str),
    conditions: object<NonNullable<SliceEndpoint["conditions"]>>({ ready: bool, serving: bool, terminating: bool }, { open: true }),
    nodeName: str,
    zone: str,
    targetRef,
  },
  { open: true },
);

function checkSliceAddress(type: string | undefined, address: string): string | undefined {
  if (type === "IPv4" && isIP(address) !== 4) return `${JSON.stringify(address)} is not a valid IPv4 address`;
  if (type === "IPv6" && isIP(address) !== 6) return `${JSON.stringify(address)} is not a valid IPv6 address`;
  if (type === "FQDN") return checkFQDN(address);
  return undefined;
}

const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

/** discovery.k8s.io/v1 EndpointSlice: top-level fields kept under spec; the service comes from a label. */
export function readEndpointSliceSpec(raw: Record<string, unknown>, labels: Record<string, string> | undefined, ctx: Ctx): EndpointSlice["spec"] | undefined {
  const addressType = enumOf("IPv4", "IPv6", "FQDN")(raw.addressType, "addressType", ctx);
  if (raw.addressType === undefined) ctx.error("addressType", "addressType is required");
  const endpoints = list(sliceEndpoint)(raw.endpoints, "endpoints", ctx) ?? [];
  endpoints.forEach((e, i) => {
    const p = at(idx("endpoints", i), "addresses");
    if (!e.addresses || e.addresses.length === 0) ctx.error(p, "must contain at least one address");
    e.addresses?.forEach((a, j) => {
      const err = checkSliceAddress(addressType, a);
      if (err) ctx.error(idx(p, j), err);
    });
  });
  const ports = list(endpointPort)(raw.ports, "ports", ctx);
  const serviceName = labels?.[SERVICE_NAME_LABEL];
  if (!serviceName) {
    ctx.warn(`metadata.labels[${JSON.stringify(SERVICE_NAME_LABEL)}]`, "missing: the slice belongs to no service; skipped");
    return undefined;
  }
  return { addressType: addressType ?? "IPv4", endpoints, ...(ports ? { ports } : {}), serviceName };
}

type Container = NonNullable<Pod["spec"]["containers"]>[number];
type ContainerPort = NonNullable<Container["ports"]>[number];

const container = object<Container>(
  {
    name: str,
    ports: list(object<ContainerPort>({ name: str, containerPort: portNumber, protocol: str }, { open: true })),
  },
  { open: true },
);

function readiness(status: Record<string, unknown>): boolean | undefined {
  const conditions = Array.isArray(status.conditions) ? status.conditions : [];
  const ready = conditions.find((c) => isPlainObject(c) && c.type === "Ready");
  return isPlainObject(ready) ? ready.status === "True" : undefined;
}

/** Pod: spec fields plus status.podIP(s)/phase/Ready condition, all kept under spec. */
export function readPodSpec(raw: Record<string, unknown>, ctx: Ctx): Pod["spec"] {
  const spec = isPlainObject(raw.spec) ? raw.spec : {};
  const status = isPlainObject(raw.status) ? raw.status : {};
  const out: Pod["spec"] = {};
  const nodeName = str(spec.nodeName, "spec.nodeName", ctx);
  const serviceAccountName = str(spec.serviceAccountName ?? spec.serviceAccount, "spec.serviceAccountName", ctx);
  const containers = list(container)(spec.containers, "spec.containers", ctx);
  const podIP = ipAddress(status.podIP, "status.podIP", ctx);
  const podIPs = list(object<{ ip: string }>({ ip: ipAddress }, { open: true }))(status.podIPs, "status.podIPs", ctx);
  const phase = str(status.phase, "status.phase", ctx);
  const ready = readiness(status);
  if (nodeName !== undefined) out.nodeName = nodeName;
  if (serviceAccountName !== undefined) out.serviceAccountName = serviceAccountName;
  if (containers) out.containers = containers;
  if (podIP !== undefined) out.podIP = podIP;
  if (podIPs) out.podIPs = podIPs.map((p) => p.ip).filter((ip): ip is string => typeof ip === "string");
  if (phase !== undefined) out.phase = phase;
  if (ready !== undefined) out.ready = ready;
  // Kept only when it is not the pod's own name (a controller's pod), to keep plain pods as they were.
  const metadata = isPlainObject(raw.metadata) ? raw.metadata : {};
  const workloadName = podWorkloadName(metadata);
  if (workloadName && workloadName !== metadata.name) out.workloadName = workloadName;
  return out;
}
