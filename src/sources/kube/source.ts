/**
 * The Kubernetes source: keeps a ConfigStore in step with a live cluster.
 *
 * One Reflector (list + watch) per resource type, each writing under its own
 * store source id (`kube/services`, `kube/virtualservices`, ...), so a relist
 * can replace exactly that type's objects.
 *
 * start() checks what a user can fix before anything runs: the kubeconfig,
 * that the API server answers and accepts the credentials, and that RBAC
 * allows list and watch on the core types (Services, EndpointSlices or
 * Endpoints, Pods, and, unless limited to a namespace, Nodes and Namespaces).
 * Any of these failing rejects start() with one line. After start() nothing
 * is fatal: every informer retries with backoff and keeps the last config.
 *
 * Istio CRDs are optional: one that is not installed (or that RBAC hides) is
 * warned about once and looked for again every `crdPollMs`; its informer
 * starts when it shows up. Nodes and Namespaces are optional too when the
 * watch is limited to a namespace, since a namespaced Role cannot grant them.
 * Secrets (gateway credentials) are optional the same way: without RBAC for
 * them the rest is served, and a gateway credential is reported as missing.
 *
 * Readiness: not ready until every informer that was running has listed once.
 * Once reached it stays (a CRD installed later must not flap /ready and pull
 * the control plane out of its Service).
 */
import type { Diagnostic } from "../../model/types";
import type { ConfigStore } from "../../store";
import type { Logger } from "../../log";
import { probeAccess } from "./access";
import type { BackoffOptions } from "./backoff";
import { Backoff } from "./backoff";
import { ApiError } from "./errors";
import { KubeHttp, type ApiClient, type Query } from "./http";
import { loadKubeConfig, type KubeConfigLookup } from "./kubeconfig";
import { KubeStartError, connectionFailure, rbacFailure, type Connection } from "./messages";
import { Reflector, type ReflectorState } from "./reflector";
import {
  Discovery,
  ENDPOINTS,
  ENDPOINT_SLICES,
  ISTIO_TYPES,
  NAMESPACES,
  NODES,
  PODS,
  SECRETS,
  SECRET_FIELD_SELECTOR,
  SERVICES,
  listPath,
  type ResolvedResource,
  type ResourceType,
} from "./resources";
import { KindWriter } from "./writer";

export interface KubeSourceOptions {
  /** kubeconfig path; else $KUBECONFIG, else in-cluster credentials, else ~/.kube/config. */
  kubeconfig?: string;
  /** Watch only this namespace. */
  namespace?: string;
  store: ConfigStore;
  log: Logger;
  /** Called with the complete current list of per-object diagnostics whenever it changes. */
  onDiagnostics?: (d: Diagnostic[]) => void;
  /** How often to look again for Istio CRDs that are missing or forbidden. Default 15 s. */
  crdPollMs?: number;
  /** Reconnect backoff. Default 100 ms doubling to 10 s. */
  backoff?: BackoffOptions;
  /** Server-side watch timeout; default a random 300-600 s per watch. */
  watchTimeoutSeconds?: number;
  /** Timeout of each start-up check. Default 10 s. */
  connectTimeoutMs?: number;
  /** Environment and home for finding the kubeconfig (tests). */
  lookup?: Omit<KubeConfigLookup, "explicit">;
}

export interface InformerStatus {
  resource: string;
  apiVersion?: string;
  state: ReflectorState | "not-installed" | "forbidden" | "unknown";
  synced: boolean;
  /** Objects in its last full list, and when that was. */
  listed: number;
  lastList?: string;
  lastError?: string;
}

export interface KubeSource {
  /** Resolves once the cluster answered and RBAC allows the core types; rejects with a one-line KubeStartError. */
  start(): Promise<void>;
  ready(): { ready: boolean; reason?: string };
  stop(): Promise<void>;
  /** Current per-object diagnostics (objects left out, and warnings on accepted ones). */
  diagnostics(): Diagnostic[];
  /** One row per resource type, for /debug. */
  status(): InformerStatus[];
}

type Waiting = "not-installed" | "forbidden" | "unknown";

interface Informer {
  type: ResourceType;
  required: boolean;
  query: Query;
  resolved?: ResolvedResource;
  writer?: KindWriter;
  reflector?: Reflector;
  /** Why an optional informer is not running; undefined while it runs. */
  waiting?: Waiting;
  /** The message last warned about, to warn once per state. */
  warned?: string;
  /** apiVersion of an unsettled discovery result, waiting for confirmation by the next look. */
  candidate?: string;
}

const DEFAULT_CRD_POLL_MS = 15_000;
/** Delay before confirming a type found only at an older version. */
const CONFIRM_MS = 1_000;

export function createKubeSource(opts: KubeSourceOptions): KubeSource {
  return new KubeSourceImpl(opts);
}

class KubeSourceImpl implements KubeSource {
  private readonly ac = new AbortController();
  private readonly informers = new Map<string, Informer>();
  private readonly recheckBackoff: Backoff;
  private client: ApiClient | undefined;
  private conn: Connection | undefined;
  private phase: "new" | "starting" | "running" | "stopped" = "new";
  private readyLatched = false;
  private timer: NodeJS.Timeout | undefined;
  private timerDue = Infinity;
  private checking: Promise<void> | undefined;

  constructor(private readonly opts: KubeSourceOptions) {
    this.recheckBackoff = new Backoff({ initialMs: 500, maxMs: this.pollMs });
  }

  private get pollMs(): number {
    return this.opts.crdPollMs ?? DEFAULT_CRD_POLL_MS;
  }

  private get checkTimeoutMs(): number {
    return this.opts.connectTimeoutMs ?? 10_000;
  }

  async start(): Promise<void> {
    if (this.phase !== "new") throw new Error("kube source: start() called twice");
    this.phase = "starting";
    try {
      await this.startChecked();
    } catch (e) {
      await this.stop();
      throw e instanceof KubeStartError ? e : connectionFailure(e, this.conn ?? { server: "(unknown)", user: "(unknown)", from: "kubeconfig" });
    }
  }

  private async startChecked(): Promise<void> {
    const loaded = loadKubeConfig({ ...this.opts.lookup, ...(this.opts.kubeconfig ? { explicit: this.opts.kubeconfig } : {}) });
    this.conn = { server: loaded.server, user: loaded.user, from: loaded.from };
    const client = (this.client = new KubeHttp(loaded.kc, loaded.server));
    // /version proves reachability and credentials (a refused token gets 401 even here); a
    // hardened cluster may forbid it to this identity, which proves the same.
    const version = await client.getJSON<{ gitVersion?: string }>("/version", {}, this.requestOpts()).catch((e: unknown) => {
      if (e instanceof ApiError && e.reason === "forbidden") return {} as { gitVersion?: string };
      throw e;
    });
    const discovery = new Discovery(client, { signal: this.ac.signal, timeoutMs: this.checkTimeoutMs });
    const slices = (await discovery.resolve(ENDPOINT_SLICES))?.resource ?? core(ENDPOINTS);
    if (slices.kind === "Endpoints") this.opts.log.warn("kube: discovery.k8s.io/v1 EndpointSlices are not served; falling back to core/v1 Endpoints");

    const ns = this.opts.namespace;
    const required: ResolvedResource[] = [core(SERVICES), slices, core(PODS), ...(ns ? [] : [core(NODES), core(NAMESPACES)])];
    const optional: ResourceType[] = [...(ns ? [NODES, NAMESPACES] : []), ...ISTIO_TYPES, SECRETS];
    for (const r of required) this.informers.set(r.id, { type: r, required: true, query: this.queryFor(r), resolved: r });
    for (const t of optional) this.informers.set(t.id, { type: t, required: false, query: this.queryFor(t) });

    // Every denial at once, so a user fixing RBAC does not discover them one restart at a time.
    const denied = (await Promise.all(required.map((r) => this.checkAccess(r)))).filter((d): d is string => d !== undefined);
    if (denied.length > 0) throw new KubeStartError("forbidden", denied.join("; "));

    this.opts.log.info(
      { server: loaded.server, version: version.gitVersion, from: loaded.from, namespace: ns ?? "(all)" },
      `kube: connected to ${loaded.server} (${version.gitVersion ?? "unknown version"}) using ${loaded.from}`,
    );
    for (const r of required) this.run(this.informers.get(r.id) as Informer, r);
    await this.checkPending(discovery);
    this.phase = "running";
    this.updateReadiness();
    if (this.pending().length > 0) this.schedule(this.pollMs);
  }

  private requestOpts(): { signal: AbortSignal; idleTimeoutMs: number } {
    return { signal: this.ac.signal, idleTimeoutMs: this.checkTimeoutMs };
  }

  /** With a namespace limit, the Namespace informer watches just that one; Secrets only of types that can be credentials. */
  private queryFor(t: ResourceType): Query {
    if (t.id === SECRETS.id) return { fieldSelector: SECRET_FIELD_SELECTOR };
    return t.id === NAMESPACES.id && this.opts.namespace ? { fieldSelector: `metadata.name=${this.opts.namespace}` } : {};
  }

  /** undefined when list and watch are allowed; the RBAC message when not; throws on anything else. */
  private async checkAccess(r: ResolvedResource): Promise<string | undefined> {
    const query = this.informers.get(r.id)?.query ?? {};
    const denied = await probeAccess(this.client as ApiClient, listPath(r, this.opts.namespace), query, {
      signal: this.ac.signal,
      timeoutMs: this.checkTimeoutMs,
    });
    return denied && rbacFailure(denied.verb, r, this.opts.namespace, denied.err, this.conn as Connection);
  }

  private run(inf: Informer, r: ResolvedResource): void {
    inf.resolved = r;
    inf.waiting = undefined;
    inf.writer = new KindWriter({
      sourceId: `kube/${r.id}`,
      kind: r.kind,
      apiVersion: r.apiVersion,
      namespaced: r.namespaced,
      store: this.opts.store,
      log: this.opts.log,
      onDiagnosticsChanged: () => this.opts.onDiagnostics?.(this.diagnostics()),
    });
    inf.reflector = new Reflector({
      name: r.id,
      client: this.client as ApiClient,
      path: listPath(r, this.opts.namespace),
      query: inf.query,
      sink: inf.writer,
      log: this.opts.log,
      ...(this.opts.backoff ? { backoff: this.opts.backoff } : {}),
      ...(this.opts.watchTimeoutSeconds ? { watchTimeoutSeconds: () => this.opts.watchTimeoutSeconds as number } : {}),
      ...(inf.required ? {} : { onNotFound: (err: ApiError) => this.gone(inf, err) }),
      onState: () => this.updateReadiness(),
    });
    inf.reflector.start();
  }

  /** An optional type stopped being served: keep its objects, look for it again soon. */
  private gone(inf: Informer, err: ApiError): void {
    inf.reflector = undefined;
    this.note(
      inf,
      "not-installed",
      `kube: ${inf.type.plural} is no longer served (${err.detail ?? err.message}); keeping its objects and looking for it again`,
    );
    if (this.phase === "running") this.schedule(this.recheckBackoff.next());
    this.updateReadiness();
  }

  private pending(): Informer[] {
    return [...this.informers.values()].filter((i) => !i.required && !i.reflector);
  }

  /** Warn once per state change of an optional informer; repeat checks log at debug. */
  private note(inf: Informer, waiting: Waiting, message: string): void {
    inf.waiting = waiting;
    if (inf.warned === message) return this.opts.log.debug({ resource: inf.type.id }, message);
    inf.warned = message;
    this.opts.log.warn({ resource: inf.type.id }, message);
  }

  /** Try to start every optional informer that is not running. */
  private async checkPending(discovery = new Discovery(this.client as ApiClient, { signal: this.ac.signal, timeoutMs: this.checkTimeoutMs })): Promise<void> {
    const again = `serving the rest; checking again every ${this.pollMs < 1000 ? `${this.pollMs} ms` : `${Math.round(this.pollMs / 1000)} s`}`;
    await Promise.all(
      this.pending().map(async (inf) => {
        const t = inf.type;
        try {
          const found = await discovery.resolve(t);
          if (this.ac.signal.aborted || inf.reflector) return;
          if (!found) {
            inf.candidate = undefined;
            const what = t.crd ? `${t.kind} is not installed (no CRD ${t.plural}.${t.group} serving ${t.versions.join(", ")})` : `${t.plural} is not served`;
            return this.note(inf, "not-installed", `kube: ${what}; ${again}`);
          }
          const r = found.resource;
          if (!found.settled && inf.candidate !== r.apiVersion) {
            // Probably a CRD still being established: look again shortly before settling on an older version.
            inf.candidate = r.apiVersion;
            this.opts.log.debug({ resource: t.id }, `kube: ${t.plural} is served at ${r.apiVersion} while a newer version is listed; confirming`);
            return this.schedule(Math.min(this.pollMs, CONFIRM_MS));
          }
          inf.candidate = undefined;
          const denied = await this.checkAccess(r);
          if (this.ac.signal.aborted || inf.reflector) return;
          if (denied) return this.note(inf, "forbidden", `kube: ${denied}; ${again}`);
          if (inf.warned) this.opts.log.info({ resource: t.id }, `kube: ${t.plural} (${r.apiVersion}) is available now; watching it`);
          inf.warned = undefined;
          this.recheckBackoff.reset();
          this.run(inf, r);
        } catch (e) {
          if (this.ac.signal.aborted) return;
          this.note(inf, "unknown", `kube: cannot check for ${t.plural}: ${(e as Error).message}; ${again}`);
        }
      }),
    );
  }

  /** Run checkPending at most `ms` from now (an earlier request wins), then keep polling while anything is pending. */
  private schedule(ms: number): void {
    if (this.phase !== "running" && this.phase !== "starting") return;
    const due = Date.now() + ms;
    if (this.timer && this.timerDue <= due) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerDue = Infinity;
      if (this.checking) return this.schedule(Math.min(this.pollMs, CONFIRM_MS));
      this.checking = this.checkPending().finally(() => {
        this.checking = undefined;
        if (this.pending().length > 0) this.schedule(this.pollMs);
      });
    }, ms);
    this.timer.unref();
  }

  ready(): { ready: boolean; reason?: string } {
    if (this.phase === "new" || this.phase === "starting") return { ready: false, reason: "not started" };
    if (this.phase === "stopped") return { ready: false, reason: "stopped" };
    if (this.readyLatched) return { ready: true };
    const why = this.unsynced().map((i) => {
      const err = i.reflector?.lastError;
      return `${i.type.plural}${err ? ` (${err.detail ?? err.message})` : ""}`;
    });
    return { ready: false, reason: `waiting for the first list of ${why.join(", ")}` };
  }

  private unsynced(): Informer[] {
    return [...this.informers.values()].filter((i) => i.reflector && !i.reflector.synced);
  }

  /** On every informer state change: latch readiness the moment the last running informer has listed. */
  private updateReadiness(): void {
    if (this.readyLatched || this.phase !== "running" || this.unsynced().length > 0) return;
    this.readyLatched = true;
    this.opts.log.info("kube: every informer has listed once; ready");
  }

  async stop(): Promise<void> {
    if (this.phase === "stopped") return;
    this.phase = "stopped";
    this.ac.abort();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.checking;
    await Promise.all([...this.informers.values()].map((i) => i.reflector?.stop()));
  }

  diagnostics(): Diagnostic[] {
    return [...this.informers.values()]
      .sort((a, b) => (a.type.id < b.type.id ? -1 : a.type.id > b.type.id ? 1 : 0))
      .flatMap((i) => i.writer?.diagnostics() ?? []);
  }

  status(): InformerStatus[] {
    return [...this.informers.values()]
      .map((i): InformerStatus => {
        const r = i.reflector;
        const err = r?.lastError?.message;
        return {
          resource: i.type.id,
          ...(i.resolved ? { apiVersion: i.resolved.apiVersion } : {}),
          state: r ? r.state : (i.waiting ?? "unknown"),
          synced: r?.synced ?? false,
          listed: r?.listed ?? 0,
          ...(r?.lastSync ? { lastList: r.lastSync.toISOString() } : {}),
          ...(err ? { lastError: err } : {}),
        };
      })
      .sort((a, b) => (a.resource < b.resource ? -1 : a.resource > b.resource ? 1 : 0));
  }
}

/** Core (and Endpoints) types are always served at v1: no discovery needed. */
function core(t: ResourceType): ResolvedResource {
  return { ...t, version: "v1", apiVersion: "v1" };
}
