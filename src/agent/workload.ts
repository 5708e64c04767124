/**
 * The agent's workload identity: the SDS server on its Unix socket and the
 * certificate rotation behind it. The first certificate is awaited (retrying
 * with backoff and saying why) before Envoy starts, as pilot-agent does; then
 * it is renewed at half life and pushed on Envoy's open SDS streams.
 */
import * as fs from "node:fs";
import { requestWorkloadCertificate } from "./ca-client";
import { CertificateRotation } from "./rotation";
import { SdsServer } from "./sds-server";

export interface WorkloadIdentityOptions {
  identity: string;
  caAddress: string;
  caServerName: string;
  /** File with the roots that signed the control plane's certificate. */
  caRootFile: string;
  tokenFile: string;
  ttlSeconds: number;
  graceRatio: number;
  sdsSocket: string;
  log: { info(msg: string): void; warn(msg: string): void };
  /** Give up waiting for the first certificate when this says so (a signal arrived). */
  cancelled(): boolean;
}

export interface RunningIdentity {
  sds: SdsServer;
  rotation: CertificateRotation;
  stop(): void;
}

function readFile(file: string, what: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`${what} ${file}: ${code === "ENOENT" ? "no such file" : (e as Error).message}`);
  }
}

export async function startWorkloadIdentity(o: WorkloadIdentityOptions): Promise<RunningIdentity | undefined> {
  const sds = new SdsServer(o.log);
  await sds.listen(o.sdsSocket);
  const rotation = new CertificateRotation({
    fetch: () =>
      requestWorkloadCertificate({
        address: o.caAddress,
        rootPem: readFile(o.caRootFile, "CA root certificate"),
        serverName: o.caServerName,
        identity: o.identity,
        // Read per request: the kubelet rotates projected tokens. Only its absence is reported, never its content.
        token: () => readFile(o.tokenFile, "token file").trim(),
        ttlSeconds: o.ttlSeconds,
      }),
    onCertificate: (c) => sds.update(c),
    graceRatio: o.graceRatio,
    log: o.log,
  });
  o.log.info(`SDS on ${o.sdsSocket}; asking ${o.caAddress} (as ${o.caServerName}) for ${o.identity}`);
  for (let attempt = 0; ; attempt++) {
    try {
      await rotation.start();
      break;
    } catch (e) {
      const wait = Math.min(30_000, 1000 * 2 ** attempt);
      o.log.warn(`cannot get a workload certificate: ${(e as Error).message}; retrying in ${wait / 1000}s`);
      const until = Date.now() + wait;
      while (Date.now() < until) {
        if (o.cancelled()) {
          sds.shutdown();
          return undefined;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
  return {
    sds,
    rotation,
    stop: () => {
      rotation.stop();
      sds.shutdown();
    },
  };
}
