/**
 * The one-line errors `start()` rejects with: which thing failed (kubeconfig,
 * reachability, TLS, credentials, RBAC) and what to check. Pure.
 */
import { ApiError } from "./errors";
import { KubeConfigError } from "./kubeconfig";
import { describeResource, type ResolvedResource } from "./resources";

export type StartFailure = "kubeconfig" | "unreachable" | "tls" | "unauthorized" | "credentials" | "forbidden" | "api";

export class KubeStartError extends Error {
  constructor(
    readonly failure: StartFailure,
    message: string,
  ) {
    super(message);
    this.name = "KubeStartError";
  }
}

export interface Connection {
  server: string;
  /** kubeconfig user name. */
  user: string;
  /** Where the config came from: "kubeconfig /path", "in-cluster service account". */
  from: string;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, " ").trim();
}

/** Why the first contact with the API server failed. */
export function connectionFailure(err: unknown, c: Connection): KubeStartError {
  if (err instanceof KubeStartError) return err;
  if (err instanceof KubeConfigError) return new KubeStartError("kubeconfig", oneLine(err.message));
  if (!(err instanceof ApiError))
    return new KubeStartError("api", oneLine(`Kubernetes API server ${c.server}: ${(err as Error)?.message ?? String(err)} (${c.from})`));
  const detail = oneLine(err.detail ?? err.message);
  switch (err.reason) {
    case "unreachable":
    case "timeout":
      return new KubeStartError(
        "unreachable",
        `Kubernetes API server ${c.server} is unreachable: ${detail} (check the server address in ${c.from} and that the API server is running and reachable from here)`,
      );
    case "tls":
      return new KubeStartError(
        "tls",
        `TLS with the Kubernetes API server ${c.server} failed: ${detail} (check certificate-authority(-data) and the server name in ${c.from})`,
      );
    case "unauthorized":
      return new KubeStartError(
        "unauthorized",
        `the Kubernetes API server ${c.server} rejected the credentials of user "${c.user}" (401 Unauthorized: ${detail}) (check the token or client certificate in ${c.from}; it may have expired)`,
      );
    case "auth":
      return new KubeStartError(
        "credentials",
        `cannot get credentials for user "${c.user}": ${detail} (check the user's exec/auth-provider settings in ${c.from})`,
      );
    default:
      return new KubeStartError("api", `Kubernetes API server ${c.server}: ${oneLine(err.message)} (${c.from})`);
  }
}

/** RBAC said no to `verb` on `r`. The server's message names the identity it saw. */
export function rbacFailure(verb: "list" | "watch", r: ResolvedResource, namespace: string | undefined, err: ApiError, c: Connection): string {
  const resource = r.group ? `${r.plural}.${r.group}` : r.plural;
  return (
    `RBAC forbids ${verb} on ${describeResource(r, namespace)}: ${oneLine(err.detail ?? err.message)} ` +
    `(user "${c.user}" from ${c.from}; grant it list and watch on ${resource}${r.namespaced && namespace ? ` in namespace ${namespace}` : ""})`
  );
}
