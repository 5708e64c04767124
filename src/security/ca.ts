/**
 * The built-in CA: open (or on first start create) a CA folder, sign workload
 * certificates from CSRs for the identity the caller is allowed, issue server
 * certificates for DNS names, and publish the root bundle.
 *
 * Who may ask for which identity is the caller's decision (a TokenReview, a
 * token file, a peer certificate); this module only enforces that the CSR asks
 * for exactly that identity and nothing else.
 */
import { X509Certificate } from "node:crypto";
import { caFolderState, checkCaTexts, readCaFolder, writeCaFolder, writeFileAtomic, CA_FILES, type CaMaterial, type CaTexts } from "./ca-folder";
import { checkCsr, describeName } from "./csr";
import { CaFolderError, CsrRefusedError } from "./errors";
import { checkTrustDomain, parseSpiffeId } from "./identity";
import { issueLeaf, makeSigner, selfSignedRoot, type Signer } from "./issue";
import { generateKeys, privateKeyPem, type KeyAlgorithm } from "./keys";
import { certificatePem } from "./pem";

const HOUR = 3600_000;
export const DEFAULT_WORKLOAD_TTL_MS = 24 * HOUR;
/** Istio's MAX_WORKLOAD_CERT_TTL default: 90 days. */
export const DEFAULT_MAX_TTL_MS = 90 * 24 * HOUR;
/** Istio's self-signed root lives 10 years (CITADEL_SELF_SIGNED_CA_CERT_TTL). */
export const DEFAULT_ROOT_TTL_MS = 10 * 365 * 24 * HOUR;
/** Leaves start this far in the past so a peer whose clock runs a little behind still accepts them. */
const CLOCK_SKEW_MS = 2 * 60_000;

export interface CreateOptions {
  /** Goes into the root's subject (O=<trust domain>), as Istio's self-signed root. Default cluster.local. */
  trustDomain?: string;
  keyAlgorithm?: KeyAlgorithm;
  rootTtlMs?: number;
}

export interface SignOptions {
  /** The one SPIFFE identity the caller is allowed; the CSR must ask for exactly this. */
  allowedIdentity: string;
  ttlMs?: number;
}

export interface IssuedCertificate {
  /** Leaf first, then the intermediates up to (not including) the root. */
  certChainPem: string;
  rootCertPem: string;
  notAfter: Date;
  /** Set when the lifetime was shortened: by the max TTL, or by the CA's own expiry. */
  capped?: string;
}

export class CertificateAuthority {
  private constructor(
    readonly material: CaMaterial,
    private readonly signer: Signer,
    readonly maxTtlMs: number,
    /** When set, only identities in this trust domain are signed. */
    readonly trustDomain: string | undefined,
  ) {}

  /** Load and check an existing CA folder (self-signed or plugged in); never creates anything. */
  static async load(dir: string, opts: { maxTtlMs?: number; trustDomain?: string; now?: Date } = {}): Promise<CertificateAuthority> {
    if (opts.trustDomain !== undefined) checkTrustDomain(opts.trustDomain);
    const material = readCaFolder(dir, opts.now);
    return new CertificateAuthority(material, await makeSigner(material.caCert, material.caKey), opts.maxTtlMs ?? DEFAULT_MAX_TTL_MS, opts.trustDomain);
  }

  /** A CA from its four PEM texts held elsewhere (a Kubernetes Secret); `where` names it in errors. */
  static async fromTexts(texts: CaTexts, where: string, opts: { maxTtlMs?: number; trustDomain?: string; now?: Date } = {}): Promise<CertificateAuthority> {
    if (opts.trustDomain !== undefined) checkTrustDomain(opts.trustDomain);
    const material = checkCaTexts(texts, where, opts.now);
    return new CertificateAuthority(material, await makeSigner(material.caCert, material.caKey), opts.maxTtlMs ?? DEFAULT_MAX_TTL_MS, opts.trustDomain);
  }

  /**
   * First start: create a self-signed root in an empty (or absent) folder.
   * Later starts: load what is there, so the root never changes on restart.
   * A folder with only some of the files is an error, never replaced.
   */
  static async openOrCreate(
    dir: string,
    opts: CreateOptions & { maxTtlMs?: number; now?: Date } = {},
  ): Promise<{ ca: CertificateAuthority; created: boolean }> {
    const trustDomain = opts.trustDomain ?? "cluster.local";
    checkTrustDomain(trustDomain);
    const state = caFolderState(dir);
    if (state.state === "partial") {
      throw new CaFolderError(dir, [
        `is incomplete: ${state.missing.join(", ")} missing; refusing to replace it (restore the files, or empty the folder to make a new root)`,
      ]);
    }
    let created = false;
    if (state.state === "empty") {
      await createSelfSigned(dir, trustDomain, opts);
      created = true;
    }
    const ca = await CertificateAuthority.load(dir, {
      ...(opts.maxTtlMs !== undefined ? { maxTtlMs: opts.maxTtlMs } : {}),
      trustDomain,
      ...(opts.now ? { now: opts.now } : {}),
    });
    return { ca, created };
  }

  /** True when ca-cert.pem is the root itself (a self-signed CA, no intermediates). */
  get selfSigned(): boolean {
    return this.material.caCert.raw.equals(this.material.chain.root.raw);
  }

  /** The root bundle: every certificate of root-cert.pem (what goes into istio-ca-root-cert). */
  rootBundlePem(): string {
    return this.material.roots.map(certificatePem).join("");
  }

  /** Publish the root bundle to a file (folder mode), 0644, atomically. */
  writeRootBundle(file: string): void {
    writeFileAtomic(file, this.rootBundlePem(), 0o644);
  }

  /** The chain sent after a leaf: the CA certificate and intermediates, without the root. */
  private chainPem(): string {
    const above = this.selfSigned ? [] : [this.material.caCert, ...this.material.chain.intermediates];
    return above.map(certificatePem).join("");
  }

  /** The CA can sign until its first certificate (CA cert, intermediates, root) expires. */
  get signsUntil(): Date {
    const all = [this.material.caCert, ...this.material.chain.intermediates, this.material.chain.root];
    return new Date(Math.min(...all.map((c) => new Date(c.validTo).getTime())));
  }

  private lifetime(ttlMs: number | undefined, now: Date): { notBefore: Date; notAfter: Date; capped?: string } {
    const ttl = ttlMs ?? DEFAULT_WORKLOAD_TTL_MS;
    if (!Number.isFinite(ttl) || ttl <= 0) throw new Error(`certificate TTL must be positive, got ${ttl}ms`);
    const until = this.signsUntil;
    if (now >= until) throw new CaFolderError(this.material.dir, [`the CA expired at ${until.toISOString()}; it cannot sign`]);
    let notAfter = new Date(now.getTime() + Math.min(ttl, this.maxTtlMs));
    let capped = ttl > this.maxTtlMs ? `TTL ${ttl / HOUR}h capped to the max TTL ${this.maxTtlMs / HOUR}h` : undefined;
    if (notAfter > until) {
      notAfter = until;
      capped = `lifetime capped to the CA's expiry ${until.toISOString()}`;
    }
    const notBefore = new Date(Math.max(now.getTime() - CLOCK_SKEW_MS, this.notBeforeFloor()));
    // Certificates hold whole seconds: report the notAfter the certificate will actually carry.
    return { notBefore: wholeSeconds(notBefore), notAfter: wholeSeconds(notAfter), ...(capped ? { capped } : {}) };
  }

  /** A leaf must not start before its CA did (verifiers check nesting strictly in some stacks). */
  private notBeforeFloor(): number {
    return new Date(this.material.caCert.validFrom).getTime();
  }

  /**
   * Sign a workload certificate from a PEM CSR. The CSR's signature must
   * verify, and its subjectAltName must be exactly `allowedIdentity` (one URI,
   * nothing else); the certificate carries that URI only.
   */
  async signCsr(csrPem: string, opts: SignOptions, now = new Date()): Promise<IssuedCertificate> {
    let identity;
    try {
      identity = parseSpiffeId(opts.allowedIdentity);
    } catch (e) {
      throw new CsrRefusedError(`the allowed identity is malformed: ${(e as Error).message}`);
    }
    if (this.trustDomain !== undefined && identity.trustDomain !== this.trustDomain) {
      throw new CsrRefusedError(`identity ${opts.allowedIdentity} is outside this CA's trust domain "${this.trustDomain}"`);
    }
    const csr = await checkCsr(csrPem);
    const names = csr.requestedNames;
    if (names.length === 0) throw new CsrRefusedError(`it asks for no identity (no subjectAltName URI); want URI:${opts.allowedIdentity}`);
    const others = names.filter((n) => !(n.type === "url" && n.value === opts.allowedIdentity));
    if (others.length > 0) {
      throw new CsrRefusedError(`it asks for ${others.map(describeName).join(", ")}, but the caller is allowed only URI:${opts.allowedIdentity}`);
    }
    const life = this.lifetime(opts.ttlMs, now);
    const leaf = await issueLeaf(this.signer, {
      publicKey: csr.publicKey,
      names: [{ type: "url", value: opts.allowedIdentity }],
      notBefore: life.notBefore,
      notAfter: life.notAfter,
    });
    return {
      certChainPem: leaf + this.chainPem(),
      rootCertPem: this.rootBundlePem(),
      notAfter: life.notAfter,
      ...(life.capped ? { capped: life.capped } : {}),
    };
  }

  /**
   * A server certificate for DNS names (the secure xDS port), with a key made
   * here. The key PEM is returned to the caller only: never log it.
   */
  async issueServerCertificate(
    opts: { dnsNames: string[]; ttlMs?: number; keyAlgorithm?: KeyAlgorithm },
    now = new Date(),
  ): Promise<IssuedCertificate & { keyPem: string }> {
    if (opts.dnsNames.length === 0) throw new Error("a server certificate needs at least one DNS name");
    for (const n of opts.dnsNames) {
      if (!/^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/i.test(n)) throw new Error(`"${n}" is not a DNS name`);
    }
    const keys = await generateKeys(opts.keyAlgorithm ?? "ecdsa-p256");
    const life = this.lifetime(opts.ttlMs, now);
    const names = opts.dnsNames.map((value) => ({ type: "dns" as const, value }));
    const leaf = await issueLeaf(this.signer, { publicKey: keys.publicKey, names, notBefore: life.notBefore, notAfter: life.notAfter });
    return {
      certChainPem: leaf + this.chainPem(),
      rootCertPem: this.rootBundlePem(),
      notAfter: life.notAfter,
      keyPem: privateKeyPem(keys.privateKey),
      ...(life.capped ? { capped: life.capped } : {}),
    };
  }

  /** One line about this CA for logs and `ca check`: subjects, expiry, fingerprint; no key material. */
  describe(): string {
    const root = this.material.chain.root;
    const kind = this.selfSigned
      ? "self-signed root"
      : `intermediate CA "${oneLine(this.material.caCert.subject)}" (${this.material.chain.intermediates.length} more intermediates)`;
    return `${kind}; root "${oneLine(root.subject)}" SHA-256 ${root.fingerprint256}, signs until ${this.signsUntil.toISOString()}`;
  }
}

function wholeSeconds(d: Date): Date {
  return new Date(d.getTime() - (d.getTime() % 1000));
}

function oneLine(name: string): string {
  return name.split("\n").filter(Boolean).join(", ");
}

async function createSelfSigned(dir: string, trustDomain: string, opts: CreateOptions & { now?: Date }): Promise<void> {
  writeCaFolder(dir, await selfSignedCaTexts(trustDomain, opts));
}

/** A new self-signed root as the four texts of the cacerts layout (ca-cert.pem is the root). */
export async function selfSignedCaTexts(
  trustDomain: string,
  opts: CreateOptions & { now?: Date } = {},
): Promise<{ caCert: string; caKey: string; rootCert: string; certChain: string }> {
  const now = opts.now ?? new Date();
  const keys = await generateKeys(opts.keyAlgorithm ?? "ecdsa-p256");
  const rootPem = await selfSignedRoot({
    privateKey: keys.privateKey,
    subject: `O=${trustDomain}, CN=mini-pilot self-signed root`,
    notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
    notAfter: new Date(now.getTime() + (opts.rootTtlMs ?? DEFAULT_ROOT_TTL_MS)),
  });
  new X509Certificate(rootPem); // fail here, not on load, if the library ever produced something unparsable
  return { caCert: rootPem, caKey: privateKeyPem(keys.privateKey), rootCert: rootPem, certChain: rootPem };
}

export { CA_FILES };
