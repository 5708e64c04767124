/**
 * A CA kept in a folder with Istio's `cacerts` layout:
 *   ca-cert.pem     the certificate that signs workload certificates
 *   ca-key.pem      its private key (mode 0600)
 *   root-cert.pem   the root(s) workloads trust
 *   cert-chain.pem  the chain from ca-cert.pem up to the root
 * A self-signed CA made by `ca init` uses the same layout (ca-cert.pem is the root).
 * Reading checks everything (ca-checks.ts); a folder with some files but not all
 * is an error, never filled in or replaced.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync, chmodSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { randomBytes, type KeyObject, type X509Certificate } from "node:crypto";
import { checkCa, type CheckedChain } from "./ca-checks";
import { CaFolderError } from "./errors";
import { parseCertificates, parsePrivateKey } from "./pem";

export const CA_FILES = { caCert: "ca-cert.pem", caKey: "ca-key.pem", rootCert: "root-cert.pem", certChain: "cert-chain.pem" } as const;
const ALL = Object.values(CA_FILES);

/** A checked CA: ready to sign. */
export interface CaMaterial {
  dir: string;
  caCert: X509Certificate;
  caKey: KeyObject;
  roots: X509Certificate[];
  chain: CheckedChain;
  /** Things that work but deserve attention (a key readable by others, a certificate near expiry). */
  warnings: string[];
}

/** What the folder holds: nothing of a CA yet, all four files, or some of them (an error). */
export function caFolderState(dir: string): { state: "empty" } | { state: "complete" } | { state: "partial"; missing: string[] } {
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new CaFolderError(dir, ["is not a directory"]);
  const missing = ALL.filter((f) => !existsSync(join(dir, f)));
  if (missing.length === ALL.length) return { state: "empty" };
  if (missing.length === 0) return { state: "complete" };
  return { state: "partial", missing };
}

function readText(dir: string, file: string, problems: string[]): string | undefined {
  try {
    return readFileSync(join(dir, file), "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    problems.push(code === "ENOENT" ? `${file} is missing` : `${file} cannot be read (${code ?? (e as Error).message})`);
    return undefined;
  }
}

function attempt<T>(problems: string[], f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    problems.push((e as Error).message);
    return undefined;
  }
}

/** The four PEM texts of a CA, by part (undefined: missing, with the reason in `problems`). */
export type CaTexts = Partial<Record<keyof typeof CA_FILES, string>>;

/** Read and check a CA folder at `now`; throws CaFolderError listing every problem. */
export function readCaFolder(dir: string, now = new Date()): CaMaterial {
  if (!existsSync(dir)) throw new CaFolderError(dir, ["does not exist"]);
  if (!statSync(dir).isDirectory()) throw new CaFolderError(dir, ["is not a directory"]);
  const problems: string[] = [];
  const text: CaTexts = {
    caCert: readText(dir, CA_FILES.caCert, problems),
    caKey: readText(dir, CA_FILES.caKey, problems),
    rootCert: readText(dir, CA_FILES.rootCert, problems),
    certChain: readText(dir, CA_FILES.certChain, problems),
  };
  const material = checkCaTexts(text, dir, now, problems);
  const mode = statSync(join(dir, CA_FILES.caKey)).mode & 0o777;
  if ((mode & 0o077) !== 0) material.warnings.push(`${CA_FILES.caKey} is readable by others (mode 0${mode.toString(8)}); chmod 600 it`);
  return material;
}

/**
 * Parse and check a CA's texts from anywhere (a folder, a Kubernetes Secret);
 * `where` names the source in errors. Throws CaFolderError listing every problem.
 */
export function checkCaTexts(text: CaTexts, where: string, now = new Date(), problems: string[] = []): CaMaterial {
  const dir = where;
  const caCerts = text.caCert === undefined ? undefined : attempt(problems, () => parseCertificates(text.caCert as string, CA_FILES.caCert));
  const caKey = text.caKey === undefined ? undefined : attempt(problems, () => parsePrivateKey(text.caKey as string, CA_FILES.caKey));
  const roots = text.rootCert === undefined ? undefined : attempt(problems, () => parseCertificates(text.rootCert as string, CA_FILES.rootCert));
  const chain = text.certChain === undefined ? undefined : attempt(problems, () => parseCertificates(text.certChain as string, CA_FILES.certChain));
  if (caCerts && caCerts.length !== 1) {
    problems.push(`${CA_FILES.caCert} holds ${caCerts.length} certificates, want exactly one (intermediates go in ${CA_FILES.certChain})`);
  }
  if (problems.length > 0 || !caCerts || !caKey || !roots || !chain) throw new CaFolderError(dir, problems);

  const caCert = caCerts[0] as X509Certificate;
  const checked = checkCa({ caCert, caKey, roots, chain }, CA_FILES, now);
  if (!checked.chain) throw new CaFolderError(dir, checked.problems);
  return { dir, caCert, caKey, roots, chain: checked.chain, warnings: [...checked.warnings] };
}

/**
 * Write a new CA into an empty folder (created 0700). Each file is written
 * under a temporary name and renamed in, so a reader never sees half a file;
 * the key is 0600, certificates 0644. Refuses a folder that already has any CA file.
 */
export function writeCaFolder(dir: string, pems: { caCert: string; caKey: string; rootCert: string; certChain: string }): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const state = caFolderState(dir);
  if (state.state !== "empty") throw new CaFolderError(dir, ["already holds CA files; refusing to overwrite them"]);
  const tag = randomBytes(6).toString("hex");
  const staged: [string, string][] = [];
  try {
    for (const [part, file] of Object.entries(CA_FILES) as [keyof typeof CA_FILES, string][]) {
      const tmp = join(dir, `.${file}.${tag}.tmp`);
      const mode = part === "caKey" ? 0o600 : 0o644;
      writeFileSync(tmp, pems[part], { mode, flag: "wx" });
      chmodSync(tmp, mode); // the umask may have narrowed the mode given to open(2)
      staged.push([tmp, join(dir, file)]);
    }
    for (const [tmp, final] of staged) renameSync(tmp, final);
  } catch (e) {
    for (const [tmp] of staged) if (existsSync(tmp)) unlinkSync(tmp);
    throw e;
  }
}

/** Write a file atomically (temporary name, then rename) with `mode`, creating its folder. */
export function writeFileAtomic(file: string, text: string, mode: number): void {
  const dir = join(file, "..");
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${randomBytes(6).toString("hex")}.tmp`);
  writeFileSync(tmp, text, { mode, flag: "wx" });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}
