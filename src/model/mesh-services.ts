/**
 * Kubernetes Services and ServiceEntries -> MeshService (host, ports with
 * protocol, addresses, resolution, visibility).
 */
import type { Diagnostic, Service, ServiceEntry } from "./types";
import type { MeshPort, MeshService } from "./mesh-types";
import { namedProtocol, servicePortProtocol } from "./mesh-protocol";
import { normaliseExportTo } from "./mesh-hosts";

const EXPORT_TO_ANNOTATION = "networking.istio.io/exportTo";

export function serviceFromKube(svc: Service, domainSuffix: string, diagnostics: Diagnostic[]): MeshService {
  const { name, namespace } = svc.metadata;
  const ports: MeshPort[] = [];
  svc.spec.ports.forEach((p, i) => {
    const guess = servicePortProtocol(p);
    if (!guess.known) {
      diagnostics.push({
        severity: "warning",
        kind: "Service",
        namespace,
        name,
        field: `spec.ports[${i}]`,
        message:
          `port ${p.port} (name "${p.name ?? ""}") has no recognisable protocol (appProtocol or a name prefix like http-, grpc-, tcp-); ` +
          "protocol detection is applied to it (HTTP is recognised per connection, the rest is proxied as TCP), as Istio does (IST0118)",
        origin: svc.origin,
      });
    }
    const mp: MeshPort = { name: p.name ?? "", port: p.port, protocol: guess.protocol };
    if (typeof p.targetPort === "number") mp.targetPort = p.targetPort;
    else if (p.targetPort === undefined || p.targetPort === "") mp.targetPort = p.port;
    ports.push(mp);
  });
  const headless = svc.spec.clusterIP === "None";
  const ips = headless ? [] : uniq([...(svc.spec.clusterIP ? [svc.spec.clusterIP] : []), ...(svc.spec.clusterIPs ?? [])]).filter((ip) => ip !== "None");
  const annotation = svc.metadata.annotations?.[EXPORT_TO_ANNOTATION];
  const exportTo = normaliseExportTo(annotation ? annotation.split(",").map((s) => s.trim()) : undefined, namespace);
  const out: MeshService = {
    host: `${name}.${namespace}.svc.${domainSuffix}`,
    name,
    namespace,
    source: "kubernetes",
    addresses: ips,
    ports,
    exportTo,
    resolution: headless ? "ORIGINAL_DST" : "EDS",
    external: false,
    origin: svc.origin,
  };
  if (svc.spec.selector && Object.keys(svc.spec.selector).length > 0) out.selector = { ...svc.spec.selector };
  if (svc.spec.type === "ExternalName" && svc.spec.externalName) {
    // An alias of the external name (istiod 1.31's Resolution Alias): no cluster, listener or virtual host of
    // its own (generate/scope.ts leaves it out); its names become domains of the service it names, and route
    // destinations naming it go to that service's cluster.
    out.resolution = "STRICT_DNS";
    out.addresses = [];
    out.externalName = svc.spec.externalName;
  }
  return out;
}

/** One MeshService per host of the entry. */
export function servicesFromEntry(se: ServiceEntry, diagnostics: Diagnostic[]): MeshService[] {
  const { name, namespace } = se.metadata;
  const ports: MeshPort[] = (se.spec.ports ?? []).map((p, i) => {
    const guess = namedProtocol(p.protocol, p.name);
    if (!guess.known) {
      diagnostics.push({
        severity: "warning",
        kind: "ServiceEntry",
        namespace,
        name,
        field: `spec.ports[${i}].protocol`,
        message: `port ${p.number} has no recognisable protocol; protocol detection is applied to it (HTTP is recognised per connection, the rest is proxied as TCP)`,
        origin: se.origin,
      });
    }
    return { name: p.name, port: p.number, protocol: guess.protocol, targetPort: p.targetPort ?? p.number };
  });
  const resolution = entryResolution(se.spec.resolution);
  const exportTo = normaliseExportTo(se.spec.exportTo, namespace);
  return [...se.spec.hosts].sort().map((host) => {
    const out: MeshService = {
      host,
      name,
      namespace,
      source: "serviceentry",
      addresses: uniq(se.spec.addresses ?? []).sort(),
      ports,
      exportTo,
      resolution,
      external: se.spec.location !== "MESH_INTERNAL",
      origin: se.origin,
    };
    if (se.spec.workloadSelector?.labels) out.selector = { ...se.spec.workloadSelector.labels };
    if (se.spec.subjectAltNames?.length) out.subjectAltNames = [...se.spec.subjectAltNames];
    return out;
  });
}

function entryResolution(r: ServiceEntry["spec"]["resolution"]): MeshService["resolution"] {
  switch (r) {
    case "STATIC":
      return "EDS";
    case "DNS":
      return "STRICT_DNS";
    case "DNS_ROUND_ROBIN":
      return "LOGICAL_DNS";
    default:
      return "ORIGINAL_DST";
  }
}

function uniq<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}
