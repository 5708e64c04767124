/**
 * The containers and volumes injection adds, as Kubernetes JSON:
 *  - istio-init: `mini-pilot iptables` with the pod's capture arguments, as
 *    root with NET_ADMIN/NET_RAW only (it changes the pod's netns and exits);
 *  - istio-proxy: `mini-pilot agent` as UID/GID 1337 (the exempt owner), with
 *    the downward-API environment src/bootstrap/env.ts reads, the labels file,
 *    the readiness probe on 15021 /healthz/ready; with a CA address, xDS over
 *    TLS to it (`--xds-tls`) unless plaintext is asked for (settings.ts).
 */
import { xdsTarget, type InjectSettings } from "./settings";
import { INIT_CONTAINER, PROXY_CONTAINER } from "./policy";

export type Json = Record<string, unknown>;

export const ENVOY_VOLUME = "istio-envoy";
export const PODINFO_VOLUME = "istio-podinfo";
const ENVOY_DIR = "/etc/istio/proxy";
/** Istio's volumes for workload certificates: the projected token, the mesh root, the SDS socket. */
const TOKEN_VOLUME = "istio-token";
const ROOT_VOLUME = "istiod-ca-cert";
const SDS_VOLUME = "workload-socket";
const PODINFO_DIR = "/etc/istio/pod";

/** Who the proxy works for: fills ISTIO_META_WORKLOAD_NAME and ISTIO_META_OWNER. */
export interface Workload {
  name: string;
  /** e.g. kubernetes://apis/apps/v1/namespaces/default/deployments/web */
  owner?: string;
}

export function initContainer(args: string[], s: InjectSettings): Json {
  return {
    name: INIT_CONTAINER,
    image: s.image,
    imagePullPolicy: s.imagePullPolicy,
    args,
    resources: { requests: { cpu: "10m", memory: "40Mi" }, limits: { cpu: "100m", memory: "128Mi" } },
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { add: ["NET_ADMIN", "NET_RAW"], drop: ["ALL"] },
      privileged: false,
      readOnlyRootFilesystem: false,
      runAsGroup: 0,
      runAsNonRoot: false,
      runAsUser: 0,
    },
  };
}

const field = (fieldPath: string): Json => ({ valueFrom: { fieldRef: { apiVersion: "v1", fieldPath } } });

/** The application containers' ports, as Istio's ISTIO_META_POD_PORTS lists them. */
function podPorts(containers: Json[]): string {
  const ports: Json[] = [];
  for (const c of containers) {
    for (const p of (c.ports as Json[] | undefined) ?? []) {
      const out: Json = {};
      for (const k of ["name", "containerPort"]) if (p[k] !== undefined) out[k] = p[k];
      // Kubernetes' default, filled in before the webhook sees the pod: kube-inject must write the same.
      out.protocol = p.protocol ?? "TCP";
      ports.push(out);
    }
  }
  return JSON.stringify(ports);
}

export function proxyContainer(appContainers: Json[], workload: Workload, s: InjectSettings): Json {
  const env: Json[] = [
    { name: "POD_NAME", ...field("metadata.name") },
    { name: "POD_NAMESPACE", ...field("metadata.namespace") },
    { name: "INSTANCE_IP", ...field("status.podIP") },
    { name: "SERVICE_ACCOUNT", ...field("spec.serviceAccountName") },
    { name: "HOST_IP", ...field("status.hostIP") },
    { name: "ISTIO_META_NODE_NAME", ...field("spec.nodeName") },
    { name: "ISTIO_META_POD_PORTS", value: podPorts(appContainers) },
    { name: "ISTIO_META_APP_CONTAINERS", value: appContainers.map((c) => String(c.name)).join(",") },
    { name: "ISTIO_META_CLUSTER_ID", value: s.clusterId },
    { name: "ISTIO_META_INTERCEPTION_MODE", value: "REDIRECT" },
    { name: "ISTIO_META_WORKLOAD_NAME", value: workload.name },
    ...(workload.owner ? [{ name: "ISTIO_META_OWNER", value: workload.owner }] : []),
    { name: "ISTIO_META_MESH_ID", value: s.meshId },
    { name: "TRUST_DOMAIN", value: s.trustDomain },
    // pilot-agent's certificate settings: the agent reads the token and the root from the volumes below.
    ...(s.caAddress
      ? [
          { name: "CA_ADDR", value: s.caAddress },
          { name: "PILOT_CERT_PROVIDER", value: "istiod" },
        ]
      : []),
  ];
  const xds = xdsTarget(s);
  // --xds-tls: Envoy's xds-grpc presents the agent's SDS `default` certificate and trusts `ROOTCA`.
  const tls = xds.tls && !s.agentArgs.includes("--xds-tls") ? ["--xds-tls"] : [];
  return {
    name: PROXY_CONTAINER,
    image: s.image,
    imagePullPolicy: s.imagePullPolicy,
    args: ["agent", "--xds-address", xds.address, ...tls, "--labels-file", `${PODINFO_DIR}/labels`, "--out", `${ENVOY_DIR}/envoy-rev0.json`, ...s.agentArgs],
    env,
    ports: [{ containerPort: 15090, name: "http-envoy-prom", protocol: "TCP" }],
    readinessProbe: { httpGet: { path: "/healthz/ready", port: 15021 }, initialDelaySeconds: 1, periodSeconds: 2, timeoutSeconds: 3, failureThreshold: 4 },
    resources: s.proxyResources,
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
      privileged: false,
      readOnlyRootFilesystem: true,
      runAsGroup: s.proxyGid,
      runAsNonRoot: true,
      runAsUser: s.proxyUid,
    },
    volumeMounts: [
      { name: ENVOY_VOLUME, mountPath: ENVOY_DIR },
      { name: PODINFO_VOLUME, mountPath: PODINFO_DIR },
      ...(s.caAddress
        ? [
            { name: SDS_VOLUME, mountPath: "/var/run/secrets/workload-spiffe-uds" },
            { name: TOKEN_VOLUME, mountPath: "/var/run/secrets/tokens", readOnly: true },
            { name: ROOT_VOLUME, mountPath: "/var/run/secrets/istio", readOnly: true },
          ]
        : []),
    ],
  };
}

/**
 * With certificates on, Istio's three: the SDS socket's folder, a projected service account token
 * for audience istio-ca (what TokenReview checks), and the istio-ca-root-cert ConfigMap.
 */
function certificateVolumes(s: Pick<InjectSettings, "caAddress">): Json[] {
  if (!s.caAddress) return [];
  return [
    { name: SDS_VOLUME, emptyDir: {} },
    { name: TOKEN_VOLUME, projected: { sources: [{ serviceAccountToken: { audience: "istio-ca", expirationSeconds: 43200, path: "istio-token" } }] } },
    { name: ROOT_VOLUME, configMap: { name: "istio-ca-root-cert" } },
  ];
}

export function volumes(s: Pick<InjectSettings, "caAddress"> = { caAddress: "" }): Json[] {
  return [
    { name: ENVOY_VOLUME, emptyDir: { medium: "Memory" } },
    {
      name: PODINFO_VOLUME,
      downwardAPI: {
        items: [
          { path: "labels", fieldRef: { fieldPath: "metadata.labels" } },
          { path: "annotations", fieldRef: { fieldPath: "metadata.annotations" } },
        ],
      },
    },
    ...certificateVolumes(s),
  ];
}
