/**
 * Istio's certificate service, `istio.v1.auth.IstioCertificateService/
 * CreateCertificate`, as pilot-agent calls it on istiod's port 15012. The
 * messages are declared here with protobufjs reflection, field numbers as
 * Istio's ca.proto has them (so a real pilot-agent's requests decode):
 *
 *   IstioCertificateRequest  { string csr = 1; int64 validity_duration = 3; google.protobuf.Struct metadata = 4; }
 *   IstioCertificateResponse { repeated string cert_chain = 1; }
 *
 * validity_duration is in seconds. The response's cert_chain is the leaf,
 * then its CA chain, then the root last (pilot-agent takes the last entry as
 * the root it trusts).
 */
import * as protobuf from "protobufjs";
import type { CertificateAuthority } from "./ca";
import { CallerRefusedError, CsrRefusedError, GRPC_CODE } from "./errors";
import { pemBlocks } from "./pem";

export const CREATE_CERTIFICATE_PATH = "/istio.v1.auth.IstioCertificateService/CreateCertificate";

// google.protobuf.Struct first (protobufjs ships it), then Istio's two messages.
const root = new protobuf.Root().addJSON(protobuf.common.get("google/protobuf/struct.proto")!.nested!).addJSON(
  {
    nested: {
      istio: {
        nested: {
          v1: {
            nested: {
              auth: {
                nested: {
                  IstioCertificateRequest: {
                    fields: {
                      csr: { type: "string", id: 1 },
                      validity_duration: { type: "int64", id: 3 },
                      metadata: { type: "google.protobuf.Struct", id: 4 },
                    },
                  },
                  IstioCertificateResponse: { fields: { cert_chain: { rule: "repeated", type: "string", id: 1 } } },
                },
              },
            },
          },
        },
      },
    },
  }.nested,
);
root.resolveAll();

const Request = root.lookupType("istio.v1.auth.IstioCertificateRequest");
const Response = root.lookupType("istio.v1.auth.IstioCertificateResponse");

export interface CertificateRequest {
  csr: string;
  /** Seconds; 0 means "the CA's default". */
  validitySeconds: number;
}

export function encodeCertificateRequest(r: CertificateRequest): Buffer {
  return Buffer.from(Request.encode(Request.fromObject({ csr: r.csr, validity_duration: r.validitySeconds })).finish());
}

export function decodeCertificateRequest(bytes: Buffer): CertificateRequest {
  let m: { csr?: string; validity_duration?: number | { toNumber(): number } };
  try {
    m = Request.toObject(Request.decode(bytes), { longs: Number }) as typeof m;
  } catch (e) {
    throw new CallerRefusedError(GRPC_CODE.INVALID_ARGUMENT, `malformed IstioCertificateRequest: ${(e as Error).message}`);
  }
  const v = m.validity_duration;
  return { csr: m.csr ?? "", validitySeconds: typeof v === "number" ? v : (v?.toNumber() ?? 0) };
}

export function encodeCertificateResponse(certChain: string[]): Buffer {
  return Buffer.from(Response.encode(Response.fromObject({ cert_chain: certChain })).finish());
}

export function decodeCertificateResponse(bytes: Buffer): string[] {
  return (Response.toObject(Response.decode(bytes)) as { cert_chain?: string[] }).cert_chain ?? [];
}

/** Who the certificate service signs for: the identity the caller proved (see access.ts). */
export interface CertificateCaller {
  identity: string;
}

/**
 * The CreateCertificate handler: the caller's authenticated identity is the
 * only identity its CSR may ask for. Refusals carry a gRPC code:
 * INVALID_ARGUMENT for a malformed or foreign CSR, PERMISSION_DENIED when it
 * asks for an identity the caller does not have.
 */
export function createCertificateHandler(
  ca: () => CertificateAuthority,
  opts: { log?: { info(o: object, msg: string): void; warn(o: object, msg: string): void } } = {},
): (request: Buffer, caller: unknown) => Promise<Buffer> {
  return async (bytes, caller) => {
    const who = (caller as CertificateCaller).identity;
    const req = decodeCertificateRequest(bytes);
    if (req.csr.trim() === "") throw new CallerRefusedError(GRPC_CODE.INVALID_ARGUMENT, "IstioCertificateRequest.csr is empty");
    if (req.validitySeconds < 0) throw new CallerRefusedError(GRPC_CODE.INVALID_ARGUMENT, `validity_duration ${req.validitySeconds}s is negative`);
    const started = process.hrtime.bigint();
    let issued;
    try {
      issued = await ca().signCsr(req.csr, { allowedIdentity: who, ...(req.validitySeconds > 0 ? { ttlMs: req.validitySeconds * 1000 } : {}) });
    } catch (e) {
      if (!(e instanceof CsrRefusedError)) throw e;
      const code = /the caller is allowed only/.test(e.reason) ? GRPC_CODE.PERMISSION_DENIED : GRPC_CODE.INVALID_ARGUMENT;
      opts.log?.warn({ identity: who, reason: e.reason }, "certificate request refused");
      throw new CallerRefusedError(code, `certificate request for ${who} refused: ${e.reason}`);
    }
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    opts.log?.info(
      { identity: who, notAfter: issued.notAfter.toISOString(), signMs: Math.round(ms * 100) / 100, ...(issued.capped ? { capped: issued.capped } : {}) },
      "workload certificate issued",
    );
    const chain = pemBlocks(issued.certChainPem).map((b) => b.text);
    const roots = pemBlocks(issued.rootCertPem).map((b) => b.text);
    return encodeCertificateResponse([...chain, ...roots]);
  };
}
