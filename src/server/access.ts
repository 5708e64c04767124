/**
 * Who may call the server, decided outside it. A listener can carry an
 * AccessControl: every call on it is authenticated first (from the bearer
 * token in the `authorization` metadata and the TLS peer certificate, when the
 * TLS layer verified one), and a stream's first node is authorized against the
 * caller. The server only moves credentials and verdicts; what an identity is
 * and what it may see is the hook's business (see src/security/access.ts).
 */
import type { NodeInfo } from "../cache/snapshot-cache";

/** What a call carries to prove who it is. Never logged: the token is a secret. */
export interface CallCredentials {
  /** The `authorization: Bearer <token>` metadata, without "Bearer ". */
  bearerToken?: string;
  /** DER of the client certificate, present only when the TLS handshake verified it against the listener's CA. */
  peerCertificateDer?: Buffer;
  /** "ip:port", for messages. */
  peer: string;
}

/** gRPC status codes an access hook may answer with. */
export const ACCESS_STATUS = { UNAUTHENTICATED: 16, PERMISSION_DENIED: 7, INVALID_ARGUMENT: 3, INTERNAL: 13, UNAVAILABLE: 14 } as const;

/**
 * The status a hook's error ends the call with: its numeric `code` (a gRPC
 * status, as the hooks' refusals carry), else INTERNAL. The message is sent to
 * the caller, so hooks keep secrets out of it.
 */
export function statusOf(e: unknown): number {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "number" && Number.isInteger(code) && code > 0 && code < 17 ? code : ACCESS_STATUS.INTERNAL;
}

export interface AccessControl<Caller = unknown> {
  /** The caller, or an error with a numeric gRPC `code` (UNAUTHENTICATED, or UNAVAILABLE when the verifier cannot be reached). */
  authenticate(creds: CallCredentials): Promise<Caller>;
  /** undefined when `caller` may receive config for `node`; else the reason (the call ends PERMISSION_DENIED). */
  authorizeNode(caller: Caller, node: NodeInfo): string | undefined;
}

/** A unary method served next to xDS, on listeners with an AccessControl only. */
export interface UnaryMethod {
  /** "/package.Service/Method" */
  path: string;
  /** Bytes in, bytes out; throw an error with a numeric gRPC `code` for a status other than INTERNAL. */
  handle(request: Buffer, caller: unknown): Promise<Buffer>;
}

/** "Bearer abc" → "abc"; anything else → undefined. */
export function bearerToken(values: readonly (string | Buffer)[]): string | undefined {
  for (const v of values) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(String(v));
    if (m) return m[1];
  }
  return undefined;
}
