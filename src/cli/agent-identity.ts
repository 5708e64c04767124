/**
 * The agent's certificate settings, with pilot-agent's environment variables
 * and paths: CA_ADDR (the control plane's TLS port), the projected token at
 * /var/run/secrets/tokens/istio-token (audience istio-ca), the mesh root from
 * the istio-ca-root-cert ConfigMap at /var/run/secrets/istio/root-cert.pem,
 * SECRET_TTL and SECRET_GRACE_PERIOD_RATIO. Certificates are on when a CA
 * address is given, and off with PILOT_CERT_PROVIDER=none.
 */
import * as net from "node:net";
import { CliError, FlagSpec, ParsedFlags, parseHostPort } from "./args";
import { parseIstioDuration } from "../model/validate";
import { checkTrustDomain } from "../security/identity";
import { DEFAULT_SDS_SOCKET } from "../bootstrap/render";
import { DEFAULT_XDS_SERVER_NAME } from "../bootstrap/env";
import type { WorkloadIdentityOptions } from "../agent/workload";

export const DEFAULT_TOKEN_FILE = "/var/run/secrets/tokens/istio-token";
export const DEFAULT_CA_ROOT_FILE = "/var/run/secrets/istio/root-cert.pem";

export const AGENT_IDENTITY_FLAGS: Record<string, FlagSpec> = {
  "ca-address": { type: "string", arg: "HOST:PORT", help: "control plane TLS port for certificates (env CA_ADDR); turns certificates on" },
  "ca-root-cert": { type: "string", arg: "FILE", help: `roots that signed the control plane's certificate (default ${DEFAULT_CA_ROOT_FILE})` },
  "ca-server-name": {
    type: "string",
    arg: "NAME",
    help: `name on the control plane's certificate (default the CA host, or ${DEFAULT_XDS_SERVER_NAME} for an IP)`,
  },
  "token-file": { type: "string", arg: "FILE", help: `service account token sent with the CSR (default ${DEFAULT_TOKEN_FILE})` },
  "cert-ttl": { type: "string", arg: "DURATION", help: "workload certificate lifetime asked for (env SECRET_TTL, default 24h)" },
  "trust-domain": { type: "string", arg: "DOMAIN", help: "SPIFFE trust domain (env TRUST_DOMAIN, default cluster.local)" },
};

/** What the flags and environment decide of the workload identity: its CA connection, TTL and SDS socket. */
export type IdentitySettings = Pick<
  WorkloadIdentityOptions,
  "caAddress" | "caServerName" | "caRootFile" | "tokenFile" | "ttlSeconds" | "graceRatio" | "sdsSocket"
> & {
  trustDomain: string;
};

function str(flags: ParsedFlags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === "string" && v !== "" ? v : undefined;
}

export function identitySettings(flags: ParsedFlags, env: NodeJS.ProcessEnv): IdentitySettings | undefined {
  const caAddress = str(flags, "ca-address") ?? (env.CA_ADDR || undefined);
  if (!caAddress) return undefined;
  if (env.PILOT_CERT_PROVIDER === "none") return undefined;
  const { host } = parseHostPort(caAddress, "ca-address");
  const ttlText = str(flags, "cert-ttl") ?? (env.SECRET_TTL || "24h");
  const ttl = parseIstioDuration(ttlText);
  if (!ttl.ok || ttl.ms < 1000) throw new CliError(`--cert-ttl / SECRET_TTL wants a duration of at least 1s like 24h or 90s, got "${ttlText}"`);
  const ratioText = env.SECRET_GRACE_PERIOD_RATIO || "0.5";
  const graceRatio = Number(ratioText);
  if (!(graceRatio > 0 && graceRatio < 1)) throw new CliError(`SECRET_GRACE_PERIOD_RATIO wants a number between 0 and 1, got "${ratioText}"`);
  const trustDomain = str(flags, "trust-domain") ?? (env.TRUST_DOMAIN || "cluster.local");
  try {
    checkTrustDomain(trustDomain);
  } catch (e) {
    throw new CliError(`--trust-domain: ${(e as Error).message}`);
  }
  return {
    caAddress,
    caServerName: str(flags, "ca-server-name") ?? (net.isIP(host) ? DEFAULT_XDS_SERVER_NAME : host),
    caRootFile: str(flags, "ca-root-cert") ?? DEFAULT_CA_ROOT_FILE,
    tokenFile: str(flags, "token-file") ?? DEFAULT_TOKEN_FILE,
    ttlSeconds: Math.round(ttl.ms / 1000),
    graceRatio,
    sdsSocket: str(flags, "sds-socket") ?? DEFAULT_SDS_SOCKET,
    trustDomain,
  };
}
