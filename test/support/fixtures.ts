/** Small, valid Envoy resources for server tests, and a server to serve them. */
import { encodeResource, EncodedResource } from "../../src/xds/resource";
import { makeSnapshot, Snapshot } from "../../src/cache/snapshot";
import { CLUSTER, ENDPOINT, LISTENER, ROUTE } from "../../src/xds/types";
import { SnapshotCache } from "../../src/cache/snapshot-cache";
import { XdsServer } from "../../src/server/grpc-server";

const ADS_SOURCE = { ads: {}, resource_api_version: "V3" };

export function cluster(name: string, timeout = "1s"): EncodedResource {
  return encodeResource(CLUSTER, { name, type: "EDS", eds_cluster_config: { eds_config: ADS_SOURCE }, connect_timeout: timeout });
}

export function endpoints(name: string, ...ports: number[]): EncodedResource {
  return encodeResource(ENDPOINT, {
    cluster_name: name,
    endpoints: [{ lb_endpoints: ports.map((port) => ({ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } })) }],
  });
}

export function listener(name: string, port: number, routeName: string): EncodedResource {
  return encodeResource(LISTENER, {
    name,
    address: { socket_address: { address: "127.0.0.1", port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
              stat_prefix: name,
              rds: { route_config_name: routeName, config_source: ADS_SOURCE },
              http_filters: [
                { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
              ],
            },
          },
        ],
      },
    ],
  });
}

export function route(name: string, clusterName: string): EncodedResource {
  return encodeResource(ROUTE, {
    name,
    virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: clusterName } }] }],
  });
}

/** A consistent little mesh: clusters a,b with endpoints, one listener + route to a. */
export function baseResources(): EncodedResource[] {
  return [cluster("a"), cluster("b"), endpoints("a", 8001), endpoints("b", 8002), listener("l1", 10001, "r1"), route("r1", "a")];
}

export interface TestServer {
  port: number;
  cache: SnapshotCache;
  server: XdsServer;
  set(resources: EncodedResource[]): Snapshot;
  stop(): Promise<void>;
}

export async function startTestServer(resources = baseResources()): Promise<TestServer> {
  const cache = new SnapshotCache((node) => (node.id.startsWith("bad") ? { ok: false, error: "bad node id" } : { ok: true, group: "all" }));
  const server = new XdsServer(cache);
  const port = await server.listen("127.0.0.1:0");
  const set = (r: EncodedResource[]) => {
    const s = makeSnapshot(r);
    cache.set("all", s);
    return s;
  };
  set(resources);
  return { port, cache, server, set, stop: () => server.shutdown(200) };
}
