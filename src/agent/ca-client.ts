/**
 * The agent's side of Istio's certificate service: make a key and a CSR for
 * the workload identity, send the CSR (never the key) to the control plane's
 * TLS port with the service account token as `authorization: Bearer`, and
 * return the signed chain. The control plane is verified with the mesh root
 * (the istio-ca-root-cert ConfigMap, mounted) and its DNS name.
 */
import * as grpc from "@grpc/grpc-js";
import { CREATE_CERTIFICATE_PATH, decodeCertificateResponse, encodeCertificateRequest } from "../security/ca-service";
import { workloadCsr } from "../security/workload-csr";
import type { WorkloadCertificate } from "./secrets";
import { X509Certificate } from "node:crypto";

export interface CaClientOptions {
  /** host:port of the control plane's secure port. */
  address: string;
  /** PEM roots the control plane's certificate must chain to. */
  rootPem: string;
  /** The name the control plane's certificate must carry (TLS server name). */
  serverName: string;
  identity: string;
  /** Read fresh before each request (a projected token is rotated by the kubelet). */
  token(): string;
  ttlSeconds: number;
  timeoutMs?: number;
}

export class CaRequestError extends Error {
  constructor(
    readonly code: number | undefined,
    message: string,
  ) {
    super(message);
    this.name = "CaRequestError";
  }
}

export async function requestWorkloadCertificate(o: CaClientOptions): Promise<WorkloadCertificate & { signMs: number }> {
  const { keyPem, csrPem } = await workloadCsr(o.identity);
  const creds = grpc.credentials.createSsl(Buffer.from(o.rootPem));
  const client = new grpc.Client(o.address, creds, { "grpc.ssl_target_name_override": o.serverName, "grpc.default_authority": o.serverName });
  const md = new grpc.Metadata();
  md.set("authorization", `Bearer ${o.token()}`);
  const started = Date.now();
  try {
    const reply = await new Promise<Buffer>((resolve, reject) => {
      client.makeUnaryRequest(
        CREATE_CERTIFICATE_PATH,
        (b: Buffer) => b,
        (b: Buffer) => b,
        encodeCertificateRequest({ csr: csrPem, validitySeconds: o.ttlSeconds }),
        md,
        { deadline: Date.now() + (o.timeoutMs ?? 15_000) },
        (err, value) => (err ? reject(new CaRequestError(err.code, `${o.address}: ${err.details || err.message}`)) : resolve(value!)),
      );
    });
    const chain = decodeCertificateResponse(reply);
    if (chain.length < 2) throw new CaRequestError(undefined, `${o.address} answered with ${chain.length} certificates; want the leaf and the root`);
    const leaf = new X509Certificate(chain[0]!);
    if (!(leaf.subjectAltName ?? "").split(", ").includes(`URI:${o.identity}`)) {
      throw new CaRequestError(undefined, `${o.address} issued a certificate for ${leaf.subjectAltName ?? "no name"}, not ${o.identity}`);
    }
    return {
      certChainPem: chain.slice(0, -1).map(withNewline).join(""),
      keyPem,
      rootPem: withNewline(chain[chain.length - 1]!),
      notAfter: new Date(leaf.validTo),
      signMs: Date.now() - started,
    };
  } finally {
    client.close();
  }
}

function withNewline(pem: string): string {
  return pem.endsWith("\n") ? pem : `${pem}\n`;
}
