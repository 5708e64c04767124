/**
 * A synthetic mesh shaped like Istio's sidecar output, independent of the
 * translation engine: S services × E endpoints, spread over a few ports;
 * `outbound|<port>||svc-N.ns-K.svc.cluster.local` EDS clusters; one
 * `0.0.0.0_<port>` listener per port with RDS `<port>`; one route config per
 * port with a virtual host per service; R "routing objects" (VirtualService-like
 * weighted routes over v1/v2 subset clusters, DestinationRule-like).
 *
 * Every change embeds a fresh marker string in the resources it touches, so a
 * client can tell it has the change by content alone (see fleet/client.ts).
 */
import { EncodedResource, encodeResource } from "../src/xds/resource";
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, XdsTypeUrl } from "../src/xds/types";
import { lenField, strField } from "./wire";
import type { ChangeSpec } from "./fleet/protocol";

export interface MeshShape {
  services: number;
  endpoints: number;
  /** Services with a weighted (VirtualService-like) route over two subsets. */
  routes: number;
  /** Distinct service ports, hence listeners and route configs. */
  ports: number;
  namespaces: number;
}

export function defaultShape(services: number, endpoints: number, routes?: number): MeshShape {
  return {
    services,
    endpoints,
    routes: Math.min(routes ?? Math.min(20, services), services),
    ports: Math.max(1, Math.min(8, Math.ceil(services / 50))),
    namespaces: Math.max(1, Math.min(10, Math.ceil(services / 20))),
  };
}

interface Endpoint {
  ip: string;
  pod: string;
  version: "v1" | "v2";
}

interface Service {
  name: string;
  ns: string;
  host: string;
  port: number;
  clusterIp: string;
  endpoints: Endpoint[];
  /** Weighted route over subsets v1/v2: weight of v1, and the marker-bearing route name. */
  route?: { v1: number; name: string };
}

/** A change ready to apply: the fleet's view of it plus a label. */
export interface Change {
  spec: ChangeSpec;
  label: string;
}

const ADS = { ads: {}, initial_fetch_timeout: "0s", resource_api_version: "V3" };
const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const MAX = 4294967295;
const BASE_PORTS = [9080, 8080, 5000, 3000, 8000, 9090, 7070, 6060];

let markerSeq = 0;
/**
 * A fresh marker, valid inside DNS labels: `bmk-<seq>-<6 random>` (see
 * MARKER_PREFIX in fleet/client.ts, which finds them all in one pass).
 */
export function newMarker(): string {
  markerSeq++;
  const rand = Math.floor(Math.random() * 36 ** 6)
    .toString(36)
    .padStart(6, "0");
  return `bmk-${markerSeq.toString(36)}-${rand}`;
}

export class SyntheticMesh {
  readonly services: Service[] = [];
  /** Encoded resources by type + JSON text: each distinct resource is encoded once. */
  private readonly encoded = new Map<string, EncodedResource>();
  private seq = 0;
  private newPort = 30000;

  constructor(readonly shape: MeshShape) {
    for (let i = 0; i < shape.services; i++) this.services.push(this.makeService(i, `svc-${i}`, BASE_PORTS[i % shape.ports]!));
    for (let i = 0; i < shape.routes; i++) this.services[i]!.route = { v1: 90, name: "default" };
  }

  private makeService(i: number, name: string, port: number): Service {
    const ns = `ns-${i % this.shape.namespaces}`;
    const s: Service = {
      name,
      ns,
      host: `${name}.${ns}.svc.cluster.local`,
      port,
      clusterIp: `10.96.${(i >> 8) & 0xff}.${i & 0xff}`,
      endpoints: [],
    };
    for (let j = 0; j < this.shape.endpoints; j++) s.endpoints.push(this.endpoint(i, j, j % 2 === 0 ? "v1" : "v2", s.name, `${j}`));
    return s;
  }

  private endpoint(svc: number, j: number, version: "v1" | "v2", name: string, suffix: string): Endpoint {
    return { ip: `10.${64 + ((svc >> 8) & 0x3f)}.${svc & 0xff}.${(j % 250) + 1}`, pod: `${name}-${version}-${suffix}`, version };
  }

  // ------------------------------------------------------------- changes

  /** A pod of one service is replaced: new IP, new pod name (the marker). EDS only. */
  endpointChange(): Change {
    const marker = newMarker();
    const seq = ++this.seq;
    const pool = this.services.length > this.shape.routes ? this.services.slice(this.shape.routes) : this.services;
    const s = pool[seq % pool.length]!;
    const j = seq % s.endpoints.length;
    const old = s.endpoints[j]!;
    const octet = ((seq * 7) % 250) + 1;
    s.endpoints[j] = { ip: `10.${200 + ((seq >> 16) % 50)}.${(seq >> 8) & 0xff}.${octet}`, pod: `${s.name}-${old.version}-${marker}`, version: old.version };
    const cluster = clusterName(s, "");
    return { label: `endpoint of ${s.host}`, spec: { id: seq, track: `eds:${cluster}`, markers: { [ENDPOINT]: marker } } };
  }

  /** A VirtualService shifts weight between subsets; the marker is the route's name. RDS only. */
  routeChange(): Change {
    if (this.shape.routes === 0) throw new Error("route change needs at least one routing object (--routes)");
    const marker = newMarker();
    const seq = ++this.seq;
    const s = this.services[seq % this.shape.routes]!;
    s.route = { v1: 10 + ((s.route!.v1 + 7 * seq) % 81), name: `canary-${marker}` };
    return { label: `weights of ${s.host}`, spec: { id: seq, track: `rds:${s.port}`, markers: { [ROUTE]: marker } } };
  }

  /** A new service on a new port: a cluster, its endpoints, a listener and a route config. */
  newService(): Change {
    const marker = newMarker();
    const seq = ++this.seq;
    const port = ++this.newPort;
    const s = this.makeService(this.services.length, `svc-${marker}`, port);
    this.services.push(s);
    return {
      label: `new service ${s.host}`,
      spec: { id: seq, track: `new:${seq}`, markers: { [CLUSTER]: marker, [ENDPOINT]: marker, [LISTENER]: listenerName(port), [ROUTE]: marker } },
    };
  }

  // ------------------------------------------------------------- resources

  /** All resources, encoded once per distinct content (unchanged ones come from the encode cache). */
  resources(): EncodedResource[] {
    const out: EncodedResource[] = [];
    const enc = (t: XdsTypeUrl, json: unknown) => {
      const key = t + "\n" + JSON.stringify(json);
      let r = this.encoded.get(key);
      if (!r) this.encoded.set(key, (r = encodeResource(t, json)));
      out.push(r);
    };
    enc(CLUSTER, {
      name: "PassthroughCluster",
      type: "ORIGINAL_DST",
      connect_timeout: "10s",
      lb_policy: "CLUSTER_PROVIDED",
      circuit_breakers: circuitBreakers(),
    });
    enc(CLUSTER, { name: "BlackHoleCluster", type: "STATIC", connect_timeout: "10s" });
    const ports = new Map<number, Service[]>();
    for (const s of this.services) {
      let list = ports.get(s.port);
      if (!list) ports.set(s.port, (list = []));
      list.push(s);
      for (const subset of s.route ? ["", "v1", "v2"] : [""]) {
        enc(CLUSTER, clusterJson(s, subset));
        enc(ENDPOINT, endpointsJson(s, subset));
      }
    }
    for (const [port, list] of ports) {
      enc(LISTENER, listenerJson(port));
      enc(ROUTE, routeConfigJson(port, list));
    }
    return out;
  }
}

export function clusterName(s: { port: number; host: string }, subset: string): string {
  return `outbound|${s.port}|${subset}|${s.host}`;
}

export function listenerName(port: number): string {
  return `0.0.0.0_${port}`;
}

function circuitBreakers() {
  return { thresholds: [{ max_connections: MAX, max_pending_requests: MAX, max_requests: MAX, max_retries: MAX, track_remaining: true }] };
}

function clusterJson(s: Service, subset: string) {
  const name = clusterName(s, subset);
  return {
    name,
    type: "EDS",
    eds_cluster_config: { eds_config: ADS, service_name: name },
    connect_timeout: "10s",
    lb_policy: "LEAST_REQUEST",
    circuit_breakers: circuitBreakers(),
    metadata: { filter_metadata: { istio: { services: [{ host: s.host, name: s.name, namespace: s.ns }], ...(subset ? { subset } : {}) } } },
  };
}

function endpointsJson(s: Service, subset: string) {
  const eps = subset ? s.endpoints.filter((e) => e.version === subset) : s.endpoints;
  return {
    cluster_name: clusterName(s, subset),
    endpoints: [
      {
        locality: { region: "us-east1", zone: "us-east1-b" },
        lb_endpoints: eps.map((e) => ({
          endpoint: { address: { socket_address: { address: e.ip, port_value: s.port } } },
          health_status: "HEALTHY",
          metadata: { filter_metadata: { istio: { workload: `${e.pod};${s.ns};${s.name};${e.version};Kubernetes` } } },
          load_balancing_weight: 1,
        })),
      },
    ],
  };
}

function listenerJson(port: number) {
  const name = listenerName(port);
  return {
    name,
    address: { socket_address: { address: "0.0.0.0", port_value: port } },
    traffic_direction: "OUTBOUND",
    bind_to_port: false,
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": HCM,
              stat_prefix: `outbound_${name}`,
              rds: { config_source: ADS, route_config_name: String(port) },
              http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": ROUTER } }],
              use_remote_address: false,
              normalize_path: true,
              stream_idle_timeout: "0s",
            },
          },
        ],
      },
    ],
  };
}

function routeConfigJson(port: number, services: Service[]) {
  return {
    name: String(port),
    validate_clusters: false,
    ignore_port_in_host_matching: true,
    virtual_hosts: [
      ...services.map((s) => ({
        name: `${s.host}:${port}`,
        domains: [s.host, s.name, `${s.name}.${s.ns}`, `${s.name}.${s.ns}.svc`, s.clusterIp],
        routes: [
          {
            name: s.route ? s.route.name : "default",
            match: { prefix: "/" },
            route: {
              ...(s.route
                ? {
                    weighted_clusters: {
                      clusters: [
                        { name: clusterName(s, "v1"), weight: s.route.v1 },
                        { name: clusterName(s, "v2"), weight: 100 - s.route.v1 },
                      ],
                    },
                  }
                : { cluster: clusterName(s, "") }),
              timeout: "0s",
              retry_policy: { retry_on: "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes", num_retries: 2 },
              max_grpc_timeout: "0s",
            },
            decorator: { operation: `${s.host}:${port}/*` },
          },
        ],
        include_request_attempt_count: true,
      })),
      { name: "allow_any", domains: ["*"], routes: [{ name: "allow_any", match: { prefix: "/" }, route: { cluster: "PassthroughCluster", timeout: "0s" } }] },
    ],
  };
}

// ------------------------------------------------------------- wire form for the servers

const anyBase64 = new WeakMap<EncodedResource, string>();

/** base64 of a serialized google.protobuf.Any{type_url, value} — what every bench server ingests. */
export function anyOf(r: EncodedResource): string {
  let b = anyBase64.get(r);
  if (!b) {
    b = Buffer.concat([strField(1, r.typeUrl), lenField(2, r.bytes)]).toString("base64");
    anyBase64.set(r, b);
  }
  return b;
}

/** The POST /snapshot body every server gets: byte-identical resources, a version label, node "*". */
export function snapshotBody(version: string, resources: readonly EncodedResource[]): string {
  const byType: Record<string, string[]> = { [CLUSTER]: [], [ENDPOINT]: [], [LISTENER]: [], [ROUTE]: [] };
  for (const r of resources) byType[r.typeUrl]!.push(anyOf(r));
  return JSON.stringify({ node: "*", version, resources: byType });
}
