/**
 * Publish the mesh root the way istiod does: a ConfigMap `istio-ca-root-cert`
 * (key `root-cert.pem`) in every namespace, so workloads and the injected
 * agent can trust the control plane. Kept up to date: a new namespace gets
 * it, a deleted or edited one is put back, and a new root (plugged-in CA
 * swapped) is written everywhere.
 *
 * RBAC this takes (src/install/rbac.ts SECURITY_RULES): namespaces list/watch
 * (already granted for the config source) and configmaps get/list/watch/
 * create/update.
 */
import type { CoreV1Api, KubeConfig, KubernetesObject, V1ConfigMap, V1Namespace } from "@kubernetes/client-node";

export const ROOT_CONFIGMAP = "istio-ca-root-cert";
export const ROOT_CONFIGMAP_KEY = "root-cert.pem";
/** Istio labels the ConfigMap so; the watch selects on it. */
const LABEL = { "istio.io/config": "true" };

interface Log {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
}

interface Informer {
  on(event: string, cb: (o: KubernetesObject) => void): void;
  start(): Promise<void>;
  stop(): Promise<void> | void;
}

export class RootCertPublisher {
  private api!: CoreV1Api;
  private informers: Informer[] = [];
  private readonly pending = new Map<string, NodeJS.Timeout>();
  private stopped = false;

  constructor(
    private readonly kc: KubeConfig,
    private rootPem: string,
    private readonly log: Log,
  ) {}

  async start(): Promise<void> {
    const k8s = await import("@kubernetes/client-node");
    this.api = this.kc.makeApiClient(k8s.CoreV1Api);
    const namespaces = k8s.makeInformer<V1Namespace>(this.kc, "/api/v1/namespaces", () => this.api.listNamespace());
    const configMaps = k8s.makeInformer<V1ConfigMap>(
      this.kc,
      "/api/v1/configmaps",
      () => this.api.listConfigMapForAllNamespaces({ labelSelector: "istio.io/config=true" }),
      "istio.io/config=true",
    );
    for (const ev of ["add", "update"]) namespaces.on(ev, (o) => this.later(o.metadata?.name));
    for (const ev of ["update", "delete"]) {
      configMaps.on(ev, (o) => {
        if (o.metadata?.name === ROOT_CONFIGMAP) this.later(o.metadata.namespace);
      });
    }
    for (const inf of [namespaces, configMaps] as Informer[]) {
      inf.on("error", () => {
        if (this.stopped) return;
        this.log.warn({}, "root ConfigMap watch failed; restarting it in 5s");
        setTimeout(() => void inf.start().catch(() => undefined), 5000).unref();
      });
      this.informers.push(inf);
    }
    await Promise.all(this.informers.map((i) => i.start()));
  }

  /** A new root bundle: rewrite every namespace's ConfigMap. */
  async setRoot(rootPem: string): Promise<void> {
    this.rootPem = rootPem;
    const list = await this.api.listNamespace();
    for (const ns of list.items) this.later(ns.metadata?.name);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.pending.values()) clearTimeout(t);
    await Promise.all(this.informers.map((i) => i.stop()));
  }

  /** Coalesce bursts of events for one namespace. */
  private later(ns: string | undefined): void {
    if (!ns || this.stopped || this.pending.has(ns)) return;
    this.pending.set(
      ns,
      setTimeout(() => {
        this.pending.delete(ns);
        this.reconcile(ns).catch((e: Error) => {
          this.log.warn({ namespace: ns, err: firstLine(e) }, `cannot write ConfigMap ${ROOT_CONFIGMAP}; retrying in 10s`);
          setTimeout(() => this.later(ns), 10_000).unref();
        });
      }, 50),
    );
  }

  private async reconcile(ns: string): Promise<void> {
    const body: V1ConfigMap = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: ROOT_CONFIGMAP, namespace: ns, labels: { ...LABEL } },
      data: { [ROOT_CONFIGMAP_KEY]: this.rootPem },
    };
    let existing: V1ConfigMap | undefined;
    try {
      existing = await this.api.readNamespacedConfigMap({ name: ROOT_CONFIGMAP, namespace: ns });
    } catch (e) {
      if ((e as { code?: number }).code !== 404) throw e;
    }
    if (!existing) {
      const nsObj = await this.api.readNamespace({ name: ns }).catch(() => undefined);
      if (!nsObj || nsObj.status?.phase === "Terminating") return;
      await this.api.createNamespacedConfigMap({ namespace: ns, body });
      this.log.info({ namespace: ns }, `published ${ROOT_CONFIGMAP}`);
      return;
    }
    const sameData = existing.data?.[ROOT_CONFIGMAP_KEY] === this.rootPem && Object.keys(existing.data ?? {}).length === 1;
    const sameLabel = existing.metadata?.labels?.["istio.io/config"] === "true";
    if (sameData && sameLabel) return;
    body.metadata = { ...body.metadata, resourceVersion: existing.metadata?.resourceVersion, labels: { ...existing.metadata?.labels, ...LABEL } };
    await this.api.replaceNamespacedConfigMap({ name: ROOT_CONFIGMAP, namespace: ns, body });
    this.log.info({ namespace: ns }, `updated ${ROOT_CONFIGMAP}`);
  }
}

function firstLine(e: Error): string {
  const body = (e as { body?: unknown }).body;
  const msg = body && typeof body === "object" && "message" in body ? String((body as { message: unknown }).message) : e.message;
  return msg.split("\n")[0]!.slice(0, 300);
}
