/**
 * Bearer tokens to workload identities. On a cluster the API server decides
 * (TokenReview, audience `istio-ca` as Istio asks); in folder mode a token
 * file does. Neither ever puts a token into a message or a log line.
 *
 * Token file format (folder mode), one grant per line:
 *
 *     # comment
 *     <namespace>/<service-account>  <token>
 *
 * Tokens are opaque strings without spaces (at least 16 characters); a token
 * may appear once. The file is re-read when it changes, so tokens are added
 * or revoked without a restart. Keep it mode 0600: a token is a password.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import * as fs from "node:fs";
import type { KubeConfig } from "@kubernetes/client-node";
import { CallerRefusedError, GRPC_CODE } from "./errors";
import { parseSpiffeId, spiffeId } from "./identity";

export interface TokenIdentity {
  namespace: string;
  serviceAccount: string;
}

export interface TokenAuthenticator {
  /** Who holds `token`; a CallerRefusedError (UNAUTHENTICATED / UNAVAILABLE) otherwise. */
  authenticate(token: string): Promise<TokenIdentity>;
  /** For logs: "token file /x" or "TokenReview on https://...". */
  readonly describe: string;
}

/** Istio's audience for tokens sent to the CA (pilot-agent's projected token has it). */
export const ISTIO_CA_AUDIENCE = "istio-ca";

const digest = (s: string): Buffer => createHash("sha256").update(s).digest();

interface Grant {
  hash: Buffer;
  who: TokenIdentity;
}

/** Parse a token file's text; errors name the line, never the token. */
export function parseTokenFile(text: string, file: string): Grant[] {
  const grants: Grant[] = [];
  const problems: string[] = [];
  const seen = new Set<string>();
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const parts = line.split(/\s+/);
    const where = `${file}:${i + 1}`;
    if (parts.length !== 2) return void problems.push(`${where}: want "<namespace>/<service-account> <token>", found ${parts.length} fields`);
    const [who = "", token = ""] = parts;
    const m = /^([^/]+)\/([^/]+)$/.exec(who);
    if (!m) return void problems.push(`${where}: "${who}" is not <namespace>/<service-account>`);
    try {
      parseSpiffeId(spiffeId({ trustDomain: "cluster.local", namespace: m[1]!, serviceAccount: m[2]! }));
    } catch (e) {
      return void problems.push(`${where}: ${(e as Error).message.replace(/^"[^"]*" is not a workload identity: /, "")}`);
    }
    if (token.length < 16) return void problems.push(`${where}: the token is shorter than 16 characters`);
    const key = digest(token).toString("hex");
    if (seen.has(key)) return void problems.push(`${where}: this token is already granted on an earlier line`);
    seen.add(key);
    grants.push({ hash: digest(token), who: { namespace: m[1]!, serviceAccount: m[2]! } });
  });
  if (problems.length) throw new Error(`token file ${problems.length === 1 ? problems[0] : `${file} has problems:\n  - ${problems.join("\n  - ")}`}`);
  return grants;
}

/** Folder mode: the token file decides. */
export class TokenFileAuthenticator implements TokenAuthenticator {
  private grants: Grant[] = [];
  private stamp = "";
  readonly describe: string;

  constructor(private readonly file: string) {
    this.describe = `token file ${file}`;
    this.reload(true);
  }

  /** Re-read when size or mtime changed; a broken edit keeps the last good grants (and says so). */
  private reload(first = false): void {
    let st: fs.Stats;
    try {
      st = fs.statSync(this.file);
    } catch (e) {
      if (first) throw new Error(`token file ${this.file}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message}`);
      return;
    }
    const stamp = `${st.size}:${st.mtimeMs}`;
    if (stamp === this.stamp) return;
    try {
      this.grants = parseTokenFile(fs.readFileSync(this.file, "utf8"), this.file);
      this.stamp = stamp;
    } catch (e) {
      if (first) throw e;
      this.stamp = stamp; // report once per edit
      process.emitWarning(`${(e as Error).message}; keeping the previous grants`);
    }
  }

  authenticate(token: string): Promise<TokenIdentity> {
    this.reload();
    const h = digest(token);
    const hit = this.grants.find((g) => timingSafeEqual(g.hash, h));
    if (!hit) return Promise.reject(new CallerRefusedError(GRPC_CODE.UNAUTHENTICATED, `the bearer token is not in the ${this.describe}`));
    return Promise.resolve(hit.who);
  }
}

/** On a cluster: the API server's TokenReview, with Istio's audience. */
export class TokenReviewAuthenticator implements TokenAuthenticator {
  readonly describe: string;

  constructor(
    private readonly kc: KubeConfig,
    private readonly audiences: string[] = [ISTIO_CA_AUDIENCE],
  ) {
    this.describe = `TokenReview on ${kc.getCurrentCluster()?.server ?? "the API server"} (audience ${audiences.join(", ")})`;
  }

  async authenticate(token: string): Promise<TokenIdentity> {
    const { AuthenticationV1Api } = await import("@kubernetes/client-node");
    const api = this.kc.makeApiClient(AuthenticationV1Api);
    let status;
    try {
      const review = await api.createTokenReview({
        body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token, audiences: this.audiences } },
      });
      status = review.status;
    } catch (e) {
      const code = (e as { code?: number }).code;
      const why = code === 403 ? "mini-pilot may not create TokenReviews (RBAC: authentication.k8s.io tokenreviews create)" : firstLine(e);
      throw new CallerRefusedError(GRPC_CODE.UNAVAILABLE, `cannot verify the token: TokenReview failed: ${why}`);
    }
    if (!status?.authenticated) {
      throw new CallerRefusedError(GRPC_CODE.UNAUTHENTICATED, `the API server rejected the token${status?.error ? `: ${redact(status.error, token)}` : ""}`);
    }
    if (status.audiences && !status.audiences.some((a) => this.audiences.includes(a))) {
      throw new CallerRefusedError(GRPC_CODE.UNAUTHENTICATED, `the token is not for audience ${this.audiences.join(", ")}`);
    }
    const user = status.user?.username ?? "";
    const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(user);
    if (!m) throw new CallerRefusedError(GRPC_CODE.UNAUTHENTICATED, `the token belongs to "${user}", not a service account`);
    return { namespace: m[1]!, serviceAccount: m[2]! };
  }
}

function firstLine(e: unknown): string {
  const body = (e as { body?: unknown }).body;
  const msg =
    typeof body === "string"
      ? body
      : body && typeof body === "object" && "message" in body
        ? String((body as { message: unknown }).message)
        : (e as Error).message;
  return String(msg).split("\n")[0]!.slice(0, 300);
}

/** The API server's error text, with the token cut out should it ever be echoed. */
function redact(text: string, token: string): string {
  return token.length > 0 ? text.split(token).join("[token]") : text;
}
