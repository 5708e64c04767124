/**
 * Who a caller of the secure xDS port is, and which proxies' config it may
 * read. Plugs into the server's AccessControl hook (src/server/access.ts);
 * the server knows nothing of SPIFFE or namespaces.
 *
 * - A client certificate the TLS layer verified against the mesh root (a
 *   workload certificate, as Envoy presents through SDS `default`) is the
 *   identity in its URI SAN.
 * - Otherwise the bearer token in `authorization` metadata, through a
 *   TokenAuthenticator (TokenReview on a cluster, a token file in folder mode).
 * - A proxy's node may be served when its namespace (from the node id
 *   `type~ip~pod.ns~domain`, and node metadata NAMESPACE when sent) is the
 *   identity's namespace, and its SERVICE_ACCOUNT metadata, when sent, is the
 *   identity's service account.
 */
import { X509Certificate } from "node:crypto";
import { CallerRefusedError, GRPC_CODE } from "./errors";
import { parseSpiffeId, spiffeId, type WorkloadIdentity } from "./identity";
import type { TokenAuthenticator } from "./tokens";

export interface MeshCaller extends WorkloadIdentity {
  /** The SPIFFE URI; what the certificate service signs for. */
  identity: string;
  via: "certificate" | "token";
}

export interface Credentials {
  bearerToken?: string;
  peerCertificateDer?: Buffer;
}

export interface MeshNode {
  id: string;
  metadata: Record<string, unknown>;
}

export function meshAccessControl(opts: { trustDomain: string; tokens?: TokenAuthenticator }) {
  return {
    authenticate: (creds: Credentials): Promise<MeshCaller> => authenticate(creds, opts),
    authorizeNode: (caller: MeshCaller, node: MeshNode): string | undefined => authorizeNode(caller, node),
  };
}

async function authenticate(creds: Credentials, opts: { trustDomain: string; tokens?: TokenAuthenticator }): Promise<MeshCaller> {
  if (creds.peerCertificateDer) return fromCertificate(creds.peerCertificateDer, opts.trustDomain);
  if (creds.bearerToken !== undefined) {
    if (!opts.tokens)
      throw new CallerRefusedError(
        GRPC_CODE.UNAUTHENTICATED,
        "bearer tokens are not accepted here (serve has no --token-file and no cluster); use a workload certificate",
      );
    const who = await opts.tokens.authenticate(creds.bearerToken);
    const identity = spiffeId({ trustDomain: opts.trustDomain, ...who });
    return { trustDomain: opts.trustDomain, ...who, identity, via: "token" };
  }
  throw new CallerRefusedError(
    GRPC_CODE.UNAUTHENTICATED,
    "no credentials: send a workload certificate signed by the mesh CA, or a service account token in the authorization metadata (Bearer <token>)",
  );
}

function fromCertificate(der: Buffer, trustDomain: string): MeshCaller {
  let uris: string[];
  try {
    const cert = new X509Certificate(der);
    uris = (cert.subjectAltName ?? "")
      .split(", ")
      .filter((n) => n.startsWith("URI:"))
      .map((n) => n.slice(4));
  } catch (e) {
    throw new CallerRefusedError(GRPC_CODE.UNAUTHENTICATED, `the client certificate does not parse: ${(e as Error).message}`);
  }
  if (uris.length !== 1)
    throw new CallerRefusedError(GRPC_CODE.UNAUTHENTICATED, `the client certificate has ${uris.length} URI SANs; a workload certificate has one SPIFFE id`);
  let id: WorkloadIdentity;
  try {
    id = parseSpiffeId(uris[0]!);
  } catch (e) {
    throw new CallerRefusedError(GRPC_CODE.UNAUTHENTICATED, `the client certificate: ${(e as Error).message}`);
  }
  if (id.trustDomain !== trustDomain)
    throw new CallerRefusedError(GRPC_CODE.UNAUTHENTICATED, `the client certificate's identity ${uris[0]} is outside trust domain "${trustDomain}"`);
  return { ...id, identity: uris[0]!, via: "certificate" };
}

/** The namespace in an Istio node id `type~ip~pod.ns~domain`, when the id has that shape. */
export function nodeIdNamespace(id: string): string | undefined {
  const parts = id.split("~");
  if (parts.length !== 4) return undefined;
  const podDotNs = parts[2]!;
  const dot = podDotNs.lastIndexOf(".");
  return dot > 0 ? podDotNs.slice(dot + 1) : undefined;
}

export function authorizeNode(caller: MeshCaller, node: MeshNode): string | undefined {
  const who = `${caller.identity} (from its ${caller.via})`;
  const ns = nodeIdNamespace(node.id);
  if (ns === undefined) return `node id "${node.id}" is not <type>~<ip>~<pod>.<namespace>~<domain>, so its namespace cannot be checked against ${who}`;
  if (ns !== caller.namespace) return `${who} may only get config for proxies in namespace "${caller.namespace}"; node "${node.id}" is in "${ns}"`;
  const metaNs = node.metadata.NAMESPACE;
  if (typeof metaNs === "string" && metaNs !== "" && metaNs !== caller.namespace) {
    return `${who} may only get config for proxies in namespace "${caller.namespace}"; node "${node.id}" says NAMESPACE "${metaNs}"`;
  }
  const sa = node.metadata.SERVICE_ACCOUNT;
  if (typeof sa === "string" && sa !== "" && sa !== caller.serviceAccount) {
    return `${who} may only get config for proxies of service account "${caller.serviceAccount}"; node "${node.id}" says SERVICE_ACCOUNT "${sa}"`;
  }
  return undefined;
}
