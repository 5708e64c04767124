/**
 * Keep a workload certificate fresh the way pilot-agent does: fetch one at
 * start, renew at half its life (Istio's SECRET_GRACE_PERIOD_RATIO 0.5), and
 * on failure retry with capped backoff, sooner than the expiry. Each new
 * certificate goes to `onCertificate` (the SDS server pushes it to Envoy).
 */
import type { WorkloadCertificate } from "./secrets";

export interface RotationOptions {
  fetch(): Promise<WorkloadCertificate & { signMs?: number }>;
  onCertificate(cert: WorkloadCertificate): void;
  /** Fraction of the lifetime after which to renew; default 0.5. */
  graceRatio?: number;
  log: { info(msg: string): void; warn(msg: string): void };
  now?: () => number;
}

export class CertificateRotation {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  current: WorkloadCertificate | undefined;
  rotations = 0;

  constructor(private readonly o: RotationOptions) {}

  /** The first certificate; rejects when it cannot be had (the agent then reports and retries). */
  async start(): Promise<WorkloadCertificate> {
    await this.renew();
    return this.current!;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  private async renew(): Promise<void> {
    const asked = this.now();
    const cert = await this.o.fetch();
    this.current = cert;
    this.rotations++;
    this.o.onCertificate(cert);
    const life = cert.notAfter.getTime() - asked;
    const wait = Math.max(1000, life * (this.o.graceRatio ?? 0.5));
    this.o.log.info(
      `workload certificate ${this.rotations === 1 ? "issued" : "renewed"}, expires ${cert.notAfter.toISOString()}${cert.signMs !== undefined ? ` (CA answered in ${cert.signMs}ms)` : ""}; next renewal in ${Math.round(wait / 1000)}s`,
    );
    this.schedule(wait, 0);
  }

  private schedule(ms: number, failures: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.renew().catch((e: Error) => {
        const left = (this.current?.notAfter.getTime() ?? 0) - this.now();
        const backoff = Math.min(30_000, 1000 * 2 ** failures, Math.max(1000, left / 4));
        this.o.log.warn(
          `cannot renew the workload certificate (${e.message}); retrying in ${Math.round(backoff / 1000)}s, it expires in ${Math.round(left / 1000)}s`,
        );
        this.schedule(backoff, failures + 1);
      });
    }, ms);
    this.timer.unref();
  }
}
