/**
 * Watch one ConfigMap key, Istio's mesh config: the `mesh` key of the `istio`
 * ConfigMap in the root namespace. A Reflector (list + watch, field-selected
 * to that one name) feeds `onText` with the key's text, or undefined when the
 * ConfigMap or the key is absent (then the mesh config is the defaults, as in
 * istiod).
 *
 * Optional like the Istio CRDs: when RBAC does not let mini-pilot list and
 * watch ConfigMaps there, it says once which grant is missing and serves
 * without it; nothing here stops the control plane.
 */
import type { Logger } from "../../log";
import { probeAccess } from "./access";
import type { BackoffOptions } from "./backoff";
import { ApiError } from "./errors";
import { KubeHttp } from "./http";
import { loadKubeConfig, type KubeConfigLookup } from "./kubeconfig";
import { Reflector } from "./reflector";
import type { RawObject } from "./writer";

export interface MeshConfigMapOptions {
  kubeconfig?: string;
  namespace: string;
  /** ConfigMap name; Istio's is "istio". */
  name?: string;
  /** The data key; Istio's is "mesh". */
  key?: string;
  log: Logger;
  /** The key's text whenever it changes; undefined: no such ConfigMap or key. */
  onText(text: string | undefined, where: string): void;
  backoff?: BackoffOptions;
  watchTimeoutSeconds?: number;
  lookup?: Omit<KubeConfigLookup, "explicit">;
}

export interface MeshConfigMapWatch {
  /** Resolves after the first list (or once access was found missing). */
  synced: Promise<void>;
  stop(): Promise<void>;
}

export function watchMeshConfigMap(o: MeshConfigMapOptions): MeshConfigMapWatch {
  const name = o.name ?? "istio";
  const key = o.key ?? "mesh";
  const where = `configmap ${o.namespace}/${name} key ${key}`;
  const ac = new AbortController();
  let reflector: Reflector | undefined;
  let last: string | undefined | null = null; // null: nothing reported yet
  const report = (items: readonly RawObject[]) => {
    const cm = items.find((i) => (i.metadata as { name?: string } | undefined)?.name === name);
    const data = cm?.data as Record<string, unknown> | undefined;
    const text = typeof data?.[key] === "string" ? (data[key] as string) : undefined;
    if (text === last) return;
    last = text;
    o.onText(text, where);
  };
  const synced = (async () => {
    const loaded = loadKubeConfig({ ...o.lookup, ...(o.kubeconfig ? { explicit: o.kubeconfig } : {}) });
    const client = new KubeHttp(loaded.kc, loaded.server);
    const path = `/api/v1/namespaces/${encodeURIComponent(o.namespace)}/configmaps`;
    const query = { fieldSelector: `metadata.name=${name}` };
    try {
      const denied = await probeAccess(client, path, query, { signal: ac.signal, timeoutMs: 10_000 });
      if (denied) {
        o.log.warn(
          `kube: RBAC forbids ${denied.verb} on configmaps in namespace ${o.namespace} (user "${loaded.user}"); ` +
            `the mesh config ConfigMap ${o.namespace}/${name} is not watched; grant list and watch on configmaps in namespace ${o.namespace}`,
        );
        return;
      }
    } catch (e) {
      if (ac.signal.aborted) return;
      // Not fatal: the reflector below retries with backoff and says why.
      o.log.warn(`kube: cannot check access to ${where}: ${e instanceof ApiError ? e.message : String(e)}; trying anyway`);
    }
    if (ac.signal.aborted) return;
    let first: () => void = () => undefined;
    const listed = new Promise<void>((resolve) => (first = resolve));
    const items = new Map<string, RawObject>();
    const nameOf = (obj: RawObject) => String((obj.metadata as { name?: string } | undefined)?.name ?? "");
    reflector = new Reflector({
      name: `configmaps ${o.namespace}/${name}`,
      client,
      path,
      query,
      log: o.log,
      ...(o.backoff ? { backoff: o.backoff } : {}),
      ...(o.watchTimeoutSeconds ? { watchTimeoutSeconds: () => o.watchTimeoutSeconds as number } : {}),
      sink: {
        replace(list) {
          items.clear();
          for (const i of list) items.set(nameOf(i), i);
          report([...items.values()]);
          first();
        },
        upsert(obj) {
          items.set(nameOf(obj), obj);
          report([...items.values()]);
        },
        remove(obj) {
          items.delete(nameOf(obj));
          report([...items.values()]);
        },
      },
    });
    reflector.start();
    await Promise.race([listed, new Promise<void>((resolve) => ac.signal.addEventListener("abort", () => resolve(), { once: true }))]);
  })();
  return {
    synced,
    async stop() {
      ac.abort();
      await reflector?.stop();
    },
  };
}
