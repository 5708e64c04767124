/**
 * The canary against a cluster: reads the app's objects through the API and
 * writes them back with create (POST), replace (PUT with the resourceVersion
 * it read, so a concurrent edit fails with 409 instead of being overwritten)
 * and delete. Credentials and the server come from the Kubernetes source's
 * kubeconfig loader (kubeconfig, KUBECONFIG, in-cluster service account).
 */
import * as http from "node:http";
import * as https from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";
import { loadKubeConfig } from "../sources/kube";
import type { ChangeWriter } from "./apply";
import type { AppState, Raw } from "./objects";
import { type CanaryKind, type Change, Refusal } from "./plan";

const ISTIO_VERSIONS = ["v1", "v1beta1", "v1alpha3"];

export class KubeRequestError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

class KubeWriteClient {
  constructor(
    private readonly kc: KubeConfig,
    readonly server: string,
  ) {}

  async request(method: string, path: string, body?: unknown): Promise<{ status: number; json: Raw }> {
    const url = new URL(this.server + path);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const options: https.RequestOptions = {
      method,
      headers: { accept: "application/json", ...(payload ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } : {}) },
    };
    await this.kc.applyToHTTPSOptions(options);
    const mod = url.protocol === "http:" ? http : https;
    return new Promise((resolve, reject) => {
      const req = mod.request(url, { ...options, timeout: 30_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json: Raw = {};
          try {
            json = text ? (JSON.parse(text) as Raw) : {};
          } catch {
            json = { message: text.slice(0, 200) };
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
        res.on("error", reject);
      });
      req.on("timeout", () => req.destroy(new Error(`${method} ${url.pathname}: no response from ${this.server} in 30 s`)));
      req.on("error", (e) => reject(new Error(`${method} ${url.pathname} at ${this.server}: ${e.message}`)));
      req.end(payload);
    });
  }

  /** The body on 2xx; undefined on 404 when allowed; else an error naming the call and the API's message. */
  async call(method: string, path: string, body?: unknown, allow404 = false): Promise<Raw | undefined> {
    const r = await this.request(method, path, body);
    if (r.status >= 200 && r.status < 300) return r.json;
    if (r.status === 404 && allow404) return undefined;
    throw new KubeRequestError(`${method} ${path}: ${r.status} ${String(r.json.message ?? r.json.reason ?? "")}`.trim(), r.status);
  }
}

export class KubeCanaryBackend implements ChangeWriter {
  readonly where: string;
  private istioVersion = "v1";

  private constructor(
    private readonly client: KubeWriteClient,
    private readonly namespace: string,
    from: string,
  ) {
    this.where = `${from} (${client.server})`;
  }

  static connect(kubeconfig: string | undefined, namespace: string): KubeCanaryBackend {
    const loaded = loadKubeConfig(kubeconfig ? { explicit: kubeconfig } : {});
    return new KubeCanaryBackend(new KubeWriteClient(loaded.kc, loaded.server), namespace, loaded.from);
  }

  private path(kind: CanaryKind | "Service" | "Pod" | "EndpointSlice", name?: string): string {
    const ns = encodeURIComponent(this.namespace);
    const base = {
      Service: `/api/v1/namespaces/${ns}/services`,
      Pod: `/api/v1/namespaces/${ns}/pods`,
      EndpointSlice: `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`,
      Deployment: `/apis/apps/v1/namespaces/${ns}/deployments`,
      DestinationRule: `/apis/networking.istio.io/${this.istioVersion}/namespaces/${ns}/destinationrules`,
      VirtualService: `/apis/networking.istio.io/${this.istioVersion}/namespaces/${ns}/virtualservices`,
    }[kind];
    return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
  }

  private async list(kind: Parameters<KubeCanaryBackend["path"]>[0], apiVersion: string, query = ""): Promise<Raw[]> {
    const r = await this.client.call("GET", this.path(kind) + query);
    return ((r?.items ?? []) as Raw[]).map((o) => ({ apiVersion, kind, ...o }));
  }

  async load(app: string): Promise<AppState> {
    // The Istio API version the cluster serves, newest first.
    let found = false;
    for (const v of ISTIO_VERSIONS) {
      const r = await this.client.call("GET", `/apis/networking.istio.io/${v}`, undefined, true);
      if (r && ((r.resources ?? []) as Raw[]).some((x) => x.name === "virtualservices")) {
        this.istioVersion = v;
        found = true;
        break;
      }
    }
    if (!found) throw new Refusal(`the cluster serves no networking.istio.io VirtualService/DestinationRule (install Istio's CRDs: mini-pilot manifests)`);
    const istio = `networking.istio.io/${this.istioVersion}`;
    const service = await this.client.call("GET", this.path("Service", app), undefined, true);
    const [deployments, pods, endpointSlices, destinationRules, virtualServices] = await Promise.all([
      this.list("Deployment", "apps/v1"),
      this.list("Pod", "v1"),
      this.list("EndpointSlice", "discovery.k8s.io/v1", `?labelSelector=${encodeURIComponent(`kubernetes.io/service-name=${app}`)}`),
      this.list("DestinationRule", istio),
      this.list("VirtualService", istio),
    ]);
    return { namespace: this.namespace, app, ...(service ? { service } : {}), deployments, pods, endpointSlices, destinationRules, virtualServices };
  }

  private withApiVersion(c: Change, o: Raw): Raw {
    const apiVersion = c.kind === "Deployment" ? "apps/v1" : `networking.istio.io/${this.istioVersion}`;
    return { ...o, apiVersion, kind: c.kind };
  }

  async apply(c: Change): Promise<void> {
    if (c.op === "create") await this.client.call("POST", this.path(c.kind), this.withApiVersion(c, c.object));
    else if (c.op === "replace") await this.client.call("PUT", this.path(c.kind, c.name), this.withApiVersion(c, c.object));
    else await this.client.call("DELETE", this.path(c.kind, c.name), { kind: "DeleteOptions", apiVersion: "v1", propagationPolicy: "Background" });
  }

  async undo(c: Change): Promise<void> {
    if (c.op === "create") {
      await this.client.call("DELETE", this.path(c.kind, c.name), { kind: "DeleteOptions", apiVersion: "v1", propagationPolicy: "Background" }, true);
    } else if (c.op === "replace") {
      // Put the old content back over whatever version is there now.
      const now = await this.client.call("GET", this.path(c.kind, c.name));
      const before = this.withApiVersion(c, c.before!);
      before.metadata = { ...before.metadata, resourceVersion: now!.metadata.resourceVersion };
      await this.client.call("PUT", this.path(c.kind, c.name), before);
    } else {
      const o = this.withApiVersion(c, c.object);
      const { name, namespace, labels, annotations } = o.metadata;
      await this.client.call("POST", this.path(c.kind), { ...o, metadata: { name, namespace, labels, annotations }, status: undefined });
    }
  }
}
