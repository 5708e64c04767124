import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeCsr, makePluggedCa, opensslVerify, read, tempDir } from "../support/ca-openssl";

const MAIN = join(__dirname, "../../src/cli/main.js");
const BILL = "spiffe://cluster.local/ns/default/sa/bill";
let work: string;

before(() => {
  work = tempDir("mp-ca-cli-");
});
after(() => rmSync(work, { recursive: true, force: true }));

/** Run `mini-pilot ca ...`; every run also checks that no private key reaches stdout or stderr. */
function ca(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [MAIN, "ca", ...args], { encoding: "utf8", cwd: work });
  const res = { code: r.status ?? -1, out: r.stdout, err: r.stderr };
  assert.doesNotMatch(res.out + res.err, /PRIVATE KEY/, `ca ${args.join(" ")} printed a private key`);
  return res;
}

/** The base64 body lines of a PEM key: none of them may ever be printed either. */
function keyLines(file: string): string[] {
  return read(file)
    .split("\n")
    .filter((l) => l.length > 20 && !l.startsWith("-----"));
}

test("ca init creates, ca init again keeps; ca check and ca root report it; nothing prints a key", () => {
  const dir = join(work, "ca");
  const first = ca("init", "--dir", dir, "--trust-domain", "example.org");
  assert.equal(first.code, 0, first.err);
  assert.match(first.err, /^created .*ca: self-signed root; root "O=example.org, CN=mini-pilot self-signed root" SHA-256 [0-9A-F:]+, signs until /);
  const root = read(join(dir, "root-cert.pem"));
  const again = ca("init", "--dir", dir);
  assert.equal(again.code, 0);
  assert.match(again.err, /^kept the existing CA in /);
  assert.equal(read(join(dir, "root-cert.pem")), root);

  const check = ca("check", "--dir", dir);
  assert.equal(check.code, 0);
  assert.match(check.out, /: OK, self-signed root;/);
  assert.equal(ca("root", "--dir", dir).out, root);
  const published = join(work, "published-root.pem");
  assert.equal(ca("root", "--dir", dir, "--out", published).code, 0);
  assert.equal(read(published), root);
  for (const line of keyLines(join(dir, "ca-key.pem"))) assert.ok(!(first.err + again.err + check.out).includes(line));
});

test("ca sign prints a chain openssl verifies; --out writes it; refusals exit 1 naming the CSR file and both identities", () => {
  const dir = join(work, "signer");
  assert.equal(ca("init", "--dir", dir).code, 0);
  const { csr, key } = makeCsr(work, "bill", `URI:${BILL}`);
  const signed = ca("sign", "--dir", dir, "--csr", csr, "--identity", BILL, "--ttl", "2h");
  assert.equal(signed.code, 0, signed.err);
  assert.match(signed.err, /^signed spiffe:\/\/cluster\.local\/ns\/default\/sa\/bill, valid until /);
  writeFileSync(join(work, "bill-chain.pem"), signed.out);
  const v = opensslVerify(work, ["-CAfile", join(dir, "root-cert.pem"), "-untrusted", "bill-chain.pem", "bill-chain.pem"]);
  assert.ok(v.ok, v.out);
  for (const line of keyLines(key)) assert.ok(!signed.out.includes(line) && !signed.err.includes(line));

  const out = join(work, "out", "bill.pem");
  assert.equal(ca("sign", "--dir", dir, "--csr", csr, "--identity", BILL, "--out", out).code, 0);
  assert.equal(statSync(out).mode & 0o777, 0o644);
  assert.match(read(out), /^-----BEGIN CERTIFICATE-----/);

  const refused = ca("sign", "--dir", dir, "--csr", csr, "--identity", "spiffe://cluster.local/ns/prod/sa/bill");
  assert.equal(refused.code, 1);
  assert.equal(refused.out, "");
  assert.match(
    refused.err,
    /^mini-pilot ca sign: .*bill\.csr\.pem: certificate request refused: it asks for URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/bill, but the caller is allowed only URI:spiffe:\/\/cluster\.local\/ns\/prod\/sa\/bill\n$/,
  );
  // The requester's key file given where the CSR belongs: refused, and its contents are not echoed.
  const wrongFile = ca("sign", "--dir", dir, "--csr", key, "--identity", BILL);
  assert.equal(wrongFile.code, 1);
  assert.match(wrongFile.err, /bill\.key\.pem: certificate request refused: it holds a private key; send only the certificate request/);
  for (const line of keyLines(key)) assert.ok(!wrongFile.err.includes(line));
});

test("ca check on a corrupt plugged-in folder lists every problem, exits 1, and never prints the key", () => {
  const plugged = makePluggedCa(join(work, "corrupt"));
  const good = ca("check", "--dir", plugged.dir);
  assert.equal(good.code, 0, good.err);
  assert.match(good.out, /OK, intermediate CA "O=Example, CN=signing-ca" \(0 more intermediates\); root "O=Example, CN=root"/);
  writeFileSync(join(plugged.dir, "ca-key.pem"), read(plugged.root.key));
  writeFileSync(join(plugged.dir, "cert-chain.pem"), "garbage\n");
  const bad = ca("check", "--dir", plugged.dir);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /cert-chain\.pem: no PEM block found/);
  for (const line of [...keyLines(plugged.root.key), ...keyLines(plugged.ca.key)]) assert.ok(!bad.err.includes(line));
  assert.doesNotMatch(bad.err, / {4}at /, "no stack trace for bad input");
});

test("ca sign and ca check never create a CA: a missing folder is an error", () => {
  const missing = join(work, "absent");
  const r = ca("check", "--dir", missing);
  assert.equal(r.code, 1);
  assert.match(r.err, /CA folder .*absent: does not exist/);
  assert.equal(existsSync(missing), false);
});

test("flag errors exit 2 with a reason; --help explains each subcommand", () => {
  assert.match(ca("init").err, /ca init needs --dir/);
  assert.equal(ca("init").code, 2);
  assert.match(ca("init", "--dir", join(work, "x"), "--key-algorithm", "dsa").err, /--key-algorithm wants ecdsa-p256 or rsa-2048, got "dsa"/);
  assert.match(ca("init", "--dir", join(work, "x"), "--trust-domain", "Bad Domain").err, /--trust-domain: trust domain "Bad Domain" may hold only/);
  assert.match(
    ca("sign", "--dir", work, "--csr", "x", "--identity", BILL, "--ttl", "forever").err,
    /--ttl wants a positive duration like 24h or 90m, got "forever"/,
  );
  assert.match(ca("frobnicate").err, /unknown subcommand "frobnicate"/);
  assert.equal(existsSync(join(work, "x")), false);
  const top = ca("--help");
  assert.equal(top.code, 0);
  assert.match(
    top.out,
    /init +create a self-signed root CA[\s\S]*sign +sign a workload CSR[\s\S]*check +check a CA folder[\s\S]*root +print or write the root bundle[\s\S]*cacerts/,
  );
  for (const sub of ["init", "sign", "check", "root"]) {
    const h = ca(sub, "--help");
    assert.equal(h.code, 0);
    assert.match(h.out, new RegExp(`^Usage: mini-pilot ca ${sub} --dir DIR`));
  }
  assert.match(ca("sign", "--help").out, /subjectAltName must be\nexactly URI:<identity>/);
  const main = spawnSync(process.execPath, [MAIN, "--help"], { encoding: "utf8" });
  assert.match(main.stdout, /\n {2}ca +the built-in CA/);
  assert.ok(readFileSync(MAIN, "utf8").length > 0);
});
