/**
 * The CA's certificates in a real TLS stack (Node's OpenSSL): a server
 * certificate for DNS names and workload certificates from openssl CSRs make a
 * mutual-TLS handshake on 127.0.0.1; a client from another CA is rejected.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import * as tls from "node:tls";
import type { AddressInfo } from "node:net";
import { CertificateAuthority } from "../../src/security/ca";
import { makeCsr, makePluggedCa, read, tempDir } from "../support/ca-openssl";

const work = tempDir("mp-ca-mtls-");
after(() => rmSync(work, { recursive: true, force: true }));

const BILL = "spiffe://cluster.local/ns/default/sa/bill";

async function server(ca: CertificateAuthority): Promise<{ port: number; peers: string[]; close: () => void }> {
  const cert = await ca.issueServerCertificate({ dnsNames: ["istiod.istio-system.svc"] });
  const peers: string[] = [];
  const srv = tls.createServer({ key: cert.keyPem, cert: cert.certChainPem, ca: cert.rootCertPem, requestCert: true, rejectUnauthorized: true }, (s) => {
    peers.push(s.getPeerCertificate().subjectaltname ?? "");
    s.end("hello\n");
  });
  srv.on("tlsClientError", () => undefined);
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  return { port: (srv.address() as AddressInfo).port, peers, close: () => srv.close() };
}

function connect(port: number, client: { key: string; cert: string }, rootPem: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, servername: "istiod.istio-system.svc", key: client.key, cert: client.cert, ca: rootPem }, () => undefined);
    let data = "";
    s.on("data", (d: Buffer) => (data += d.toString()));
    s.on("end", () => resolve(data));
    s.on("error", reject);
  });
}

for (const kind of ["self-signed", "plugged-in intermediate"] as const) {
  test(`mTLS with ${kind} CA certificates: both sides verify, the server sees the SPIFFE id`, async () => {
    const ca =
      kind === "self-signed"
        ? (await CertificateAuthority.openOrCreate(join(work, "self"))).ca
        : await CertificateAuthority.load(makePluggedCa(join(work, "plugged"), { levels: 2 }).dir);
    const srv = await server(ca);
    try {
      const { csr, key } = makeCsr(work, `client-${kind.length}`, `URI:${BILL}`);
      const issued = await ca.signCsr(read(csr), { allowedIdentity: BILL });
      assert.equal(await connect(srv.port, { key: read(key), cert: issued.certChainPem }, ca.rootBundlePem()), "hello\n");
      assert.deepEqual(srv.peers, [`URI:${BILL}`]);

      // A client certificate from another CA: the server refuses the handshake.
      const stranger = (await CertificateAuthority.openOrCreate(join(work, `stranger-${kind.length}`))).ca;
      const other = makeCsr(work, `stranger-${kind.length}`, `URI:${BILL}`);
      const foreign = await stranger.signCsr(read(other.csr), { allowedIdentity: BILL });
      // Under TLS 1.3 the client may finish its side before the server checks its certificate: the refusal then
      // shows as a reset or an empty stream instead of a failed connect. Either way no data and no accepted peer.
      const answer = await connect(srv.port, { key: read(other.key), cert: foreign.certChainPem }, ca.rootBundlePem()).catch(
        (e: Error) => `refused: ${e.message}`,
      );
      assert.notEqual(answer, "hello\n");
      assert.equal(srv.peers.length, 1);
    } finally {
      srv.close();
    }
  });
}
