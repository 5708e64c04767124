/**
 * The control-plane metrics Istio's dashboards and alerts query, under Istio's
 * names, types, labels and buckets (pilot/pkg/xds/monitoring.go,
 * pilot/pkg/xds/v3/..., pilot/pkg/model/push_context.go,
 * pilot/pkg/serviceregistry/kube/controller). Counters carry no `_total`
 * suffix, as istiod exports them. They sit next to the mini_pilot_* series in
 * the same registry; docs/OPERATIONS.md says what each measures here.
 *
 * Fed from three places, none of which knows a metric name: the store's change
 * sets (inbound updates, registry events, object counts), the push pipeline's
 * report (triggers, debounce), and the xDS server's observer (connected
 * proxies, pushes, rejects, push/send/queue/convergence time).
 */
import * as prom from "prom-client";
import type { XdsObserver } from "../server/observer";
import type { NodeInfo } from "../cache/snapshot-cache";
import { keyOf, type ChangeSet, type ConfigStore } from "../store";
import type { PushReport } from "../push/pipeline";
import type { MeshObject } from "../model/types";
import { CLUSTER, ENDPOINT, LISTENER, ROUTE } from "../xds/types";

/** Istio's buckets (seconds). */
const PUSH_BUCKETS = [0.01, 0.1, 1, 3, 5, 10, 20, 30];
const PROXY_BUCKETS = [0.1, 0.5, 1, 3, 5, 10, 20, 30];

/** v3.GetMetricType: the short type label Istio uses. Unknown types keep their URL, as Istio does. */
export function metricType(typeUrl: string): string {
  switch (typeUrl) {
    case CLUSTER:
      return "cds";
    case ENDPOINT:
      return "eds";
    case LISTENER:
      return "lds";
    case ROUTE:
      return "rds";
    case "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret":
      return "sds";
    default:
      return typeUrl;
  }
}

/** Kinds that only move endpoints (Istio's "eds" inbound updates, "endpoint" push trigger). */
const ENDPOINT_KINDS = new Set(["EndpointSlice", "Endpoints", "Pod", "Node"]);
const SERVICE_KINDS = new Set(["Service", "ServiceEntry"]);
/** The registry kinds Istio's Kubernetes controller counts in pilot_k8s_reg_events, by its `type` label. */
const REGISTRY_TYPE: Record<string, string> = { Service: "Services", EndpointSlice: "EndpointSlice", Endpoints: "Endpoints", Pod: "Pods", Node: "Nodes" };

/** model.TriggerReason for a changed kind. */
export function triggerReason(kind: string): string {
  if (ENDPOINT_KINDS.has(kind)) return "endpoint";
  if (SERVICE_KINDS.has(kind)) return "service";
  if (kind === "Namespace") return "namespace";
  return "config";
}

/** How many pushes back a late send (after an ACK) is matched to the push that made its snapshot. */
const RECENT_PUSHES = 16;

export class IstioMetrics implements XdsObserver {
  private readonly xds: prom.Gauge<"version">;
  private readonly pushes: prom.Counter<"type">;
  private readonly pushTime: prom.Histogram<"type">;
  private readonly convergence: prom.Histogram;
  private readonly queueTime: prom.Histogram;
  private readonly triggers: prom.Counter<"type">;
  private readonly rejects: prom.Counter<"type">;
  private readonly sendTime: prom.Histogram;
  private readonly regEvents: prom.Counter<"type" | "event">;
  private readonly services: prom.Gauge;
  private readonly virtServices: prom.Gauge;
  private readonly debounceTime: prom.Histogram;
  private readonly inbound: prom.Counter<"type">;

  /** First change not yet pushed (ms), the start of the next push's convergence clock. */
  private pendingSince?: number;
  private readonly recent: { start: number; end: number; origin: number }[] = [];
  private readonly versions = new Map<string, string>();

  constructor(
    registry: prom.Registry,
    private readonly now: () => number = Date.now,
  ) {
    const registers = [registry];
    this.xds = new prom.Gauge({ name: "pilot_xds", help: "Number of endpoints connected to this pilot using XDS.", labelNames: ["version"], registers });
    this.pushes = new prom.Counter({
      name: "pilot_xds_pushes",
      help: "Pilot build and send errors for lds, rds, cds and eds.",
      labelNames: ["type"],
      registers,
    });
    this.pushTime = new prom.Histogram({
      name: "pilot_xds_push_time",
      help: "Total time in seconds Pilot takes to push lds, rds, cds and eds.",
      labelNames: ["type"],
      buckets: PUSH_BUCKETS,
      registers,
    });
    this.convergence = new prom.Histogram({
      name: "pilot_proxy_convergence_time",
      help: "Delay in seconds between config change and a proxy receiving all required configuration.",
      buckets: PROXY_BUCKETS,
      registers,
    });
    this.queueTime = new prom.Histogram({
      name: "pilot_proxy_queue_time",
      help: "Time in seconds, a proxy is in the push queue before being dequeued.",
      buckets: PROXY_BUCKETS,
      registers,
    });
    this.triggers = new prom.Counter({
      name: "pilot_push_triggers",
      help: "Total number of times a push was triggered, labeled by reason for the push.",
      labelNames: ["type"],
      registers,
    });
    this.rejects = new prom.Counter({
      name: "pilot_total_xds_rejects",
      help: "Total number of XDS responses from pilot rejected by proxy.",
      labelNames: ["type"],
      registers,
    });
    this.sendTime = new prom.Histogram({
      name: "pilot_xds_send_time",
      help: "Total time in seconds Pilot takes to send generated configuration.",
      buckets: PUSH_BUCKETS,
      registers,
    });
    this.regEvents = new prom.Counter({ name: "pilot_k8s_reg_events", help: "Events from k8s registry.", labelNames: ["type", "event"], registers });
    this.services = new prom.Gauge({ name: "pilot_services", help: "Total services known to pilot.", registers });
    this.virtServices = new prom.Gauge({ name: "pilot_virt_services", help: "Total virtual services known to pilot.", registers });
    this.debounceTime = new prom.Histogram({
      name: "pilot_debounce_time",
      help: "Delay in seconds between the first config enters debouncing and the merged push request is pushed into the push queue.",
      buckets: PUSH_BUCKETS,
      registers,
    });
    this.inbound = new prom.Counter({ name: "pilot_inbound_updates", help: "Total number of updates received by pilot.", labelNames: ["type"], registers });
  }

  // ------------------------------------------------------------- config side

  /**
   * Count what the store holds now, then follow its change sets; returns the
   * unsubscribe. Counted from each change set, never by a pass over the store:
   * a big file reaches the store as 64 shards, and counting the whole store
   * (sorted) after each one held the event loop for seconds.
   */
  watchStore(store: ConfigStore): () => void {
    this.serviceCount = this.vsCount = 0;
    this.entryHosts.clear();
    this.countChanges({ added: store.unsorted(), updated: [], deleted: [] });
    return store.subscribe((c) => {
      this.onChanges(c);
      this.countChanges(c);
    });
  }

  onChanges(c: ChangeSet): void {
    const events: [MeshObject[], string][] = [
      [c.added, "add"],
      [c.updated, "update"],
      [c.deleted, "delete"],
    ];
    let any = false;
    for (const [objects, event] of events) {
      for (const o of objects) {
        any = true;
        const registryType = REGISTRY_TYPE[o.kind];
        if (registryType) this.regEvents.inc({ type: registryType, event });
        this.inbound.inc({ type: inboundType(o.kind, event) });
      }
    }
    if (any && this.pendingSince === undefined) this.pendingSince = this.now();
  }

  /** After each push (the pipeline's onPush). */
  onPush(p: PushReport): void {
    const end = this.now();
    const start = end - p.ms;
    for (const [kind, n] of Object.entries(p.reasons)) this.triggers.inc({ type: triggerReason(kind) }, n);
    if (this.pendingSince !== undefined) {
      this.debounceTime.observe(Math.max(0, start - this.pendingSince) / 1000);
      this.recent.push({ start, end, origin: this.pendingSince });
      if (this.recent.length > RECENT_PUSHES) this.recent.shift();
    }
    this.pendingSince = undefined;
  }

  private serviceCount = 0;
  private vsCount = 0;
  /** Hosts of each ServiceEntry counted (an update may change them). */
  private readonly entryHosts = new Map<string, number>();

  private countChanges(c: ChangeSet): void {
    const hosts = (o: MeshObject) => ((o.spec as { hosts?: unknown[] }).hosts ?? []).length;
    const count = (o: MeshObject, sign: 1 | -1) => {
      if (o.kind === "Service") this.serviceCount += sign;
      else if (o.kind === "VirtualService") this.vsCount += sign;
      else if (o.kind === "ServiceEntry") {
        const key = keyOf(o);
        this.serviceCount -= this.entryHosts.get(key) ?? 0;
        this.entryHosts.delete(key);
        if (sign > 0) {
          this.entryHosts.set(key, hosts(o));
          this.serviceCount += hosts(o);
        }
      }
    };
    for (const o of c.added) count(o, 1);
    for (const o of c.updated) if (o.kind === "ServiceEntry") count(o, 1);
    for (const o of c.deleted) count(o, -1);
    this.services.set(this.serviceCount);
    this.virtServices.set(this.vsCount);
  }

  // ------------------------------------------------------------- xDS side (XdsObserver)

  onNode(streamId: string, node: NodeInfo): void {
    const v = typeof node.metadata.ISTIO_VERSION === "string" ? node.metadata.ISTIO_VERSION : "";
    this.versions.set(streamId, v);
    this.xds.inc({ version: v });
  }

  onNodeGone(streamId: string): void {
    const v = this.versions.get(streamId);
    if (v === undefined) return;
    this.versions.delete(streamId);
    this.xds.dec({ version: v });
  }

  onResponse(_streamId: string, typeUrl: string, r: { sinceTriggerMs: number; writeMs: number; queuedMs?: number }): void {
    const type = metricType(typeUrl);
    this.pushes.inc({ type });
    this.pushTime.observe({ type }, r.sinceTriggerMs / 1000);
    this.sendTime.observe(r.writeMs / 1000);
    if (r.queuedMs !== undefined) this.queueTime.observe(r.queuedMs / 1000);
  }

  onNack(_streamId: string, typeUrl: string): void {
    this.rejects.inc({ type: metricType(typeUrl) });
  }

  /** A proxy holds all of a snapshot: measured from the first config change behind that snapshot. */
  onConverged(_streamId: string, snapshotAt: number): void {
    const origin = this.originOf(snapshotAt);
    if (origin !== undefined) this.convergence.observe(Math.max(0, this.now() - origin) / 1000);
  }

  /**
   * The push a snapshot came from: the one running now (sends inside a push
   * happen before its report), or a recent one whose window holds the
   * snapshot's arrival. A snapshot from a proxy's first connection has none.
   */
  private originOf(snapshotAt: number): number | undefined {
    if (this.pendingSince !== undefined && snapshotAt >= this.pendingSince) return this.pendingSince;
    for (let i = this.recent.length - 1; i >= 0; i--) {
      const p = this.recent[i]!;
      if (snapshotAt >= p.start && snapshotAt <= p.end) return p.origin;
    }
    return undefined;
  }
}

/** Istio's inbound update types: config, eds, svc, svcdelete. */
function inboundType(kind: string, event: string): string {
  if (ENDPOINT_KINDS.has(kind)) return "eds";
  if (SERVICE_KINDS.has(kind)) return event === "delete" ? "svcdelete" : "svc";
  return "config";
}
