/**
 * What the mesh page (/) draws, as one JSON document (/debug/mesh): services
 * and their versions, each VirtualService route as a path service → route →
 * subset → endpoints with its weight, gateways, connected proxies with their
 * sync state, and diagnostics. Built from the mesh model the pipeline serves
 * from, so the page shows what proxies get, not what a file says.
 *
 * Subsets are resolved as a client in the service's own namespace sees them
 * (the usual case; a client-namespace DestinationRule can differ, and the
 * per-proxy truth is /debug/config_dump). Nothing secret goes in: gateway TLS
 * shows its mode and credential name only, never file paths or keys.
 */
import { destinationRuleFor, lookupService, type Mesh, type MeshEndpoint, type MeshService, type MeshVirtualService } from "../model/mesh";
import { labelsMatch } from "../model/mesh-hosts";
import type { HTTPMatchRequest, L4MatchAttributes, StringMatch } from "../model/types";

export interface MeshViewEndpoint {
  address: string;
  port: number;
  workload?: string;
  version?: string;
  healthy: boolean;
}

export interface MeshViewService {
  host: string;
  name: string;
  namespace: string;
  ports: { name: string; port: number; protocol: string }[];
  /** Endpoints by the pods' `version` label ("" when unlabelled). */
  versions: { version: string; endpoints: number; healthy: number }[];
  virtualServices: string[];
}

export interface MeshViewDestination {
  host: string;
  subset?: string;
  port?: number;
  /** Percent of the route's traffic (Istio's default: 100 for a single destination). */
  weight: number;
  /** The subset's labels, when a DestinationRule defines it. */
  labels?: Record<string, string>;
  /** Why this destination goes nowhere (unknown host, undefined subset), when it does. */
  problem?: string;
  endpoints: MeshViewEndpoint[];
}

export interface MeshViewRoute {
  /** "http", "tcp" or "tls". */
  protocol: string;
  name: string;
  /** One line per match block, empty when the route matches everything. */
  match: string[];
  /** What the route does instead of forwarding (redirect, direct response, delegate). */
  action?: string;
  destinations: MeshViewDestination[];
}

export interface MeshViewVirtualService {
  name: string;
  namespace: string;
  hosts: string[];
  gateways: string[];
  routes: MeshViewRoute[];
}

export interface MeshViewGateway {
  name: string;
  namespace: string;
  selector: Record<string, string>;
  servers: { port: number; protocol: string; hosts: string[]; tls?: string }[];
}

export interface MeshView {
  generatedAt: string;
  services: MeshViewService[];
  virtualServices: MeshViewVirtualService[];
  gateways: MeshViewGateway[];
}

const VERSION_LABEL = "version";

function endpointView(e: MeshEndpoint): MeshViewEndpoint {
  return {
    address: e.address,
    port: e.port,
    ...(e.workload ? { workload: e.workload } : {}),
    ...(e.labels[VERSION_LABEL] !== undefined ? { version: e.labels[VERSION_LABEL] } : {}),
    healthy: e.health === "HEALTHY",
  };
}

/** Every endpoint of a service over all its ports, each address:port once. */
function serviceEndpoints(mesh: Mesh, host: string, port?: number): MeshEndpoint[] {
  const byPort = mesh.endpoints.get(host);
  if (!byPort) return [];
  const out = new Map<string, MeshEndpoint>();
  for (const [p, eps] of byPort) {
    if (port !== undefined && p !== port) continue;
    for (const e of eps) out.set(`${e.address}:${e.port}`, e);
  }
  return [...out.values()];
}

function versionsOf(endpoints: MeshEndpoint[]): MeshViewService["versions"] {
  const counts = new Map<string, { endpoints: number; healthy: number }>();
  for (const e of endpoints) {
    const v = e.labels[VERSION_LABEL] ?? "";
    const c = counts.get(v) ?? { endpoints: 0, healthy: 0 };
    c.endpoints++;
    if (e.health === "HEALTHY") c.healthy++;
    counts.set(v, c);
  }
  return [...counts.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([version, c]) => ({ version, ...c }));
}

function stringMatch(m: StringMatch): string {
  if (m.exact !== undefined) return `= ${m.exact}`;
  if (m.prefix !== undefined) return `prefix ${m.prefix}`;
  if (m.regex !== undefined) return `~ ${m.regex}`;
  return "present";
}

function httpMatch(m: HTTPMatchRequest): string {
  const parts: string[] = [];
  if (m.uri) parts.push(`uri ${stringMatch(m.uri)}`);
  if (m.method) parts.push(`method ${stringMatch(m.method)}`);
  if (m.authority) parts.push(`authority ${stringMatch(m.authority)}`);
  if (m.scheme) parts.push(`scheme ${stringMatch(m.scheme)}`);
  for (const [k, v] of Object.entries(m.headers ?? {})) parts.push(`header ${k} ${stringMatch(v)}`);
  for (const [k, v] of Object.entries(m.withoutHeaders ?? {})) parts.push(`without header ${k} ${stringMatch(v)}`);
  for (const [k, v] of Object.entries(m.queryParams ?? {})) parts.push(`query ${k} ${stringMatch(v)}`);
  if (m.port !== undefined) parts.push(`port ${m.port}`);
  if (m.sourceLabels)
    parts.push(
      `from ${Object.entries(m.sourceLabels)
        .map(([k, v]) => `${k}=${v}`)
        .join(",")}`,
    );
  if (m.sourceNamespace) parts.push(`from namespace ${m.sourceNamespace}`);
  if (m.gateways) parts.push(`gateways ${m.gateways.join(",")}`);
  return parts.join(" and ") || "any";
}

function l4Match(m: L4MatchAttributes & { sniHosts?: string[] }): string {
  const parts: string[] = [];
  if (m.sniHosts) parts.push(`sni ${m.sniHosts.join(",")}`);
  if (m.destinationSubnets) parts.push(`to ${m.destinationSubnets.join(",")}`);
  if (m.port !== undefined) parts.push(`port ${m.port}`);
  if (m.sourceLabels)
    parts.push(
      `from ${Object.entries(m.sourceLabels)
        .map(([k, v]) => `${k}=${v}`)
        .join(",")}`,
    );
  return parts.join(" and ") || "any";
}

/** Where a destination leads: the service's endpoints, narrowed to the subset's labels. */
function destinationView(
  mesh: Mesh,
  namespace: string,
  d: { destination: { host: string; subset?: string; port?: { number?: number } }; weight?: number },
  weight: number,
): MeshViewDestination {
  const host = d.destination.host.includes(".") ? d.destination.host : `${d.destination.host}.${namespace}.svc.${mesh.options.domainSuffix}`;
  const port = d.destination.port?.number;
  const base = { host, ...(d.destination.subset ? { subset: d.destination.subset } : {}), ...(port !== undefined ? { port } : {}), weight };
  const svc = lookupService(mesh, host, namespace);
  if (!svc) return { ...base, problem: `no service ${host}`, endpoints: [] };
  let endpoints = serviceEndpoints(mesh, svc.host, port);
  if (!d.destination.subset) return { ...base, endpoints: endpoints.map(endpointView) };
  const rule = destinationRuleFor(mesh, { namespace, labels: {} }, svc);
  const subset = rule?.subsets.find((s) => s.name === d.destination.subset);
  if (!subset) return { ...base, problem: `no DestinationRule defines subset ${d.destination.subset} of ${svc.host}`, endpoints: [] };
  endpoints = endpoints.filter((e) => labelsMatch(subset.labels ?? {}, e.labels));
  return { ...base, labels: subset.labels ?? {}, endpoints: endpoints.map(endpointView) };
}

/** Istio's weights: a lone destination gets 100; unset weights in a list count as 0. */
function weights(ds: { weight?: number }[]): number[] {
  if (ds.length === 1) return [ds[0]!.weight ?? 100];
  return ds.map((d) => d.weight ?? 0);
}

function virtualServiceView(mesh: Mesh, m: MeshVirtualService): MeshViewVirtualService {
  const ns = m.namespace;
  const routes: MeshViewRoute[] = [];
  (m.vs.spec.http ?? []).forEach((r, i) => {
    const ds = r.route ?? [];
    const w = weights(ds);
    const action = r.redirect
      ? "redirect"
      : r.directResponse
        ? `direct response ${r.directResponse.status}`
        : r.delegate
          ? `delegate to ${r.delegate.name}`
          : undefined;
    routes.push({
      protocol: "http",
      name: r.name ?? `http[${i}]`,
      match: (r.match ?? []).map(httpMatch),
      ...(action ? { action } : {}),
      destinations: ds.map((d, j) => destinationView(mesh, ns, d, w[j]!)),
    });
  });
  for (const [protocol, list] of [
    ["tcp", m.vs.spec.tcp ?? []],
    ["tls", m.vs.spec.tls ?? []],
  ] as const) {
    list.forEach((r, i) => {
      const ds = r.route ?? [];
      const w = weights(ds);
      routes.push({
        protocol,
        name: `${protocol}[${i}]`,
        match: (r.match ?? []).map((x) => l4Match(x)),
        destinations: ds.map((d, j) => destinationView(mesh, ns, d, w[j]!)),
      });
    });
  }
  return { name: m.vs.metadata.name, namespace: ns, hosts: m.hosts, gateways: m.gateways, routes };
}

function serviceView(mesh: Mesh, svc: MeshService, vss: MeshVirtualService[]): MeshViewService {
  return {
    host: svc.host,
    name: svc.name,
    namespace: svc.namespace,
    ports: svc.ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol })),
    versions: versionsOf(serviceEndpoints(mesh, svc.host)),
    virtualServices: vss.filter((v) => v.hosts.includes(svc.host)).map((v) => `${v.namespace}/${v.vs.metadata.name}`),
  };
}

export function buildMeshView(mesh: Mesh, now: Date = new Date()): MeshView {
  const vss = mesh.virtualServices;
  return {
    generatedAt: now.toISOString(),
    services: mesh.services.map((s) => serviceView(mesh, s, vss)),
    virtualServices: vss.map((v) => virtualServiceView(mesh, v)),
    gateways: mesh.gateways.map((g) => ({
      name: g.metadata.name,
      namespace: g.metadata.namespace,
      selector: g.spec.selector ?? {},
      servers: g.spec.servers.map((s) => ({
        port: s.port.number,
        protocol: s.port.protocol,
        hosts: s.hosts,
        ...(s.tls?.mode ? { tls: s.tls.credentialName ? `${s.tls.mode} (${s.tls.credentialName})` : s.tls.mode } : {}),
      })),
    })),
  };
}
