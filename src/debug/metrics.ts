/** Prometheus metrics for /metrics (prom-client, one registry per process). */
import * as prom from "prom-client";
import { IstioMetrics } from "./istio-metrics";

export class Metrics {
  readonly registry = new prom.Registry();
  readonly streams = new prom.Gauge({ name: "mini_pilot_xds_streams", help: "Open xDS streams", registers: [this.registry] });
  readonly pushes = new prom.Counter({
    name: "mini_pilot_pushes_total",
    help: "Pushes by kind (full config or endpoints only)",
    labelNames: ["kind"],
    registers: [this.registry],
  });
  readonly pushSeconds = new prom.Histogram({
    name: "mini_pilot_push_duration_seconds",
    help: "Time to rebuild the mesh and regenerate every proxy view for one push",
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly encodes = new prom.Counter({
    name: "mini_pilot_resource_encodes_total",
    help: "Resources encoded to protobuf (each content once)",
    registers: [this.registry],
  });
  readonly diagnostics = new prom.Gauge({
    name: "mini_pilot_config_diagnostics",
    help: "Current config diagnostics by severity",
    labelNames: ["severity"],
    registers: [this.registry],
  });

  /** Istio's pilot_* series, for Istio's dashboards and alerts. */
  readonly istio = new IstioMetrics(this.registry);

  constructor() {
    prom.collectDefaultMetrics({ register: this.registry, prefix: "mini_pilot_" });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
