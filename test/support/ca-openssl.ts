/**
 * Real OpenSSL for the CA tests: make keys, CSRs and plugged-in CA folders the
 * way an operator would (`openssl req`, `openssl x509 -req`), and verify what
 * the CA issued with `openssl verify`.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function tempDir(prefix = "mp-ca-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Run openssl; returns stdout, throws with stderr on failure. */
export function openssl(args: string[], opts: { cwd?: string; input?: string } = {}): string {
  try {
    return execFileSync("openssl", args, { cwd: opts.cwd, input: opts.input, stdio: ["pipe", "pipe", "pipe"], encoding: "utf8" });
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    throw new Error(`openssl ${args.join(" ")} failed: ${err.stderr ?? ""}${err.stdout ?? ""}${err.message}`);
  }
}

/** `openssl verify`: returns [ok, output] instead of throwing, so tests can assert failures too. */
export function opensslVerify(cwd: string, args: string[]): { ok: boolean; out: string } {
  try {
    return { ok: true, out: execFileSync("openssl", ["verify", ...args], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }) };
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string };
    return { ok: false, out: `${err.stdout ?? ""}${err.stderr ?? ""}` };
  }
}

export type KeySpec = "ec" | "rsa:2048" | "rsa:1024" | "ec-p384";

function newKeyArgs(key: KeySpec): string[] {
  if (key === "ec") return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
  if (key === "ec-p384") return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"];
  return ["-newkey", key];
}

/** A CSR (and its key) in `dir`, asking for `san` (OpenSSL syntax, e.g. "URI:spiffe://..."); none when undefined. */
export function makeCsr(dir: string, name: string, san: string | undefined, key: KeySpec = "ec"): { csr: string; key: string } {
  const csr = join(dir, `${name}.csr.pem`);
  const keyFile = join(dir, `${name}.key.pem`);
  openssl(["req", "-new", ...newKeyArgs(key), "-nodes", "-keyout", keyFile, "-subj", "/", ...(san ? ["-addext", `subjectAltName=${san}`] : []), "-out", csr]);
  return { csr, key: keyFile };
}

/** A self-signed root made by openssl: `<name>-cert.pem`, `<name>-key.pem` in dir. */
export function makeRoot(dir: string, name: string, opts: { key?: KeySpec; days?: number; ca?: boolean } = {}): { cert: string; key: string } {
  const cert = join(dir, `${name}-cert.pem`);
  const key = join(dir, `${name}-key.pem`);
  const constraints = opts.ca === false ? "critical,CA:FALSE" : "critical,CA:TRUE";
  openssl([
    "req",
    "-x509",
    "-new",
    ...newKeyArgs(opts.key ?? "ec"),
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-subj",
    `/O=Example/CN=${name}`,
    "-days",
    String(opts.days ?? 3650),
    "-addext",
    `basicConstraints=${constraints}`,
    ...(opts.ca === false ? [] : ["-addext", "keyUsage=critical,keyCertSign,cRLSign"]),
  ]);
  return { cert, key };
}

/** A certificate for a new key signed by `issuer`: an intermediate CA unless `ca: false`. */
export function makeIssued(
  dir: string,
  name: string,
  issuer: { cert: string; key: string },
  opts: { key?: KeySpec; days?: number; ca?: boolean } = {},
): { cert: string; key: string } {
  const cert = join(dir, `${name}-cert.pem`);
  const key = join(dir, `${name}-key.pem`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(
    ext,
    opts.ca === false
      ? "[v3]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
      : "[v3]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
  );
  openssl(["req", "-new", ...newKeyArgs(opts.key ?? "ec"), "-nodes", "-keyout", key, "-out", csr, "-subj", `/O=Example/CN=${name}`]);
  openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    issuer.cert,
    "-CAkey",
    issuer.key,
    "-CAcreateserial",
    "-days",
    String(opts.days ?? 730),
    "-extfile",
    ext,
    "-extensions",
    "v3",
    "-out",
    cert,
  ]);
  return { cert, key };
}

export function read(file: string): string {
  return readFileSync(file, "utf8");
}

/**
 * A plugged-in CA folder in Istio's cacerts layout, made with openssl:
 * root -> [levels-1 intermediates] -> ca-cert. cert-chain.pem is ca-cert, the
 * intermediates and the root, as Istio's tools write it.
 */
export function makePluggedCa(
  work: string,
  opts: { levels?: number; caDays?: number; key?: KeySpec } = {},
): { dir: string; root: { cert: string; key: string }; ca: { cert: string; key: string } } {
  mkdirSync(work, { recursive: true });
  const root = makeRoot(work, "root", { key: opts.key ?? "ec" });
  let issuer = root;
  const above: string[] = [];
  const levels = opts.levels ?? 1;
  for (let i = 1; i < levels; i++) {
    issuer = makeIssued(work, `intermediate${i}`, issuer, { key: opts.key ?? "ec" });
    above.unshift(read(issuer.cert));
  }
  const ca = makeIssued(work, "signing-ca", issuer, { key: opts.key ?? "ec", ...(opts.caDays !== undefined ? { days: opts.caDays } : {}) });
  const dir = join(work, "cacerts");
  mkdirSync(dir);
  writeFileSync(join(dir, "ca-cert.pem"), read(ca.cert));
  writeFileSync(join(dir, "ca-key.pem"), read(ca.key), { mode: 0o600 });
  writeFileSync(join(dir, "root-cert.pem"), read(root.cert));
  writeFileSync(join(dir, "cert-chain.pem"), read(ca.cert) + above.join("") + read(root.cert));
  return { dir, root, ca };
}
