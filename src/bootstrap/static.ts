/**
 * A static Envoy bootstrap from what one proxy would receive over xDS: the
 * same listeners, routes, clusters and endpoints, folded into
 * `static_resources` so `envoy -c FILE` runs them with no control plane.
 *
 * - RDS: each HTTP connection manager's `rds` becomes an inline
 *   `route_config` (the RouteConfiguration of that name, unchanged).
 * - EDS: each EDS cluster becomes STATIC (IP endpoints) or STRICT_DNS (any
 *   hostname) with its ClusterLoadAssignment as `load_assignment`; cluster
 *   names stay the same, so stats and routes read as they do under xDS.
 * - Admin on 127.0.0.1 only.
 * - Optional, for a laptop with no iptables: `bindOutbound` binds every HTTP
 *   outbound listener (`0.0.0.0_<port>`, normally `bind_to_port: false` and
 *   reached through virtualOutbound's original-destination hand-off) on a
 *   loopback address; `portOffset` moves every listener Envoy binds by N.
 *
 * Pure: wire JSON in (as `translate` prints it), canonical bootstrap JSON out.
 * Input that cannot become a runnable bootstrap (an RDS name with no route
 * configuration, two listeners on one socket) throws StaticConfigError.
 */
import * as net from "node:net";
import type { JsonValue } from "./render";

type Obj = { [k: string]: JsonValue };

export class StaticConfigError extends Error {}

export interface XdsResources {
  listeners: unknown[];
  routes: unknown[];
  clusters: unknown[];
  endpoints: unknown[];
  /** SDS secrets the listeners and clusters name (gateway credentialName); they become static secrets. */
  secrets?: unknown[];
}

export interface StaticNode {
  id: string;
  /** `<app>.<namespace>`, Istio's service cluster. */
  cluster: string;
  metadata: Obj;
}

export interface StaticOptions {
  node: StaticNode;
  adminPort: number;
  /** Bind each HTTP outbound listener on this address (port + portOffset); undefined keeps `bind_to_port: false`. */
  bindOutbound?: string;
  /** Added to the port of every listener Envoy binds (not the admin port). */
  portOffset: number;
}

const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ADMIN_HOST = "127.0.0.1";
/** MAX_CONNECTIONS_PER_SOCKET_EVENT_LOOP's default, as generate/listener-limits.ts writes it. */
const BOUND_LISTENER_ACCEPT_LIMIT = 1;

export function renderStatic(xds: XdsResources, o: StaticOptions): Obj {
  if (!Number.isInteger(o.portOffset) || o.portOffset < 0 || o.portOffset > 65535) {
    throw new StaticConfigError(`port offset must be an integer 0-65535, got ${o.portOffset}`);
  }
  const routes = new Map<string, Obj>();
  for (const r of xds.routes as Obj[]) routes.set(String(r.name), r);
  const assignments = new Map<string, Obj>();
  for (const e of xds.endpoints as Obj[]) assignments.set(String(e.cluster_name), e);

  const listeners = (xds.listeners as Obj[]).map((l) => staticListener(clone(l), routes, o));
  checkSockets(listeners);
  const clusters = (xds.clusters as Obj[]).map((c) => staticCluster(clone(c), assignments));
  const secrets = (xds.secrets ?? []) as Obj[];
  const known = new Set(secrets.map((x) => String(x.name)));
  const staticResources: Obj = { listeners: staticSecretRefs(listeners, known), clusters: staticSecretRefs(clusters, known) };
  if (secrets.length > 0) staticResources.secrets = secrets;
  const out: Obj = {
    node: { id: o.node.id, cluster: o.node.cluster, metadata: o.node.metadata },
    admin: { address: { socket_address: { address: ADMIN_HOST, port_value: o.adminPort } } },
    static_resources: staticResources,
  };
  const ads = findAds(out, "");
  if (ads) throw new StaticConfigError(`${ads} still points at ADS; a static config has no control plane to ask`);
  return out;
}

/**
 * An SDS reference `{ name, sds_config }` to a secret the bootstrap holds
 * becomes `{ name }`: Envoy then takes the static secret of that name. A
 * reference to a secret that is not there (its Secret is missing or bad)
 * keeps its ADS source, which the check below reports.
 */
function staticSecretRefs<T extends JsonValue>(v: T, known: Set<string>): T {
  if (Array.isArray(v)) return v.map((x) => staticSecretRefs(x, known)) as T;
  if (v === null || typeof v !== "object") return v;
  const o = v as Obj;
  if (typeof o.name === "string" && o.sds_config !== undefined && known.has(o.name)) return { name: o.name } as unknown as T;
  return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, staticSecretRefs(x, known)])) as T;
}

/** The ports Envoy binds for this bootstrap's listeners (to pick a free offset, or to document). */
export function boundListeners(bootstrap: Obj): { name: string; address: string; port: number }[] {
  const res = bootstrap.static_resources as { listeners: Obj[] };
  return res.listeners.filter(binds).map((l) => ({ name: String(l.name), ...socketOf(l) }));
}

// ---------------------------------------------------------------- listeners

function staticListener(l: Obj, routes: Map<string, Obj>, o: StaticOptions): Obj {
  const name = String(l.name);
  for (const chain of chainsOf(l)) inlineRoutes(name, chain, routes);
  // Only the wildcard HTTP listeners (`0.0.0.0_<port>`): a sniffed port's `<address>_<port>` listener has an HTTP
  // chain too, but bound on one local address it would clash with the wildcard listener of the same port.
  if (o.bindOutbound !== undefined && l.bind_to_port === false && l.traffic_direction === "OUTBOUND" && isHttp(l) && socketOf(l).address === "0.0.0.0") {
    const { port } = socketOf(l);
    delete l.bind_to_port;
    l.address = { socket_address: { address: o.bindOutbound, port_value: shift(port, o.portOffset, name) } };
    // Now it owns a socket: istiod gives a bound outbound listener the accept limit of every listener that binds
    // (maxConnectionsToAcceptPerSocketEvent; generate/listener-limits.ts, which this layer may not import).
    l.max_connections_to_accept_per_socket_event = BOUND_LISTENER_ACCEPT_LIMIT;
  } else if (binds(l) && o.portOffset !== 0) {
    const { address, port } = socketOf(l);
    const moved = shift(port, o.portOffset, name);
    l.address = { socket_address: { address, port_value: moved } };
    // The capture listeners send connections addressed to themselves to the
    // BlackHoleCluster (a loop guard); the guard follows the listener.
    for (const chain of chainsOf(l)) {
      const match = chain.filter_chain_match as Obj | undefined;
      if (match && match.destination_port === port) match.destination_port = moved;
    }
  }
  return l;
}

function chainsOf(l: Obj): Obj[] {
  const chains = ((l.filter_chains as Obj[] | undefined) ?? []).slice();
  if (l.default_filter_chain) chains.push(l.default_filter_chain as Obj);
  return chains;
}

function inlineRoutes(listener: string, chain: Obj, routes: Map<string, Obj>): void {
  for (const f of (chain.filters as Obj[] | undefined) ?? []) {
    const cfg = f.typed_config as Obj | undefined;
    if (!cfg || cfg["@type"] !== HCM || !cfg.rds) continue;
    const name = String((cfg.rds as Obj).route_config_name);
    const rc = routes.get(name);
    if (!rc) throw new StaticConfigError(`listener ${listener} asks for route configuration "${name}", which the proxy does not have`);
    delete cfg.rds;
    cfg.route_config = clone(rc);
  }
}

function isHttp(l: Obj): boolean {
  return chainsOf(l).some((c) => ((c.filters as Obj[] | undefined) ?? []).some((f) => (f.typed_config as Obj | undefined)?.["@type"] === HCM));
}

function binds(l: Obj): boolean {
  return l.bind_to_port !== false && l.api_listener === undefined && (l.address as Obj | undefined)?.socket_address !== undefined;
}

function socketOf(l: Obj): { address: string; port: number } {
  const sa = (l.address as Obj | undefined)?.socket_address as Obj | undefined;
  if (!sa) throw new StaticConfigError(`listener ${String(l.name)} has no socket address`);
  return { address: String(sa.address), port: Number(sa.port_value ?? 0) };
}

function shift(port: number, offset: number, listener: string): number {
  const moved = port + offset;
  if (moved > 65535) throw new StaticConfigError(`listener ${listener}: port ${port} + offset ${offset} is above 65535`);
  return moved;
}

/** Two bound listeners on one socket would make Envoy refuse the whole config. */
function checkSockets(listeners: Obj[]): void {
  const seen = new Map<string, string>();
  for (const l of listeners.filter(binds)) {
    const { address, port } = socketOf(l);
    for (const [key, other] of seen) {
      const [a, p] = [key.slice(0, key.lastIndexOf(":")), Number(key.slice(key.lastIndexOf(":") + 1))];
      const overlap = a === address || a === "0.0.0.0" || address === "0.0.0.0";
      if (port !== 0 && p === port && overlap) {
        throw new StaticConfigError(`listeners ${other} and ${String(l.name)} would both bind port ${port} (${a} and ${address}); use another port offset`);
      }
    }
    seen.set(`${address}:${port}`, String(l.name));
  }
}

// ---------------------------------------------------------------- clusters

function staticCluster(c: Obj, assignments: Map<string, Obj>): Obj {
  if (c.type !== "EDS") return c;
  const name = String(c.name);
  const edsName = String((c.eds_cluster_config as Obj | undefined)?.service_name ?? name);
  const cla = clone(assignments.get(edsName) ?? { cluster_name: edsName });
  cla.cluster_name = name;
  const hostnames = addressesOf(cla).some((a) => net.isIP(a) === 0);
  // Key order as Envoy's proto declares them (name, type, ..., load_assignment last among these).
  const out: Obj = {};
  for (const [k, v] of Object.entries(c)) {
    if (k === "eds_cluster_config") continue;
    out[k] = k === "type" ? (hostnames ? "STRICT_DNS" : "STATIC") : v;
  }
  if (hostnames && out.dns_lookup_family === undefined) out.dns_lookup_family = "V4_PREFERRED";
  out.load_assignment = cla;
  return out;
}

function addressesOf(cla: Obj): string[] {
  const out: string[] = [];
  for (const group of (cla.endpoints as Obj[] | undefined) ?? []) {
    for (const lb of (group.lb_endpoints as Obj[] | undefined) ?? []) {
      const sa = ((lb.endpoint as Obj | undefined)?.address as Obj | undefined)?.socket_address as Obj | undefined;
      if (sa?.address !== undefined) out.push(String(sa.address));
    }
  }
  return out;
}

// ---------------------------------------------------------------- helpers

function clone<T extends JsonValue | Obj>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

/** The path of the first config source that still says `ads`, if any. */
function findAds(v: JsonValue, at: string): string | undefined {
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const hit = findAds(v[i]!, `${at}[${i}]`);
      if (hit) return hit;
    }
    return undefined;
  }
  if (v === null || typeof v !== "object") return undefined;
  for (const [k, child] of Object.entries(v)) {
    // AggregatedConfigSource has no fields: a config source on ADS is always `ads: {}`.
    if (k === "ads" && child !== null && typeof child === "object" && !Array.isArray(child) && Object.keys(child).length === 0) return at || "(root)";
    const hit = findAds(child, at ? `${at}.${k}` : k);
    if (hit) return hit;
  }
  return undefined;
}
