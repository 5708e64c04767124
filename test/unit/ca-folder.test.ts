import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, existsSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CertificateAuthority } from "../../src/security/ca";
import { CaFolderError } from "../../src/security/errors";
import { makeIssued, makePluggedCa, makeRoot, openssl, read, tempDir } from "../support/ca-openssl";

const DAY = 24 * 3600_000;

async function loadError(dir: string, now?: Date): Promise<CaFolderError> {
  try {
    await CertificateAuthority.load(dir, now ? { now } : {});
  } catch (e) {
    assert.ok(e instanceof CaFolderError, `want CaFolderError, got ${(e as Error).stack}`);
    return e;
  }
  assert.fail("the folder loaded, want an error");
}

function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of ["ca-cert.pem", "ca-key.pem", "root-cert.pem", "cert-chain.pem"]) if (existsSync(join(dir, f))) out[f] = read(join(dir, f));
  return out;
}

test("first start creates a self-signed ECDSA P-256 root: key 0600, folder 0700, CA:TRUE, O=<trust domain>, 10 years", async () => {
  const dir = join(tempDir(), "ca");
  try {
    const { ca, created } = await CertificateAuthority.openOrCreate(dir, { trustDomain: "example.org" });
    assert.equal(created, true);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(join(dir, "ca-key.pem")).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, "root-cert.pem")).mode & 0o777, 0o644);
    assert.equal(ca.selfSigned, true);
    const text = openssl(["x509", "-in", join(dir, "root-cert.pem"), "-noout", "-text"]);
    assert.match(text, /Subject: O = example.org, CN = mini-pilot self-signed root/);
    assert.match(text, /CA:TRUE/);
    assert.match(text, /Certificate Sign, CRL Sign/);
    assert.match(text, /NIST CURVE: P-256/);
    const years = (ca.signsUntil.getTime() - Date.now()) / (365 * DAY);
    assert.ok(years > 9.9 && years <= 10, `root lives ${years} years`);
    assert.deepEqual(ca.material.warnings, []);
  } finally {
    rmSync(join(dir, ".."), { recursive: true, force: true });
  }
});

test("rsa-2048 roots are offered for parity with Istio", async () => {
  const dir = join(tempDir(), "ca");
  try {
    await CertificateAuthority.openOrCreate(dir, { keyAlgorithm: "rsa-2048" });
    assert.match(openssl(["x509", "-in", join(dir, "ca-cert.pem"), "-noout", "-text"]), /Public-Key: \(2048 bit\)[\s\S]*sha256WithRSAEncryption/);
  } finally {
    rmSync(join(dir, ".."), { recursive: true, force: true });
  }
});

test("a restart keeps the root: the second open loads the same files and root", async () => {
  const dir = join(tempDir(), "ca");
  try {
    const first = await CertificateAuthority.openOrCreate(dir);
    const before = snapshot(dir);
    const second = await CertificateAuthority.openOrCreate(dir);
    assert.equal(second.created, false);
    assert.equal(second.ca.rootBundlePem(), first.ca.rootBundlePem());
    assert.deepEqual(snapshot(dir), before);
  } finally {
    rmSync(join(dir, ".."), { recursive: true, force: true });
  }
});

test("a folder with some CA files is an error naming what is missing, and is left as it was", async () => {
  const dir = join(tempDir(), "ca");
  try {
    await CertificateAuthority.openOrCreate(dir);
    unlinkSync(join(dir, "ca-key.pem"));
    const before = snapshot(dir);
    await assert.rejects(
      CertificateAuthority.openOrCreate(dir),
      (e: Error) => e instanceof CaFolderError && /ca-key\.pem missing; refusing to replace it/.test(e.message),
    );
    assert.deepEqual(snapshot(dir), before);
  } finally {
    rmSync(join(dir, ".."), { recursive: true, force: true });
  }
});

test("a corrupt self-signed folder is an error at open, never replaced by a new root", async () => {
  const dir = join(tempDir(), "ca");
  try {
    await CertificateAuthority.openOrCreate(dir);
    writeFileSync(join(dir, "root-cert.pem"), "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
    const before = snapshot(dir);
    await assert.rejects(CertificateAuthority.openOrCreate(dir), /root-cert\.pem: certificate 1 does not parse/);
    assert.deepEqual(snapshot(dir), before);
  } finally {
    rmSync(join(dir, ".."), { recursive: true, force: true });
  }
});

test("a plugged-in intermediate CA made with openssl loads; cert-chain.pem's ca-cert and root are not repeated as intermediates", async () => {
  const work = tempDir();
  try {
    const one = makePluggedCa(join(work, "a"), { levels: 1 });
    const ca1 = await CertificateAuthority.load(one.dir);
    assert.equal(ca1.selfSigned, false);
    assert.equal(ca1.material.chain.intermediates.length, 0);
    assert.equal(ca1.rootBundlePem(), read(one.root.cert));
    assert.match(ca1.describe(), /intermediate CA "O=Example, CN=signing-ca"/);

    const three = makePluggedCa(join(work, "b"), { levels: 3, key: "rsa:2048" });
    const ca3 = await CertificateAuthority.load(three.dir);
    assert.deepEqual(
      ca3.material.chain.intermediates.map((c) => c.subject.replace(/\n/g, ", ")),
      ["O=Example, CN=intermediate2", "O=Example, CN=intermediate1"],
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test("an empty cert-chain.pem is accepted when ca-cert.pem is issued by the root directly", async () => {
  const work = tempDir();
  try {
    const { dir } = makePluggedCa(work);
    writeFileSync(join(dir, "cert-chain.pem"), "");
    await CertificateAuthority.load(dir);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- bad plugged-in folders

test("missing files: every one is named", async () => {
  const work = tempDir();
  try {
    const { dir } = makePluggedCa(work);
    unlinkSync(join(dir, "root-cert.pem"));
    unlinkSync(join(dir, "cert-chain.pem"));
    const e = await loadError(dir);
    assert.deepEqual(e.problems, ["root-cert.pem is missing", "cert-chain.pem is missing"]);
    await assert.rejects(CertificateAuthority.load(join(work, "nope")), /CA folder .*nope: does not exist/);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test("unparsable PEM: garbage, DER, a key where a certificate belongs, text after the block", async () => {
  const work = tempDir();
  try {
    const { dir, root } = makePluggedCa(work);
    writeFileSync(join(dir, "root-cert.pem"), "hello\n");
    assert.match((await loadError(dir)).message, /root-cert\.pem: no PEM block found/);
    writeFileSync(join(dir, "root-cert.pem"), openssl(["x509", "-in", root.cert, "-outform", "DER"], {}) || "x");
    assert.match((await loadError(dir)).message, /root-cert\.pem: (no PEM block found|holds text outside)/);
    writeFileSync(join(dir, "root-cert.pem"), read(join(dir, "ca-key.pem")));
    assert.match((await loadError(dir)).message, /root-cert\.pem: PEM block 1 is "PRIVATE KEY", want "CERTIFICATE"/);
    writeFileSync(join(dir, "root-cert.pem"), read(root.cert) + "-----BEGIN CERTIFICATE-----\nMIIB\n");
    assert.match((await loadError(dir)).message, /root-cert\.pem: holds text outside BEGIN\/END lines or an unterminated PEM block/);
    writeFileSync(join(dir, "root-cert.pem"), read(root.cert));
    writeFileSync(join(dir, "ca-key.pem"), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
    assert.match((await loadError(dir)).message, /ca-key\.pem: the private key does not parse/);
    writeFileSync(join(dir, "ca-key.pem"), read(join(dir, "ca-cert.pem")));
    assert.match((await loadError(dir)).message, /ca-key\.pem: holds 0 private keys, want exactly one/);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test("an encrypted CA key is refused with a reason", async () => {
  const work = tempDir();
  try {
    const { dir, ca } = makePluggedCa(work);
    writeFileSync(join(dir, "ca-key.pem"), openssl(["pkcs8", "-topk8", "-in", ca.key, "-passout", "pass:secret", "-v2", "aes-256-cbc"]));
    assert.match((await loadError(dir)).message, /ca-key\.pem: the private key is encrypted/);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test("the key does not match ca-cert.pem", async () => {
  const work = tempDir();
  try {
    const { dir, root } = makePluggedCa(work);
    writeFileSync(join(dir, "ca-key.pem"), read(root.key));
    const e = await loadError(dir);
    assert.deepEqual(e.problems, ["ca-key.pem does not match ca-cert.pem: the key is not the certificate's private key"]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test("ca-cert.pem that is not a CA (basicConstraints CA:FALSE) is refused", async () => {
  const work = tempDir();
  try {
    const { dir, root } = makePluggedCa(work);
    const leaf = makeIssued(work, "not-a-ca", root, { ca: false });
    writeFileSync(join(dir, "ca-cert.pem"), read(leaf.cert));
    writeFileSync(join(dir, "ca-key.pem"), read(leaf.key));
    writeFileSync(join(dir, "cert-chain.pem"), read(leaf.cert) + read(root.cert));
    assert.deepEqual((await loadError(dir)).problems, ["ca-cert.pem (O=Example, CN=not-a-ca) is not a CA certificate (basicConstraints CA:TRUE is missing)"]);
    const notCaRoot = makeRoot(work, "leafy-root", { ca: false });
    writeFileSync(join(dir, "root-cert.pem"), read(notCaRoot.cert));
    assert.match((await loadError(dir)).message, /root-cert\.pem \(O=Example, CN=leafy-root\) is not a CA certificate/);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test("ca-cert.pem with two certificates is refused: intermediates belong in cert-chain.pem", async () => {
  const work = tempDir();
  try {
    const { dir, root } = makePluggedCa(work);
    writeFileSync(join(dir, "ca-cert.pem"), read(join(dir, "ca-cert.pem")) + read(root.cert));
    assert.match((await loadError(dir)).message, /ca-cert\.pem holds 2 certificates, want exactly one \(intermediates go in cert-chain\.pem\)/);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test("expired and not-yet-valid certificates are refused with their dates", async () => {
  const work = tempDir();
  try {
    const { dir } = makePluggedCa(work, { caDays: 1 });
    const later = new Date(Date.now() + 2 * DAY);
    assert.match((await loadError(dir, later)).message, /ca-cert\.pem \(O=Example, CN=signing-ca\) has expired \(notAfter 20\d\d-/);
    const earlier = new Date(Date.now() - 2 * DAY);
    const e = await loadError(dir, earlier);
    assert.match(e.message, /ca-cert\.pem \(O=Example, CN=signing-ca\) is not valid yet \(notBefore /);
    assert.match(e.message, /root-cert\.pem \(O=Example, CN=root\) is not valid yet/);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test("a chain that does not verify to root-cert.pem: another root, or a missing middle link", async () => {
  const work = tempDir();
  try {
    const { dir } = makePluggedCa(join(work, "a"));
    const other = makeRoot(work, "other-root");
    writeFileSync(join(dir, "root-cert.pem"), read(other.cert));
    writeFileSync(join(dir, "cert-chain.pem"), read(join(dir, "ca-cert.pem")));
    assert.deepEqual((await loadError(dir)).problems, [
      "chain does not verify: ca-cert.pem (O=Example, CN=signing-ca) is not signed by root-cert.pem (O=Example, CN=other-root)",
    ]);

    const three = makePluggedCa(join(work, "b"), { levels: 3 });
    // Drop intermediate2 (the signing CA's issuer) from cert-chain.pem.
    writeFileSync(
      join(three.dir, "cert-chain.pem"),
      read(join(three.dir, "ca-cert.pem")) + read(join(work, "b", "intermediate1-cert.pem")) + read(three.root.cert),
    );
    assert.match(
      (await loadError(three.dir)).message,
      /chain does not verify: ca-cert\.pem \(O=Example, CN=signing-ca\) is not signed by the next certificate in cert-chain\.pem, cert-chain\.pem certificate 2 \(O=Example, CN=intermediate1\)/,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test("a CA key readable by others loads with a warning", async () => {
  const work = tempDir();
  try {
    const { dir } = makePluggedCa(work);
    chmodSync(join(dir, "ca-key.pem"), 0o644);
    const ca = await CertificateAuthority.load(dir);
    assert.deepEqual(ca.material.warnings, ["ca-key.pem is readable by others (mode 0644); chmod 600 it"]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test("errors never carry the private key", async () => {
  const work = tempDir();
  try {
    const { dir, root } = makePluggedCa(work);
    const key = readFileSync(join(dir, "ca-key.pem"), "utf8");
    writeFileSync(join(dir, "ca-key.pem"), read(root.key));
    writeFileSync(join(dir, "root-cert.pem"), key);
    const e = await loadError(dir);
    assert.doesNotMatch(e.message, /PRIVATE KEY-----|MI[A-Za-z0-9+/]{20}/);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
