/**
 * What can go wrong talking to the API server, sorted into the few cases the
 * source treats differently: retry quietly (unreachable, server), relist
 * (gone), stop and wait for discovery (notfound: a CRD went away), or tell the
 * user what to fix (unauthorized, forbidden, tls, config).
 */
export type ApiErrorReason =
  | "unreachable" // no TCP connection, or it dropped
  | "timeout" // connected, but no answer in time
  | "tls" // the server's certificate was not trusted (or ours was refused)
  | "auth" // kubeconfig credentials could not be produced (exec plugin, token file)
  | "unauthorized" // 401: credentials refused
  | "forbidden" // 403: RBAC said no
  | "notfound" // 404: the resource type (or object) does not exist
  | "gone" // 410: resourceVersion too old, relist
  | "server" // 5xx, 429
  | "protocol"; // anything else unexpected (other 4xx, unparsable body)

export class ApiError extends Error {
  constructor(
    readonly reason: ApiErrorReason,
    message: string,
    /** HTTP status, when there was a response. */
    readonly status?: number,
    /** The server's Status message or the socket error, without the request in front. */
    readonly detail?: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** A Kubernetes `Status` object, as sent with error responses and watch ERROR events. */
export interface KubeStatus {
  kind?: string;
  code?: number;
  reason?: string;
  message?: string;
}

export function parseStatus(body: string): KubeStatus | undefined {
  try {
    const v = JSON.parse(body) as unknown;
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as KubeStatus) : undefined;
  } catch {
    return undefined;
  }
}

function reasonForStatus(status: number): ApiErrorReason {
  if (status === 401) return "unauthorized";
  if (status === 403) return "forbidden";
  if (status === 404) return "notfound";
  if (status === 410) return "gone";
  if (status === 429 || status >= 500) return "server";
  return "protocol";
}

/** An error response: the Status message when there is one, else the start of the body. */
export function httpError(status: number, body: string, what: string): ApiError {
  const s = parseStatus(body);
  const detail = s?.message ?? (body.trim().split("\n")[0] ?? "").slice(0, 200);
  return new ApiError(reasonForStatus(status), `${what}: HTTP ${status}${detail ? `: ${detail}` : ""}`, status, detail || `HTTP ${status}`);
}

/** A socket-level error from node's http(s) client. */
export function networkError(err: unknown, what: string): ApiError {
  if (err instanceof ApiError) return err;
  const e = err as NodeJS.ErrnoException;
  const code = e?.code ?? "";
  const msg = e?.message ?? String(err);
  if (/^(ERR_TLS|ERR_SSL|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|ERR_OSSL)/.test(code) || /certificate|ssl|tls/i.test(msg)) {
    return new ApiError("tls", `${what}: TLS: ${msg}`, undefined, msg);
  }
  // Everything else at the socket level (refused, reset, DNS, hang-up) means: no usable connection.
  return new ApiError("unreachable", `${what}: ${msg}`, undefined, msg);
}

export function isAbort(err: unknown): boolean {
  return (err as { name?: string })?.name === "AbortError" || (err as { code?: string })?.code === "ABORT_ERR";
}
