/**
 * The running part of the install: the Namespace, the Deployment, the Service
 * proxies connect to and the PodDisruptionBudget that keeps one replica up
 * during node drains.
 */
import {
  LABELS,
  MONITORING_PORT,
  NAME,
  SECURE_XDS_PORT,
  SELECTOR,
  WEBHOOK_PORT,
  WEBHOOK_SERVICE_PORT,
  XDS_PORT,
  type InstallOptions,
  type K8sObject,
} from "./objects";

export function namespace(o: InstallOptions): K8sObject {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name: o.namespace, labels: { ...LABELS } } };
}

/** The image's user (node:20-bookworm-slim's `node`); numeric so the kubelet can verify runAsNonRoot. */
const UID = 1000;

function container(o: InstallOptions): Record<string, unknown> {
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path, port: "http-monitoring" },
    periodSeconds,
    timeoutSeconds: 2,
    failureThreshold,
  });
  return {
    name: "discovery",
    image: o.image,
    imagePullPolicy: "IfNotPresent",
    // The debug/metrics port binds to loopback unless told otherwise; probes and scrapes come from the pod network.
    // The injection webhook injects this same image; its certificate names mini-pilot.<POD_NAMESPACE>.svc.
    args: [
      "serve",
      "--in-cluster",
      "--http-address",
      `0.0.0.0:${MONITORING_PORT}`,
      "--inject-webhook-address",
      `0.0.0.0:${WEBHOOK_PORT}`,
      "--inject-image",
      o.image,
    ],
    env: [
      { name: "LOG_FORMAT", value: "json" },
      { name: "POD_NAMESPACE", valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "metadata.namespace" } } },
    ],
    ports: [
      { name: "grpc-xds", containerPort: XDS_PORT, protocol: "TCP" },
      { name: "https-xds", containerPort: SECURE_XDS_PORT, protocol: "TCP" },
      { name: "http-monitoring", containerPort: MONITORING_PORT, protocol: "TCP" },
      { name: "https-webhook", containerPort: WEBHOOK_PORT, protocol: "TCP" },
    ],
    // /ready turns 200 once every informer has listed; /healthz answers while the process runs.
    readinessProbe: probe("/ready", 5, 3),
    livenessProbe: probe("/healthz", 10, 3),
    // The first list of a large cluster can take a while; liveness must not kill it meanwhile.
    startupProbe: probe("/healthz", 2, 30),
    resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "1Gi" } },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: UID,
      runAsGroup: UID,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ["ALL"] },
    },
  };
}

export function deployment(o: InstallOptions): K8sObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: NAME, namespace: o.namespace, labels: { ...LABELS, ...SELECTOR } },
    spec: {
      replicas: o.replicas,
      selector: { matchLabels: { ...SELECTOR } },
      // Replace one pod at a time and never go below the wanted count: proxies always have somewhere to reconnect.
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: { labels: { ...LABELS, ...SELECTOR } },
        spec: {
          serviceAccountName: NAME,
          securityContext: { runAsNonRoot: true, runAsUser: UID, runAsGroup: UID, fsGroup: UID, seccompProfile: { type: "RuntimeDefault" } },
          // Spread replicas over nodes when there are several, so one node going down leaves a control plane.
          affinity: {
            podAntiAffinity: {
              preferredDuringSchedulingIgnoredDuringExecution: [
                { weight: 100, podAffinityTerm: { topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: { ...SELECTOR } } } },
              ],
            },
          },
          containers: [container(o)],
        },
      },
    },
  };
}

export function service(o: InstallOptions): K8sObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: NAME, namespace: o.namespace, labels: { ...LABELS, ...SELECTOR } },
    spec: {
      type: "ClusterIP",
      selector: { ...SELECTOR },
      ports: [
        { name: "grpc-xds", port: XDS_PORT, targetPort: "grpc-xds", protocol: "TCP", appProtocol: "grpc" },
        // xDS over TLS and the certificate service; the CA lives in the Secret istio-ca-secret.
        { name: "https-xds", port: SECURE_XDS_PORT, targetPort: "https-xds", protocol: "TCP", appProtocol: "grpc" },
        { name: "http-monitoring", port: MONITORING_PORT, targetPort: "http-monitoring", protocol: "TCP", appProtocol: "http" },
        // The sidecar injection webhook: the API server calls https://mini-pilot.<ns>.svc:443/inject.
        { name: "https-webhook", port: WEBHOOK_SERVICE_PORT, targetPort: "https-webhook", protocol: "TCP" },
      ],
    },
  };
}

/**
 * minAvailable 1 lets a drain evict all but one replica. With a single replica
 * it would block every drain forever, so there is none then.
 */
export function podDisruptionBudget(o: InstallOptions): K8sObject | undefined {
  if (o.replicas < 2) return undefined;
  return {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: { name: NAME, namespace: o.namespace, labels: { ...LABELS } },
    spec: { minAvailable: 1, selector: { matchLabels: { ...SELECTOR } } },
  };
}
