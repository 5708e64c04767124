import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { X509Certificate, createPrivateKey, createPublicKey } from "node:crypto";
import { CertificateAuthority } from "../../src/security/ca";
import { CsrRefusedError } from "../../src/security/errors";
import { makeCsr, makePluggedCa, openssl, opensslVerify, read, tempDir } from "../support/ca-openssl";

const BILL = "spiffe://cluster.local/ns/default/sa/bill";
const HOUR = 3600_000;
let work: string;
let selfSigned: CertificateAuthority;

before(async () => {
  work = tempDir();
  selfSigned = (await CertificateAuthority.openOrCreate(join(work, "self"))).ca;
});
after(() => rmSync(work, { recursive: true, force: true }));

/** Write the issued chain and root; `openssl verify -CAfile root -untrusted chain leaf`. */
function verifyWithOpenssl(dir: string, name: string, chainPem: string, rootPem: string, extra: string[] = []): { ok: boolean; out: string } {
  const blocks = chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n/g) ?? [];
  writeFileSync(join(dir, `${name}-leaf.pem`), blocks[0] ?? "");
  writeFileSync(join(dir, `${name}-chain.pem`), chainPem);
  writeFileSync(join(dir, `${name}-root.pem`), rootPem);
  return opensslVerify(dir, ["-CAfile", `${name}-root.pem`, "-untrusted", `${name}-chain.pem`, ...extra, `${name}-leaf.pem`]);
}

function refusal(p: Promise<unknown>, pattern: RegExp) {
  return assert.rejects(p, (e: Error) => {
    assert.ok(e instanceof CsrRefusedError, `want CsrRefusedError, got ${e.stack}`);
    assert.match(e.message, pattern);
    return true;
  });
}

test("an openssl ECDSA CSR for the allowed identity: openssl verifies the chain; URI SAN only, Istio's key usages, 24h by default", async () => {
  const { csr } = makeCsr(work, "ec", `URI:${BILL}`);
  const now = new Date();
  const issued = await selfSigned.signCsr(read(csr), { allowedIdentity: BILL }, now);
  assert.equal(issued.rootCertPem, selfSigned.rootBundlePem());
  const v = verifyWithOpenssl(work, "ec", issued.certChainPem, issued.rootCertPem, ["-purpose", "sslclient"]);
  assert.ok(v.ok, v.out);
  const text = openssl(["x509", "-in", join(work, "ec-leaf.pem"), "-noout", "-text"]);
  assert.match(text, /X509v3 Subject Alternative Name: critical\n\s+URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/bill\n/);
  assert.match(text, /X509v3 Key Usage: critical\n\s+Digital Signature, Key Encipherment\n/);
  assert.match(text, /X509v3 Extended Key Usage: \n\s+TLS Web Server Authentication, TLS Web Client Authentication\n/);
  assert.match(text, /X509v3 Basic Constraints: critical\n\s+CA:FALSE/);
  assert.match(text, /Subject: \n/);
  assert.equal(issued.notAfter.getTime(), now.getTime() - (now.getTime() % 1000) + 24 * HOUR, "24h, to the second");
  assert.equal(issued.capped, undefined);
  // The certificate carries the CSR's key: the requester's private key matches it.
  const leaf = new X509Certificate(read(join(work, "ec-leaf.pem")));
  assert.ok(leaf.checkPrivateKey(createPrivateKey(read(join(work, "ec.key.pem")))));
  // Self-signed: the chain is the leaf alone.
  assert.equal((issued.certChainPem.match(/BEGIN CERTIFICATE/g) ?? []).length, 1);
});

test("RSA 2048 and P-384 CSRs are signed too; the TTL is configurable", async () => {
  for (const key of ["rsa:2048", "ec-p384"] as const) {
    const { csr } = makeCsr(work, `k-${key}`, `URI:${BILL}`, key);
    const now = new Date();
    const issued = await selfSigned.signCsr(read(csr), { allowedIdentity: BILL, ttlMs: HOUR }, now);
    assert.ok(verifyWithOpenssl(work, `k-${key.replace(":", "")}`, issued.certChainPem, issued.rootCertPem).ok);
    assert.equal(issued.notAfter.getTime(), now.getTime() - (now.getTime() % 1000) + HOUR, "1h, to the second");
  }
});

test("a plugged-in 3-level CA made with openssl: leaf + intermediates returned, root apart; openssl verifies", async () => {
  const plugged = makePluggedCa(join(work, "plugged"), { levels: 3 });
  const ca = await CertificateAuthority.load(plugged.dir);
  const { csr } = makeCsr(work, "via-intermediate", `URI:${BILL}`);
  const issued = await ca.signCsr(read(csr), { allowedIdentity: BILL });
  const subjects = (issued.certChainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n/g) ?? []).map((p) =>
    (new X509Certificate(p).subject ?? "").replace(/\n/g, ", "),
  );
  assert.deepEqual(subjects, ["", "O=Example, CN=signing-ca", "O=Example, CN=intermediate2", "O=Example, CN=intermediate1"]);
  assert.equal(issued.rootCertPem, read(plugged.root.cert));
  const v = verifyWithOpenssl(work, "plugged", issued.certChainPem, issued.rootCertPem);
  assert.ok(v.ok, v.out);
  // Without the intermediates it must not verify: the check above is not vacuous.
  writeFileSync(join(work, "plugged-chain.pem"), "");
  assert.equal(opensslVerify(work, ["-CAfile", "plugged-root.pem", "plugged-leaf.pem"]).ok, false);
});

test("a CSR for another identity is refused, naming both", async () => {
  const { csr } = makeCsr(work, "other", "URI:spiffe://cluster.local/ns/default/sa/mallory");
  await refusal(
    selfSigned.signCsr(read(csr), { allowedIdentity: BILL }),
    /certificate request refused: it asks for URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/mallory, but the caller is allowed only URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/bill/,
  );
});

test("extra names are refused: a DNS name or a second URI next to the allowed one", async () => {
  const dns = makeCsr(work, "dns", `URI:${BILL},DNS:bill.default.svc`);
  await refusal(selfSigned.signCsr(read(dns.csr), { allowedIdentity: BILL }), /it asks for DNS:bill\.default\.svc, but the caller is allowed only URI:/);
  const two = makeCsr(work, "two", `URI:${BILL},URI:spiffe://cluster.local/ns/kube-system/sa/admin`);
  await refusal(selfSigned.signCsr(read(two.csr), { allowedIdentity: BILL }), /it asks for URI:spiffe:\/\/cluster\.local\/ns\/kube-system\/sa\/admin/);
});

test("a CSR without a subjectAltName is refused", async () => {
  const { csr } = makeCsr(work, "nosan", undefined);
  await refusal(selfSigned.signCsr(read(csr), { allowedIdentity: BILL }), /it asks for no identity \(no subjectAltName URI\)/);
});

test("a CSR whose signature does not verify is refused", async () => {
  const { csr } = makeCsr(work, "tamper", `URI:${BILL}`);
  const der = readDer(csr);
  der[der.length - 3] = (der[der.length - 3] ?? 0) ^ 0xff; // inside the signature value
  const pem = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64").replace(/(.{64})/g, "$1\n")}\n-----END CERTIFICATE REQUEST-----\n`;
  await refusal(selfSigned.signCsr(pem, { allowedIdentity: BILL }), /its signature does not verify with its own public key/);
});

function readDer(csrFile: string): Buffer {
  const b64 = read(csrFile)
    .replace(/-----[A-Z ]+-----/g, "")
    .replace(/\s+/g, "");
  return Buffer.from(b64, "base64");
}

test("weak keys, non-CSR PEM and garbage are refused with the reason", async () => {
  const weak = makeCsr(work, "weak", `URI:${BILL}`, "rsa:1024");
  await refusal(selfSigned.signCsr(read(weak.csr), { allowedIdentity: BILL }), /RSA key of 1024 bits is too weak \(want at least 2048\)/);
  await refusal(
    selfSigned.signCsr(selfSigned.rootBundlePem(), { allowedIdentity: BILL }),
    /want exactly one PEM "CERTIFICATE REQUEST" block, found "CERTIFICATE"/,
  );
  await refusal(selfSigned.signCsr("nonsense", { allowedIdentity: BILL }), /found none/);
  await refusal(
    selfSigned.signCsr("-----BEGIN CERTIFICATE REQUEST-----\nMIIBAAAA\n-----END CERTIFICATE REQUEST-----\n", { allowedIdentity: BILL }),
    /it does not parse as PKCS#10/,
  );
});

test("a malformed allowed identity, or one outside the trust domain, is refused", async () => {
  const { csr } = makeCsr(work, "malformed", `URI:${BILL}`);
  await refusal(
    selfSigned.signCsr(read(csr), { allowedIdentity: "spiffe://cluster.local/bill" }),
    /the allowed identity is malformed: .*the path is not \/ns\/<namespace>\/sa\/<service-account>/,
  );
  await refusal(
    selfSigned.signCsr(read(csr), { allowedIdentity: "spiffe://cluster.local/ns/Default/sa/bill" }),
    /namespace "Default" is not a Kubernetes namespace name/,
  );
  const other = makeCsr(work, "foreign", "URI:spiffe://example.org/ns/default/sa/bill");
  await refusal(
    selfSigned.signCsr(read(other.csr), { allowedIdentity: "spiffe://example.org/ns/default/sa/bill" }),
    /identity spiffe:\/\/example\.org\/ns\/default\/sa\/bill is outside this CA's trust domain "cluster\.local"/,
  );
});

test("the lifetime is capped by the max TTL and by the CA's own expiry", async () => {
  const { csr } = makeCsr(work, "ttl", `URI:${BILL}`);
  const now = new Date();
  const ca = await CertificateAuthority.load(join(work, "self"), { maxTtlMs: 48 * HOUR });
  const long = await ca.signCsr(read(csr), { allowedIdentity: BILL, ttlMs: 1000 * HOUR }, now);
  assert.equal(Math.round((long.notAfter.getTime() - now.getTime()) / HOUR), 48);
  assert.equal(long.capped, "TTL 1000h capped to the max TTL 48h");

  const shortLived = makePluggedCa(join(work, "short"), { caDays: 1 });
  const sca = await CertificateAuthority.load(shortLived.dir);
  const capped = await sca.signCsr(read(csr), { allowedIdentity: BILL, ttlMs: 72 * HOUR });
  const caNotAfter = new Date(new X509Certificate(read(shortLived.ca.cert)).validTo);
  assert.equal(capped.notAfter.getTime(), caNotAfter.getTime());
  assert.match(capped.capped ?? "", /lifetime capped to the CA's expiry/);
  assert.ok(verifyWithOpenssl(work, "short", capped.certChainPem, capped.rootCertPem).ok);

  await assert.rejects(sca.signCsr(read(csr), { allowedIdentity: BILL }, new Date(Date.now() + 3 * 24 * HOUR)), /the CA expired at .*; it cannot sign/);
  await assert.rejects(ca.signCsr(read(csr), { allowedIdentity: BILL, ttlMs: 0 }), /certificate TTL must be positive/);
});

test("a server certificate for DNS names: openssl verifies it for sslserver with the names; the key matches", async () => {
  const plugged = makePluggedCa(join(work, "server"));
  const ca = await CertificateAuthority.load(plugged.dir);
  const names = ["istiod.istio-system.svc", "istiod.istio-system.svc.cluster.local", "localhost"];
  const issued = await ca.issueServerCertificate({ dnsNames: names });
  const v = verifyWithOpenssl(work, "server", issued.certChainPem, issued.rootCertPem, [
    "-purpose",
    "sslserver",
    "-verify_hostname",
    "istiod.istio-system.svc",
  ]);
  assert.ok(v.ok, v.out);
  assert.equal(verifyWithOpenssl(work, "server2", issued.certChainPem, issued.rootCertPem, ["-verify_hostname", "evil.example.com"]).ok, false);
  const leaf = new X509Certificate(issued.certChainPem);
  assert.equal(leaf.subjectAltName, names.map((n) => `DNS:${n}`).join(", "));
  assert.ok(leaf.checkPrivateKey(createPrivateKey(issued.keyPem)));
  assert.equal(createPublicKey(issued.keyPem).asymmetricKeyType, "ec");
  await assert.rejects(ca.issueServerCertificate({ dnsNames: [] }), /at least one DNS name/);
  await assert.rejects(ca.issueServerCertificate({ dnsNames: ["bad name"] }), /"bad name" is not a DNS name/);
});

test("the root bundle is published to a file, 0644, equal to root-cert.pem", async () => {
  const file = join(work, "published", "nested", "root-cert.pem");
  selfSigned.writeRootBundle(file);
  assert.equal(readFileSync(file, "utf8"), read(join(work, "self", "root-cert.pem")));
  assert.equal(statSync(file).mode & 0o777, 0o644);
  assert.doesNotMatch(selfSigned.rootBundlePem(), /PRIVATE KEY/);
});
