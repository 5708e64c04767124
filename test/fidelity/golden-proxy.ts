/**
 * A golden case's proxy as pilot-agent would present it to istiod: the case's
 * node id, with the node metadata a current (target-version) agent sends.
 * mini-pilot is given the very same node, so both translate one proxy.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import type { BuildMeshOptions } from "../../src/model/mesh";

export interface ProxySpec {
  id: string;
  metadata?: Record<string, unknown>;
  mesh?: BuildMeshOptions;
}

/** The Istio release the agent claims to be (the target version's minor; see test/istiod/build/go.mod). */
export const AGENT_ISTIO_VERSION = "1.31.0";

export function readProxySpec(caseDir: string): ProxySpec {
  return parse(fs.readFileSync(path.join(caseDir, "proxy.yaml"), "utf8")) as ProxySpec;
}

/** Pod name without the ReplicaSet and pod hashes (`reviews-v2-5b9c7d-x7k2p` -> `reviews-v2`), as the agent's WORKLOAD_NAME. */
export function workloadName(pod: string): string {
  const parts = pod.split("-");
  return parts.length > 2 ? parts.slice(0, -2).join("-") : pod;
}

/**
 * pilot-agent's node metadata for this proxy (istio pkg/model/proxy.go
 * NodeMetadata; pkg/bootstrap sets it from the pod's downward API): the case's
 * own keys win, except ISTIO_VERSION, which is the target version. SDS: "true"
 * tells mini-pilot what every pilot-agent does (serve the workload
 * certificate over SDS); istiod ignores the key.
 */
export function agentMetadata(
  spec: ProxySpec,
  pod: { serviceAccount?: string; nodeName?: string } = {},
  proxyConfig?: Record<string, unknown>,
): Record<string, unknown> {
  const [, ip = "", podPart = ""] = spec.id.split("~");
  const dot = podPart.indexOf(".");
  const podName = dot > 0 ? podPart.slice(0, dot) : podPart;
  const namespace = dot > 0 ? podPart.slice(dot + 1) : "default";
  const meta: Record<string, unknown> = {
    NAMESPACE: namespace,
    NAME: podName,
    WORKLOAD_NAME: workloadName(podName),
    INSTANCE_IPS: ip,
    CLUSTER_ID: "Kubernetes",
    MESH_ID: "cluster.local",
    INTERCEPTION_MODE: "REDIRECT",
    SERVICE_ACCOUNT: pod.serviceAccount ?? "default",
    ENVOY_PROMETHEUS_PORT: 15090,
    ENVOY_STATUS_PORT: 15021,
    PILOT_SAN: ["istiod.istio-system.svc"],
    SDS: "true",
    ...(pod.nodeName ? { NODE_NAME: pod.nodeName } : {}),
    ...(proxyConfig ? { PROXY_CONFIG: proxyConfig } : {}),
    ...(spec.metadata ?? {}),
    ISTIO_VERSION: AGENT_ISTIO_VERSION,
  };
  return meta;
}

/** The node's `cluster` as pilot-agent sets it (tracingServiceName APP_LABEL_AND_NAMESPACE: `<app label or workload>.<namespace>`). */
export function agentServiceCluster(metadata: Record<string, unknown>): string {
  const labels = (metadata.LABELS ?? {}) as Record<string, string>;
  return `${labels.app ?? String(metadata.WORKLOAD_NAME ?? "istio-proxy")}.${String(metadata.NAMESPACE ?? "default")}`;
}
