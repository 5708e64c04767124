/**
 * The security side of `mini-pilot serve`: the CA (opened or created at
 * start), the published root (a file; on a cluster the istio-ca-root-cert
 * ConfigMap in every namespace), and the secure xDS port: TLS with a server
 * certificate from the CA (re-issued at half life), callers authenticated by
 * workload certificate or bearer token, proxies' config limited to their
 * identity's namespace and service account, and Istio's certificate service
 * (CreateCertificate) for `mini-pilot agent`.
 */
import * as os from "node:os";
import * as path from "node:path";
import type { KubeConfig } from "@kubernetes/client-node";
import { CliError, FlagSpec, ParsedFlags, parseHostPort } from "./args";
import type { Logger } from "../log";
import { CertificateAuthority } from "../security/ca";
import { CaFolderError } from "../security/errors";
import { meshAccessControl } from "../security/access";
import { CREATE_CERTIFICATE_PATH, createCertificateHandler } from "../security/ca-service";
import { ServerCertRotator } from "../security/server-cert";
import { RootCertPublisher } from "../security/root-publisher";
import { openOrCreateCaSecret } from "../security/ca-secret";
import { TokenAuthenticator, TokenFileAuthenticator, TokenReviewAuthenticator } from "../security/tokens";
import { checkTrustDomain } from "../security/identity";
import type { XdsServer } from "../server/grpc-server";
import type { UnaryMethod } from "../server/access";
import { RotatingServerTls } from "../server/tls";

/** Istio's names for istiod's certificate, plus mini-pilot's own Service (src/install). */
export const DEFAULT_TLS_DNS_NAMES = [
  "istiod.istio-system.svc",
  "istiod-remote.istio-system.svc",
  "istio-pilot.istio-system.svc",
  "mini-pilot.istio-system.svc",
];

/** Where the CA lives when --ca-dir is not given: the XDG state folder, so it survives restarts. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.XDG_STATE_HOME || path.join(os.homedir(), ".local", "state"), "mini-pilot");
}

export const SECURITY_FLAGS: Record<string, FlagSpec> = {
  "secure-xds-address": {
    type: "string",
    arg: "HOST:PORT|off",
    help: "TLS xDS + certificate service (default: the --xds-address host, port 15012; port 0 when --xds-address has port 0)",
  },
  "ca-dir": {
    type: "string",
    arg: "DIR",
    help: `CA folder (Istio cacerts layout), created on first start (default ${path.join("$XDG_STATE_HOME", "mini-pilot", "ca")})`,
  },
  "root-cert-file": { type: "string", arg: "FILE", help: "where the root certificate is published, 0644 (default: root-cert.pem next to the CA folder)" },
  "tls-dns-names": {
    type: "string",
    arg: "NAME,...",
    help: "DNS names on the secure port's certificate (default istiod, istiod-remote, istio-pilot and mini-pilot .istio-system.svc)",
  },
  "token-file": { type: "string", arg: "FILE", help: "folder mode: bearer tokens to identities, one '<namespace>/<service-account> <token>' a line" },
  "trust-domain": { type: "string", arg: "DOMAIN", default: "cluster.local", help: "SPIFFE trust domain of workload identities" },
  "server-cert-ttl": { type: "string", arg: "DURATION", default: "24h", help: "lifetime of the secure port's certificate (re-issued at half)" },
};

export interface SecurityPlan {
  address: { host: string; port: number };
  /** The CA (the injection webhook's certificate and caBundle come from it too). */
  ca(): CertificateAuthority;
  /** --tls-dns-names and --server-cert-ttl, which the webhook's certificate follows. */
  dnsNames: string[];
  serverTtlMs: number;
  unary: UnaryMethod[];
  /** Bind the secure port on `server`; resolves to the bound port. */
  listen(server: XdsServer): Promise<number>;
  stop(): Promise<void>;
}

/** Open the CA and prepare the secure port; nothing is bound yet. Undefined with --secure-xds-address off. */
export async function prepareSecurity(
  f: ParsedFlags,
  ctx: { log: Logger; xds: { host: string; port: number }; kube?: KubeConfig; durationMs(v: string, flag: string): number },
): Promise<SecurityPlan | undefined> {
  const rawAddress = f["secure-xds-address"] as string | undefined;
  if (rawAddress === "off") {
    ctx.log.warn({}, "secure xDS port off (--secure-xds-address off): proxies reach only the plaintext, unauthenticated port");
    return undefined;
  }
  const address = rawAddress ? parseHostPort(rawAddress, "secure-xds-address") : { host: ctx.xds.host, port: ctx.xds.port === 0 ? 0 : 15012 };
  const trustDomain = String(f["trust-domain"]);
  try {
    checkTrustDomain(trustDomain);
  } catch (e) {
    throw new CliError(`--trust-domain: ${(e as Error).message}`);
  }
  const dnsNames = String(f["tls-dns-names"] ?? DEFAULT_TLS_DNS_NAMES.join(","))
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (dnsNames.length === 0) throw new CliError("--tls-dns-names wants at least one DNS name");
  const serverTtlMs = ctx.durationMs(String(f["server-cert-ttl"]), "server-cert-ttl");
  if (serverTtlMs < 10_000) throw new CliError("--server-cert-ttl must be at least 10s");

  const explicitDir = f["ca-dir"] as string | undefined;
  const useSecret = ctx.kube !== undefined && explicitDir === undefined;
  const caDir = explicitDir ?? path.join(defaultStateDir(), "ca");
  let ca: CertificateAuthority;
  try {
    const opened = useSecret
      ? await openOrCreateCaSecret(ctx.kube!, String(f["root-namespace"] ?? "istio-system"), { trustDomain })
      : { ...(await CertificateAuthority.openOrCreate(caDir, { trustDomain })), where: caDir };
    ca = opened.ca;
    ctx.log.info({ ca: opened.where, created: opened.created }, `CA ${opened.created ? "created" : "loaded"}: ${ca.describe()}`);
    for (const w of ca.material.warnings) ctx.log.warn({ ca: opened.where }, w);
  } catch (e) {
    if (e instanceof CaFolderError) throw new CliError(`${useSecret ? "CA" : "--ca-dir"}: ${e.message}`);
    throw new CliError(`${useSecret ? "CA" : `--ca-dir ${caDir}`}: ${(e as Error).message}`);
  }
  const rootFile = (f["root-cert-file"] as string | undefined) ?? (useSecret ? undefined : path.join(path.dirname(path.resolve(caDir)), "root-cert.pem"));
  if (rootFile) {
    try {
      ca.writeRootBundle(rootFile);
    } catch (e) {
      throw new CliError(`--root-cert-file ${rootFile}: ${(e as Error).message}`);
    }
    ctx.log.info({ file: rootFile }, "root certificate published");
  }

  let tokens: TokenAuthenticator | undefined;
  try {
    if (f["token-file"]) tokens = new TokenFileAuthenticator(String(f["token-file"]));
    else if (ctx.kube) tokens = new TokenReviewAuthenticator(ctx.kube);
  } catch (e) {
    throw new CliError(`--token-file: ${(e as Error).message}`);
  }
  ctx.log.info(
    { tokens: tokens?.describe ?? "none (workload certificates only)" },
    "secure xDS callers authenticate with a workload certificate or a bearer token",
  );

  const publisher = ctx.kube ? new RootCertPublisher(ctx.kube, ca.rootBundlePem(), ctx.log) : undefined;
  const tls = new RotatingServerTls();
  const rotator = new ServerCertRotator(() => ca, {
    dnsNames,
    ttlMs: serverTtlMs,
    onIssued: (c) => tls.update({ certChainPem: c.certChainPem, keyPem: c.keyPem, caPem: c.rootCertPem }),
    log: ctx.log,
  });
  const access = meshAccessControl({ trustDomain, ...(tokens ? { tokens } : {}) });
  return {
    address,
    ca: () => ca,
    dnsNames,
    serverTtlMs,
    unary: [{ path: CREATE_CERTIFICATE_PATH, handle: createCertificateHandler(() => ca, { log: ctx.log }) }],
    listen: async (server) => {
      await rotator.start();
      if (publisher) await publisher.start();
      return server.listen(`${address.host}:${address.port}`, tls.credentials, access);
    },
    stop: async () => {
      rotator.stop();
      await publisher?.stop();
    },
  };
}
