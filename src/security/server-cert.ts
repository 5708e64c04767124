/**
 * The secure xDS port's certificate: issued by the CA for the control plane's
 * DNS names, held in memory only, and issued again at half its life (as
 * istiod renews its own), so the port never serves an expired certificate.
 */
import type { CertificateAuthority } from "./ca";

export interface ServerCertificate {
  certChainPem: string;
  /** Never logged. */
  keyPem: string;
  rootCertPem: string;
  notAfter: Date;
}

export interface ServerCertOptions {
  dnsNames: string[];
  /** Default 24h. */
  ttlMs?: number;
  onIssued(cert: ServerCertificate): void;
  /** What the certificate is for, in log lines (default "secure xDS server certificate"). */
  purpose?: string;
  log?: { info(o: object, msg: string): void; error(o: object, msg: string): void };
}

/** Issue now, then again at half life; a failed issue is retried every 30 s (or sooner near expiry). */
export class ServerCertRotator {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  current: ServerCertificate | undefined;

  constructor(
    private readonly ca: () => CertificateAuthority,
    private readonly opts: ServerCertOptions,
  ) {}

  async start(): Promise<ServerCertificate> {
    await this.issue();
    return this.current!;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async issue(): Promise<void> {
    const now = Date.now();
    const cert = await this.ca().issueServerCertificate({ dnsNames: this.opts.dnsNames, ...(this.opts.ttlMs !== undefined ? { ttlMs: this.opts.ttlMs } : {}) });
    this.current = { certChainPem: cert.certChainPem, keyPem: cert.keyPem, rootCertPem: cert.rootCertPem, notAfter: cert.notAfter };
    this.opts.onIssued(this.current);
    this.opts.log?.info(
      { dnsNames: this.opts.dnsNames, notAfter: cert.notAfter.toISOString() },
      `${this.opts.purpose ?? "secure xDS server certificate"} issued`,
    );
    this.schedule(Math.max(1000, (cert.notAfter.getTime() - now) / 2));
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.issue().catch((e: Error) => {
        this.opts.log?.error({ err: e.message }, `cannot re-issue the ${this.opts.purpose ?? "secure xDS server certificate"}; retrying`);
        const left = (this.current?.notAfter.getTime() ?? 0) - Date.now();
        this.schedule(Math.max(1000, Math.min(30_000, left / 4)));
      });
    }, ms);
    this.timer.unref();
  }
}
