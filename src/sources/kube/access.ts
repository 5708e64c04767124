/**
 * Does RBAC let us list and watch a resource? Asked by doing it (a one-item
 * list, then a watch dropped as soon as it opens) rather than through
 * SelfSubjectAccessReview, so the answer is the one the informer will get,
 * whatever authorizers the cluster chains.
 */
import { ApiError } from "./errors";
import type { ApiClient, Query } from "./http";

export type Verb = "list" | "watch";

/** undefined when both are allowed; the refused verb and the 403 when not; throws on anything else. */
export async function probeAccess(
  client: ApiClient,
  path: string,
  query: Query,
  opts: { signal: AbortSignal; timeoutMs: number },
): Promise<{ verb: Verb; err: ApiError } | undefined> {
  let verb: Verb = "list";
  try {
    const list = await client.getJSON<{ metadata?: { resourceVersion?: string } }>(
      path,
      { ...query, limit: 1 },
      { signal: opts.signal, idleTimeoutMs: opts.timeoutMs },
    );
    verb = "watch";
    await probeWatch(client, path, { ...query, resourceVersion: list.metadata?.resourceVersion, timeoutSeconds: 1 }, opts);
    return undefined;
  } catch (e) {
    if (e instanceof ApiError && e.reason === "forbidden") return { verb, err: e };
    throw e;
  }
}

/** Authorization happens before the 200 is sent: once the watch opens, it is allowed, and it is closed. */
async function probeWatch(client: ApiClient, path: string, query: Query, opts: { signal: AbortSignal; timeoutMs: number }): Promise<void> {
  const probe = new AbortController();
  const stop = (): void => probe.abort();
  opts.signal.addEventListener("abort", stop, { once: true });
  let opened = false;
  try {
    await client.watch(path, query, () => undefined, {
      signal: probe.signal,
      idleTimeoutMs: opts.timeoutMs,
      onOpen: () => {
        opened = true;
        probe.abort();
      },
    });
  } catch (e) {
    if (!opened) throw e;
  } finally {
    opts.signal.removeEventListener("abort", stop);
  }
}
