/** A resources file for `serve --resources` that proxyless gRPC clients understand. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";
import { startBackend } from "./backends";
import { ServeProcess, startServe } from "./serve-process";

export interface Split {
  v1Port: number;
  v2Port: number;
  v1Weight: number;
  v2Weight: number;
  /** Route `end-user: jason` to v2 first. */
  jasonToV2?: boolean;
  /** Give v1's cluster an lb_policy gRPC clients do not support (MAGLEV): valid protobuf, rejected by the client. */
  badCluster?: boolean;
}

const ADS = { ads: {}, resource_api_version: "V3" };
const ROUTER = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };

export function billServiceResources(s: Split): string {
  const routes: object[] = [];
  if (s.jasonToV2) {
    routes.push({
      match: { prefix: "", headers: [{ name: "end-user", exact_match: "jason" }] /* exact_match: older C-core (Debian 1.51) lacks string_match */ },
      route: { cluster: "outbound|9999|v2|bill-service" },
    });
  }
  routes.push({
    match: { prefix: "" },
    route: {
      weighted_clusters: {
        clusters: [
          { name: "outbound|9999|v1|bill-service", weight: s.v1Weight },
          { name: "outbound|9999|v2|bill-service", weight: s.v2Weight },
        ].filter((c) => c.weight > 0),
      },
    },
  });
  const cluster = (name: string, lb_policy = "ROUND_ROBIN") => ({
    name,
    type: "EDS",
    eds_cluster_config: { eds_config: ADS },
    lb_policy,
    connect_timeout: "1s",
  });
  const cla = (name: string, port: number) => ({
    cluster_name: name,
    endpoints: [
      {
        locality: { region: "r1", zone: "z1" },
        load_balancing_weight: 1,
        lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } }, health_status: "HEALTHY" }],
      },
    ],
  });
  const doc = {
    listeners: [
      {
        name: "bill-service",
        api_listener: {
          api_listener: {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            stat_prefix: "bill-service",
            rds: { route_config_name: "bill-service-routes", config_source: ADS },
            http_filters: [ROUTER],
          },
        },
      },
    ],
    routes: [{ name: "bill-service-routes", virtual_hosts: [{ name: "bill-service", domains: ["*"], routes }] }],
    clusters: [cluster("outbound|9999|v1|bill-service", s.badCluster ? "MAGLEV" : "ROUND_ROBIN"), cluster("outbound|9999|v2|bill-service")],
    endpoints: [cla("outbound|9999|v1|bill-service", s.v1Port), cla("outbound|9999|v2|bill-service", s.v2Port)],
  };
  return YAML.stringify(doc);
}

/** Two gRPC backends (v1, v2) behind `serve --resources` with a 90/10 + jason file; cleaned up after the test. */
export async function serveBillService(t: { after(fn: () => Promise<void> | void): void }): Promise<{
  serve: ServeProcess;
  file: string;
  write(split: Omit<Split, "v1Port" | "v2Port">): void;
}> {
  const v1 = await startBackend("v1");
  const v2 = await startBackend("v2");
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "mp-grpc-")), "resources.yaml");
  const write = (split: Omit<Split, "v1Port" | "v2Port">) => fs.writeFileSync(file, billServiceResources({ v1Port: v1.port, v2Port: v2.port, ...split }));
  write({ v1Weight: 90, v2Weight: 10, jasonToV2: true });
  const serve = await startServe(["--resources", file]);
  t.after(async () => {
    await serve.stop();
    await v1.stop();
    await v2.stop();
  });
  return { serve, file, write };
}
