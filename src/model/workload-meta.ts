/**
 * What istiod knows about the workload behind an endpoint, for the
 * `istio.workload` endpoint metadata Istio's telemetry reads
 * (networking/util AppendLbEndpointMetadata):
 * `<workload>;<namespace>;<canonical service>;<canonical revision>;<cluster id>`.
 */

/** istiod's cluster id (its --clusterID default). */
export const ISTIO_CLUSTER_ID = "Kubernetes";

const NAME_LABELS = ["service.istio.io/canonical-name", "app.kubernetes.io/name", "app"];
const REVISION_LABELS = ["service.istio.io/canonical-revision", "app.kubernetes.io/version", "version"];
const WORKLOAD_NAME_LABEL = "service.istio.io/workload-name";
/** A Job named `<cronjob>-<8 to 10 digit timestamp>` belongs to that CronJob. */
const CRONJOB_JOB = /^(.+)-\d{8,10}$/;

function firstLabel(labels: Record<string, string>, keys: string[]): string | undefined {
  for (const k of keys) if (k in labels) return labels[k];
  return undefined;
}

/**
 * kube.GetWorkloadMetaFromPod: the label `service.istio.io/workload-name`,
 * else the controller that made a generated pod (a ReplicaSet with the pod's
 * template hash means its Deployment, a Job with a timestamp its CronJob),
 * else the pod's own name.
 */
export function podWorkloadName(metadata: Record<string, unknown>): string {
  const name = typeof metadata.name === "string" ? metadata.name : "";
  const labels = isStringMap(metadata.labels) ? metadata.labels : {};
  const fromLabel = labels[WORKLOAD_NAME_LABEL];
  if (fromLabel !== undefined) return fromLabel;
  if (typeof metadata.generateName !== "string" || metadata.generateName === "") return name;
  const refs = Array.isArray(metadata.ownerReferences) ? metadata.ownerReferences : [];
  const controller = refs.find((r): r is Record<string, unknown> => typeof r === "object" && r !== null && (r as Record<string, unknown>).controller === true);
  const ownerName = typeof controller?.name === "string" ? controller.name : "";
  if (!controller || ownerName === "") return name;
  const hash = labels["pod-template-hash"];
  const rolloutHash = labels["rollouts-pod-template-hash"];
  if (controller.kind === "ReplicaSet" && hash && ownerName.endsWith(hash)) return ownerName.slice(0, -(hash.length + 1));
  if (controller.kind === "ReplicaSet" && rolloutHash && ownerName.endsWith(rolloutHash)) return ownerName.slice(0, -(rolloutHash.length + 1));
  if (controller.kind === "ReplicationController" && labels.deploymentconfig) return labels.deploymentconfig;
  if (controller.kind === "Job") return CRONJOB_JOB.exec(ownerName)?.[1] ?? ownerName;
  return ownerName;
}

/** The `istio.workload` value; istiod leaves out the default revision "latest". */
export function istioWorkloadValue(workload: string, namespace: string, labels: Record<string, string>): string {
  const canonicalName = firstLabel(labels, NAME_LABELS) ?? workload;
  const revision = firstLabel(labels, REVISION_LABELS) ?? "latest";
  return [workload, namespace, canonicalName, revision === "latest" ? "" : revision, ISTIO_CLUSTER_ID].join(";");
}

function isStringMap(v: unknown): v is Record<string, string> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
