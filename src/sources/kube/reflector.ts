/**
 * List + watch for one resource type, kept alive by itself.
 *
 * The library's informer can stop for good on some errors without telling
 * anyone; this loop instead owns its whole life: every failure is caught,
 * logged, and followed by a capped, jittered backoff and a fresh list, so
 * whatever changed while it was away is reconciled (the sink's `replace`
 * deletes what is gone). A watch the server ends on schedule (timeoutSeconds)
 * is resumed from the last resourceVersion without a relist; `410 Gone`
 * (resourceVersion too old, on the watch or a list page) relists at once.
 * Nothing here ever clears the sink on a disconnect: the last config keeps
 * serving until the API server says otherwise.
 *
 * A 404 on the list means the type itself is not served (a CRD was deleted,
 * or the API server is still installing CRD handlers after a restart): the
 * reflector stops and hands back to the caller, which waits for discovery to
 * show the type again. Objects are kept meanwhile; deleting a CRD deletes its
 * objects first, and those deletions arrive on the watch.
 */
import type { Logger } from "../../log";
import { Backoff, sleep, type BackoffOptions } from "./backoff";
import { ApiError, isAbort, type KubeStatus } from "./errors";
import type { ApiClient, Query } from "./http";
import type { RawObject } from "./writer";

export interface ReflectorSink {
  replace(items: readonly RawObject[]): void;
  upsert(obj: RawObject): void;
  remove(obj: RawObject): void;
}

export interface ReflectorOptions {
  /** For logs: "services". */
  name: string;
  client: ApiClient;
  path: string;
  /** Extra list/watch parameters, e.g. a fieldSelector. */
  query?: Query;
  sink: ReflectorSink;
  log: Logger;
  backoff?: BackoffOptions;
  /** List page size. Default 500. */
  pageSize?: number;
  /** Server-side watch timeout in seconds; default a random 300-600 (as client-go), so watches do not all end together. */
  watchTimeoutSeconds?: () => number;
  /** Abort a list request that sends nothing for this long. Default 60 s. */
  requestTimeoutMs?: number;
  /** The type is not served (404 on list); the reflector has stopped. */
  onNotFound?: (err: ApiError) => void;
  /** Called on every state change (for readiness and /debug). */
  onState?: () => void;
}

export type ReflectorState = "idle" | "listing" | "watching" | "backoff" | "stopped";

interface KubeList {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: RawObject[];
}

interface WatchEvent {
  type?: string;
  object?: RawObject & KubeStatus;
}

function resourceVersionOf(o: RawObject | undefined): string | undefined {
  const m = o?.metadata as { resourceVersion?: unknown } | undefined;
  return typeof m?.resourceVersion === "string" && m.resourceVersion !== "" ? m.resourceVersion : undefined;
}

function asApiError(e: unknown, name: string): ApiError {
  if (e instanceof ApiError) return e;
  return new ApiError("protocol", `${name}: ${(e as Error)?.message ?? String(e)}`);
}

/** Log a failure streak without flooding: the first, then every 10th, plus whenever the reason changes. */
function shouldWarn(failures: number, reasonChanged: boolean): boolean {
  return failures === 1 || reasonChanged || failures % 10 === 0;
}

export class Reflector {
  private readonly ac = new AbortController();
  private readonly backoff: Backoff;
  private loop: Promise<void> | undefined;
  private _state: ReflectorState = "idle";
  private _synced = false;
  private _lastError: ApiError | undefined;
  private lastReason: string | undefined;
  /** Objects in the last list, for /debug. */
  private _listed = 0;
  private _lastSync: Date | undefined;
  private watchOpenedAt: number | undefined;
  private watchEvents = 0;

  constructor(private readonly opts: ReflectorOptions) {
    this.backoff = new Backoff(opts.backoff);
  }

  get name(): string {
    return this.opts.name;
  }
  get state(): ReflectorState {
    return this._state;
  }
  /** Has completed one full list. */
  get synced(): boolean {
    return this._synced;
  }
  get lastError(): ApiError | undefined {
    return this._lastError;
  }
  get listed(): number {
    return this._listed;
  }
  get lastSync(): Date | undefined {
    return this._lastSync;
  }

  start(): void {
    if (this.loop) return;
    this.loop = this.supervise();
  }

  async stop(): Promise<void> {
    this.ac.abort();
    await this.loop;
    this.setState("stopped");
  }

  private get stopping(): boolean {
    return this.ac.signal.aborted;
  }

  private setState(s: ReflectorState): void {
    if (this._state === s) return;
    this._state = s;
    this.opts.onState?.();
  }

  /** Restart the loop if it ever dies of something unexpected (a bug), rather than going quiet. */
  private async supervise(): Promise<void> {
    while (!this.stopping) {
      try {
        if (await this.run()) return;
      } catch (e) {
        if (this.stopping) break;
        this.opts.log.error({ resource: this.opts.name, err: (e as Error)?.stack ?? String(e) }, `kube: ${this.opts.name} informer crashed; restarting`);
        this.setState("backoff");
        await sleep(this.backoff.next(), this.ac.signal);
      }
    }
    this.setState("stopped");
  }

  /** The list+watch loop. Returns true when it ended for good (404), false when stopped. */
  private async run(): Promise<boolean> {
    let rv: string | undefined;
    let goneInARow = 0;
    while (!this.stopping) {
      try {
        if (rv === undefined) {
          this.setState("listing");
          rv = await this.list();
        }
        this.setState("watching");
        rv = await this.watch(rv);
        goneInARow = 0;
        // A server that ends watches at once would otherwise be hammered.
        if (this.takeHealthy()) this.backoff.reset();
        else await sleep(this.backoff.next(), this.ac.signal);
      } catch (e) {
        if (this.stopping || isAbort(e)) break;
        if (this.takeHealthy()) this.backoff.reset();
        const err = asApiError(e, this.opts.name);
        rv = undefined; // after any failure, relist: reconcile what happened meanwhile
        if (err.reason === "gone") {
          this.opts.log.info({ resource: this.opts.name }, `kube: ${this.opts.name}: resourceVersion expired (410 Gone); relisting`);
          if (++goneInARow > 1) await sleep(this.backoff.next(), this.ac.signal);
          continue;
        }
        if (err.reason === "notfound" && this.opts.onNotFound) {
          this._lastError = err;
          this.setState("stopped");
          this.opts.onNotFound(err);
          return true;
        }
        this.failed(err);
        this.setState("backoff");
        await sleep(this.backoff.next(), this.ac.signal);
      }
    }
    return false;
  }

  private failed(err: ApiError): void {
    const reasonChanged = this.lastReason !== err.reason;
    this._lastError = err;
    this.lastReason = err.reason;
    const failures = this.backoff.failures + 1;
    const fields = { resource: this.opts.name, reason: err.reason, failures };
    const hint = err.reason === "forbidden" ? " (RBAC: grant get/list/watch on it)" : err.reason === "unauthorized" ? " (credentials refused)" : "";
    const msg = `kube: ${this.opts.name}: ${err.message}${hint}; keeping the last config and retrying`;
    if (shouldWarn(failures, reasonChanged)) this.opts.log.warn(fields, msg);
    else this.opts.log.debug(fields, msg);
  }

  /** The watch is open again after failures (the list before it already reconciled). */
  private reconnected(): void {
    if (this._lastError) {
      this.opts.log.info({ resource: this.opts.name, failures: this.backoff.failures }, `kube: ${this.opts.name}: reconnected and resynced`);
    }
    this._lastError = undefined;
    this.lastReason = undefined;
  }

  /**
   * Whether the current watch proved the connection good: it delivered an
   * event or stayed open for a second. Only then does the backoff start over;
   * resetting on a mere successful list would let a list-yes-watch-no setup
   * (RBAC without `watch`) relist in a tight loop.
   */
  private takeHealthy(): boolean {
    const healthy = this.watchEvents > 0 || (this.watchOpenedAt !== undefined && Date.now() - this.watchOpenedAt >= 1000);
    this.watchOpenedAt = undefined;
    this.watchEvents = 0;
    return healthy;
  }

  /** All pages of a consistent list; hands the items to the sink and returns the list's resourceVersion. */
  private async list(): Promise<string | undefined> {
    const items: RawObject[] = [];
    let cont: string | undefined;
    let rv: string | undefined;
    do {
      const page = await this.opts.client.getJSON<KubeList>(
        this.opts.path,
        { ...this.opts.query, limit: this.opts.pageSize ?? 500, continue: cont },
        { signal: this.ac.signal, idleTimeoutMs: this.opts.requestTimeoutMs ?? 60_000 },
      );
      for (const item of page.items ?? []) items.push(item);
      cont = page.metadata?.continue || undefined;
      rv = page.metadata?.resourceVersion;
    } while (cont);
    if (this.stopping) return rv;
    this.opts.sink.replace(items);
    this._listed = items.length;
    this._synced = true;
    this._lastSync = new Date();
    this.opts.onState?.();
    return rv;
  }

  /** One watch from `rv` until the server ends it; returns the last resourceVersion seen. */
  private async watch(rv: string | undefined): Promise<string | undefined> {
    let last = rv;
    this.watchOpenedAt = undefined;
    this.watchEvents = 0;
    const timeoutSeconds = this.opts.watchTimeoutSeconds?.() ?? Math.floor(300 + Math.random() * 300);
    await this.opts.client.watch(
      this.opts.path,
      { ...this.opts.query, resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds },
      (line) => {
        if (this.stopping) return;
        const ev = JSON.parse(line) as WatchEvent;
        this.watchEvents++;
        const obj = ev.object;
        switch (ev.type) {
          case "ADDED":
          case "MODIFIED":
            if (obj) this.opts.sink.upsert(obj);
            break;
          case "DELETED":
            if (obj) this.opts.sink.remove(obj);
            break;
          case "BOOKMARK":
            break;
          case "ERROR": {
            const code = obj?.code ?? 0;
            const reason = code === 410 ? "gone" : code === 403 ? "forbidden" : code === 401 ? "unauthorized" : code === 404 ? "notfound" : "server";
            throw new ApiError(reason, `watch ${this.opts.name}: ${obj?.message ?? "error event"} (code ${code})`, code);
          }
          default:
            throw new ApiError("protocol", `watch ${this.opts.name}: unknown event type ${JSON.stringify(ev.type)}`);
        }
        last = resourceVersionOf(obj) ?? last;
      },
      // The server ends the watch after timeoutSeconds; silence well past that means a dead connection.
      {
        signal: this.ac.signal,
        idleTimeoutMs: (timeoutSeconds + 30) * 1000,
        onOpen: () => {
          this.watchOpenedAt = Date.now();
          this.reconnected();
        },
      },
    );
    return last;
  }
}
