/**
 * Clients of the secure xDS port for tests: TLS with the mesh root, a bearer
 * token and/or a client certificate, Istio's CreateCertificate, and ADS
 * streams (through TestSotwStream) on the same channel.
 */
import * as grpc from "@grpc/grpc-js";
import { CREATE_CERTIFICATE_PATH, decodeCertificateResponse, encodeCertificateRequest } from "../../src/security/ca-service";

export const SERVER_NAME = "istiod.istio-system.svc";

export interface SecureClientOptions {
  rootPem: string;
  token?: string;
  certChainPem?: string;
  keyPem?: string;
}

export function secureClient(port: number, o: SecureClientOptions): grpc.Client {
  let creds = grpc.credentials.createSsl(Buffer.from(o.rootPem), o.keyPem ? Buffer.from(o.keyPem) : null, o.certChainPem ? Buffer.from(o.certChainPem) : null);
  if (o.token !== undefined) {
    const token = o.token;
    creds = grpc.credentials.combineChannelCredentials(
      creds,
      grpc.credentials.createFromMetadataGenerator((_args, cb) => {
        const md = new grpc.Metadata();
        md.set("authorization", `Bearer ${token}`);
        cb(null, md);
      }),
    );
  }
  return new grpc.Client(`127.0.0.1:${port}`, creds, { "grpc.ssl_target_name_override": SERVER_NAME, "grpc.default_authority": SERVER_NAME });
}

export interface CallError {
  code: number;
  details: string;
}

/** CreateCertificate; resolves to the cert chain (leaf ... root) or rejects with the gRPC status. */
export function createCertificate(client: grpc.Client, csr: string, validitySeconds = 0, metadata = new grpc.Metadata()): Promise<string[]> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      CREATE_CERTIFICATE_PATH,
      (b: Buffer) => b,
      (b: Buffer) => b,
      encodeCertificateRequest({ csr, validitySeconds }),
      metadata,
      { deadline: Date.now() + 15_000 },
      (err, value) => (err ? reject({ code: err.code, details: err.details } as CallError) : resolve(decodeCertificateResponse(value!))),
    );
  });
}
