/**
 * TLS for a listener whose certificate changes while it runs. grpc-js reads
 * server certificates from a certificate provider and swaps its secure
 * context when the provider says so; new handshakes get the new certificate,
 * open connections keep theirs.
 *
 * Client certificates are asked for but not required: a caller may come with
 * a bearer token instead. One that is sent is checked against `caPem` by the
 * TLS layer, and only a verified one reaches the access control.
 */
import * as grpc from "@grpc/grpc-js";

type CaListener = (u: { caCertificate: Buffer } | null) => void;
type IdentityListener = (u: { certificate: Buffer; privateKey: Buffer } | null) => void;

export interface ServerTlsMaterial {
  certChainPem: string;
  /** Held in memory only; never logged. */
  keyPem: string;
  /** The roots client certificates must chain to. */
  caPem: string;
}

export class RotatingServerTls {
  private material: ServerTlsMaterial | undefined;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  readonly credentials: grpc.ServerCredentials;

  constructor() {
    // grpc-js registers its own watcher only after adding these listeners, so the current
    // material is handed over a microtask later: given at once, it would reach nobody.
    const provider = {
      addCaCertificateListener: (l: CaListener) => {
        this.caListeners.add(l);
        queueMicrotask(() => this.material && this.caListeners.has(l) && l({ caCertificate: Buffer.from(this.material.caPem) }));
      },
      removeCaCertificateListener: (l: CaListener) => void this.caListeners.delete(l),
      addIdentityCertificateListener: (l: IdentityListener) => {
        this.identityListeners.add(l);
        queueMicrotask(
          () =>
            this.material &&
            this.identityListeners.has(l) &&
            l({ certificate: Buffer.from(this.material.certChainPem), privateKey: Buffer.from(this.material.keyPem) }),
        );
      },
      removeIdentityCertificateListener: (l: IdentityListener) => void this.identityListeners.delete(l),
    };
    this.credentials = grpc.experimental.createCertificateProviderServerCredentials(provider, provider, false);
  }

  /** Serve this certificate from the next handshake on. */
  update(material: ServerTlsMaterial): void {
    this.material = material;
    for (const l of this.caListeners) l({ caCertificate: Buffer.from(material.caPem) });
    for (const l of this.identityListeners) l({ certificate: Buffer.from(material.certChainPem), privateKey: Buffer.from(material.keyPem) });
  }
}
