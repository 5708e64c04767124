/**
 * The transport socket of an outbound cluster (Istio's buildAutoMtlsSettings
 * and applyUpstreamTLSSettings):
 *
 * - a DestinationRule `tls` block decides when there is one: ISTIO_MUTUAL is
 *   the workload's own mTLS (SNI and SANs filled in when the rule leaves them
 *   out), SIMPLE/MUTUAL use files (tls-origination.ts), DISABLE is plaintext;
 * - otherwise auto-mTLS: when the client holds a workload certificate and the
 *   mesh has auto-mTLS on, an in-mesh service whose mesh/namespace
 *   PeerAuthentication does not DISABLE mTLS gets `transport_socket_matches`:
 *   endpoints with `tlsMode: istio` metadata (pods with a sidecar) get mTLS,
 *   the others plaintext. Passthrough (ORIGINAL_DST) clusters cannot match
 *   per endpoint: they get mTLS when every endpoint has a sidecar.
 */
import type { Mesh, MeshPort, MeshService } from "../model/mesh";
import { serviceIdentities, serviceMtlsMode } from "../model/mesh-mtls";
import type { ClientTLSSettings, Subset } from "../model/types";
import type { Cluster } from "./envoy";
import { autoMtlsSocketMatches, istioMutualTransportSocket, istioSni } from "./mtls";
import { tlsOriginationSocket } from "./tls-origination";

export interface ClusterTlsInput {
  mesh: Mesh;
  service: MeshService;
  port: MeshPort;
  subset: Subset | undefined;
  /** The effective DestinationRule tls block for this port and subset. */
  tls: ClientTLSSettings | undefined;
  /** The cluster type already chosen (ORIGINAL_DST cannot match per endpoint). */
  type: Cluster["type"];
  http2: boolean;
  /** The client proxy has a workload certificate (see `clientHasWorkloadCert`). */
  clientMtls: boolean;
}

export function clusterTls(i: ClusterTlsInput): Pick<Cluster, "transport_socket" | "transport_socket_matches"> {
  const tls = i.tls;
  if (tls?.mode === "ISTIO_MUTUAL") return { transport_socket: istioMutual(i, tls) };
  if (tls) return tlsOriginationSocket(tls, i.http2, i.mesh.options);
  if (!i.clientMtls || !i.mesh.options.enableAutoMtls) return {};
  const passthrough = i.type === "ORIGINAL_DST";
  const mode = serviceMtlsMode(i.mesh, i.service, i.port.port, passthrough);
  if (mode === undefined || mode === "DISABLE") return {};
  const socket = istioMutual(i, undefined);
  return passthrough ? { transport_socket: socket } : { transport_socket_matches: autoMtlsSocketMatches(socket) };
}

function istioMutual(i: ClusterTlsInput, tls: ClientTLSSettings | undefined) {
  const { service: svc, port, subset } = i;
  return istioMutualTransportSocket({
    sni: tls?.sni || istioSni(port.port, subset?.name, svc.host),
    subjectAltNames: tls?.subjectAltNames?.length ? tls.subjectAltNames : serviceIdentities(i.mesh, svc),
    http2: i.http2,
  });
}
