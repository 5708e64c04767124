/**
 * `mini-pilot ca <init|sign|check|root>`: the built-in CA from the command line.
 * Output is certificates and summaries only; private keys stay in the CA folder
 * (ca-key.pem, 0600) and are never printed.
 */
import { readFileSync } from "node:fs";
import { parseIstioDuration } from "../model/validate/duration";
import { CertificateAuthority, DEFAULT_MAX_TTL_MS } from "../security/ca";
import { CaFolderError, CsrRefusedError } from "../security/errors";
import { checkTrustDomain } from "../security/identity";
import { isKeyAlgorithm, KEY_ALGORITHMS } from "../security/keys";
import { writeFileAtomic } from "../security/ca-folder";
import { CliError, parseFlags, type CommandSpec, type ParsedFlags } from "./args";

export const summary = "the built-in CA: create or check a CA folder, sign workload CSRs, print the root";

const LAYOUT =
  "A CA folder uses Istio's `cacerts` layout: ca-cert.pem (signing certificate), ca-key.pem (its key, 0600),\n" +
  "root-cert.pem (the root workloads trust) and cert-chain.pem (ca-cert.pem up to the root). Plug in your own\n" +
  "intermediate CA by putting those four files in a folder; `ca init` makes a self-signed one.";

const DIR = { type: "string", arg: "DIR", help: "the CA folder" } as const;

const SUBCOMMANDS: Record<string, CommandSpec> = {
  init: {
    name: "ca init",
    usage: "--dir DIR [--trust-domain cluster.local] [--key-algorithm ecdsa-p256|rsa-2048] [--root-ttl 87600h]",
    description:
      "Create a self-signed root CA in DIR (made 0700 if absent) unless DIR already holds a CA, which is checked\n" +
      "and kept: running it again never changes the root. A folder with only some CA files is an error.\n" +
      "ECDSA P-256 is the default key (fast to make, small certificates, accepted by Envoy); rsa-2048 matches Istio.\n\n" +
      LAYOUT,
    flags: {
      dir: DIR,
      "trust-domain": { type: "string", arg: "DOMAIN", default: "cluster.local", help: "trust domain, written into the root's subject (O=)" },
      "key-algorithm": { type: "string", arg: "ALG", default: "ecdsa-p256", help: `root key: ${KEY_ALGORITHMS.join(" or ")}` },
      "root-ttl": { type: "string", arg: "DURATION", default: "87600h", help: "root lifetime (Istio: 10 years)" },
    },
  },
  sign: {
    name: "ca sign",
    usage: "--dir DIR --csr FILE --identity spiffe://TD/ns/NS/sa/SA [--ttl 24h] [--out FILE]",
    description:
      "Sign a PKCS#10 CSR (PEM) with the CA in DIR. The CSR's signature must verify and its subjectAltName must be\n" +
      "exactly URI:<identity>, or it is refused. The certificate carries that URI only, with keyUsage\n" +
      "digitalSignature+keyEncipherment and extKeyUsage serverAuth+clientAuth. Prints (or writes to --out) the\n" +
      "chain: the leaf first, then intermediates; `ca root` gives the root. Make a CSR with e.g.\n" +
      "  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem -subj / \\\n" +
      "    -addext subjectAltName=URI:spiffe://cluster.local/ns/default/sa/bill -out csr.pem",
    flags: {
      dir: DIR,
      csr: { type: "string", arg: "FILE", help: "the certificate request, PEM" },
      identity: { type: "string", arg: "SPIFFE-ID", help: "the identity the requester is allowed" },
      ttl: { type: "string", arg: "DURATION", default: "24h", help: "certificate lifetime (capped by --max-ttl and the CA's expiry)" },
      "max-ttl": { type: "string", arg: "DURATION", default: `${DEFAULT_MAX_TTL_MS / 3600_000}h`, help: "longest lifetime signed" },
      "trust-domain": { type: "string", arg: "DOMAIN", help: "refuse identities outside this trust domain" },
      out: { type: "string", arg: "FILE", help: "write the chain here (0644) instead of stdout" },
    },
  },
  check: {
    name: "ca check",
    usage: "--dir DIR",
    description:
      "Check a CA folder without changing it: every file present and parsable, the key matches ca-cert.pem, every\n" +
      "certificate is a CA and within its validity, and the chain verifies up to root-cert.pem. Exits 1 listing\n" +
      "every problem found.\n\n" +
      LAYOUT,
    flags: { dir: DIR },
  },
  root: {
    name: "ca root",
    usage: "--dir DIR [--out FILE]",
    description: "Print the root bundle (root-cert.pem, what workloads trust), or write it to --out (0644) for folder mode.",
    flags: { dir: DIR, out: { type: "string", arg: "FILE", help: "write the bundle here instead of stdout" } },
  },
};

function usage(): string {
  return [
    "Usage: mini-pilot ca <init|sign|check|root> [flags]      mini-pilot ca <subcommand> --help",
    "",
    "  init   create a self-signed root CA in a folder, or keep the one there",
    "  sign   sign a workload CSR for one SPIFFE identity",
    "  check  check a CA folder (self-signed or plugged-in intermediate)",
    "  root   print or write the root bundle",
    "",
    LAYOUT,
    "",
  ].join("\n");
}

function need(f: ParsedFlags, name: string, sub: string): string {
  const v = f[name];
  if (typeof v !== "string" || v === "") throw new CliError(`ca ${sub} needs --${name}`);
  return v;
}

function durationFlag(f: ParsedFlags, name: string): number {
  const text = String(f[name]);
  const d = parseIstioDuration(text);
  if (!d.ok || d.ms <= 0) throw new CliError(`--${name} wants a positive duration like 24h or 90m, got "${text}"`);
  return d.ms;
}

function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function init(f: ParsedFlags): Promise<number> {
  const dir = need(f, "dir", "init");
  const alg = String(f["key-algorithm"]);
  try {
    checkTrustDomain(String(f["trust-domain"]));
  } catch (e) {
    throw new CliError(`--trust-domain: ${(e as Error).message}`);
  }
  if (!isKeyAlgorithm(alg)) throw new CliError(`--key-algorithm wants ${KEY_ALGORITHMS.join(" or ")}, got "${alg}"`);
  const { ca, created } = await CertificateAuthority.openOrCreate(dir, {
    trustDomain: String(f["trust-domain"]),
    keyAlgorithm: alg,
    rootTtlMs: durationFlag(f, "root-ttl"),
  });
  say(`${created ? "created" : "kept the existing CA in"} ${dir}: ${ca.describe()}`);
  for (const w of ca.material.warnings) say(`warning: ${w}`);
  return 0;
}

async function sign(f: ParsedFlags): Promise<number> {
  const dir = need(f, "dir", "sign");
  const csrFile = need(f, "csr", "sign");
  const identity = need(f, "identity", "sign");
  const ttlMs = durationFlag(f, "ttl");
  const maxTtlMs = durationFlag(f, "max-ttl");
  let csr: string;
  try {
    csr = readFileSync(csrFile, "utf8");
  } catch (e) {
    throw new CliError(`--csr ${csrFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (typeof f["trust-domain"] === "string") {
    try {
      checkTrustDomain(f["trust-domain"]);
    } catch (e) {
      throw new CliError(`--trust-domain: ${(e as Error).message}`);
    }
  }
  const ca = await CertificateAuthority.load(dir, {
    maxTtlMs,
    ...(typeof f["trust-domain"] === "string" ? { trustDomain: f["trust-domain"] } : {}),
  });
  let issued;
  try {
    issued = await ca.signCsr(csr, { allowedIdentity: identity, ttlMs });
  } catch (e) {
    if (e instanceof CsrRefusedError) throw new CsrRefusedError(e.reason, csrFile);
    throw e;
  }
  if (typeof f.out === "string") writeFileAtomic(f.out, issued.certChainPem, 0o644);
  else process.stdout.write(issued.certChainPem);
  say(`signed ${identity}, valid until ${issued.notAfter.toISOString()}${issued.capped ? ` (${issued.capped})` : ""}`);
  return 0;
}

async function check(f: ParsedFlags): Promise<number> {
  const dir = need(f, "dir", "check");
  const ca = await CertificateAuthority.load(dir);
  process.stdout.write(`${dir}: OK, ${ca.describe()}\n`);
  for (const w of ca.material.warnings) say(`warning: ${w}`);
  return 0;
}

async function root(f: ParsedFlags): Promise<number> {
  const ca = await CertificateAuthority.load(need(f, "dir", "root"));
  if (typeof f.out === "string") {
    ca.writeRootBundle(f.out);
    say(`wrote the root bundle to ${f.out}`);
  } else process.stdout.write(ca.rootBundlePem());
  return 0;
}

const RUN: Record<string, (f: ParsedFlags) => Promise<number>> = { init, sign, check, root };

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === "--help" || sub === "-h" || sub === "help") {
    process.stdout.write(usage());
    return sub ? 0 : 2;
  }
  const spec = SUBCOMMANDS[sub];
  const go = RUN[sub];
  if (!spec || !go) throw new CliError(`unknown subcommand "${sub}"\n\n${usage()}`);
  const parsed = parseFlags(spec, rest);
  if (!parsed) return 0;
  if (parsed.positionals.length > 0) throw new CliError(`ca ${sub} takes no positional arguments, got "${parsed.positionals.join(" ")}"`);
  try {
    return await go(parsed.flags);
  } catch (e) {
    // A CA or CSR problem is the user's input, not a crash: one clear line (or list), exit 1, no stack.
    if (e instanceof CaFolderError || e instanceof CsrRefusedError) {
      process.stderr.write(`mini-pilot ca ${sub}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
