/**
 * The cost of the secure xDS port, measured through `mini-pilot serve` as a
 * user runs it (folder mode, a token file):
 *  - TLS handshake time to the secure port (new TCP+TLS connection each time,
 *    ALPN h2, verified against the published root), without and with a
 *    workload client certificate;
 *  - CreateCertificate latency as the agent sees it (token checked, CSR
 *    verified, certificate signed), on one open channel, CSRs made beforehand.
 * Usage: node dist/bench/secure-xds-bench.js [handshakes=200] [csrs=100]
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tls from "node:tls";
import { startServe } from "../test/support/serve-process";
import { SERVER_NAME, createCertificate, secureClient } from "../test/support/secure-xds";
import { workloadCsr } from "../src/security/workload-csr";

const TOKEN = "bench-token-0123456789abcdef0123";
const ID = "spiffe://cluster.local/ns/default/sa/bench";

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}
const row = (what: string, xs: number[]) =>
  `${what.padEnd(48)} n=${String(xs.length).padStart(4)}  p50 ${pct(xs, 50).toFixed(2).padStart(7)} ms  p99 ${pct(xs, 99).toFixed(2).padStart(7)} ms  max ${Math.max(
    ...xs,
  )
    .toFixed(2)
    .padStart(7)} ms`;

function handshake(port: number, ca: string, client?: { cert: string; key: string }): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const s = tls.connect({ host: "127.0.0.1", port, servername: SERVER_NAME, ca, ALPNProtocols: ["h2"], ...(client ?? {}) }, () => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (!s.authorized) reject(new Error(`not authorized: ${String(s.authorizationError)}`));
      s.destroy();
      resolve(ms);
    });
    s.on("error", reject);
  });
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 200);
  const csrs = Number(process.argv[3] ?? 100);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mini-pilot-secure-bench-"));
  fs.writeFileSync(path.join(dir, "tokens"), `default/bench ${TOKEN}\n`, { mode: 0o600 });
  const serve = await startServe([
    "--config-dir",
    path.join(__dirname, "..", "..", "examples", "bill-service"),
    "--ca-dir",
    path.join(dir, "ca"),
    "--root-cert-file",
    path.join(dir, "root.pem"),
    "--token-file",
    path.join(dir, "tokens"),
  ]);
  try {
    const root = fs.readFileSync(path.join(dir, "root.pem"), "utf8");
    const port = serve.securePort!;
    for (let i = 0; i < 10; i++) await handshake(port, root); // warm-up
    const plain: number[] = [];
    for (let i = 0; i < n; i++) plain.push(await handshake(port, root));
    console.log(row("TLS handshake, server auth only", plain));

    const client = secureClient(port, { rootPem: root, token: TOKEN });
    const pending = await Promise.all(Array.from({ length: csrs + 5 }, () => workloadCsr(ID)));
    const issued = await createCertificate(client, pending[0]!.csrPem);
    const clientCert = { cert: issued.slice(0, -1).join(""), key: pending[0]!.keyPem };
    const mutual: number[] = [];
    for (let i = 0; i < n; i++) mutual.push(await handshake(port, root, clientCert));
    console.log(row("TLS handshake, with a workload client certificate", mutual));

    for (let i = 1; i < 5; i++) await createCertificate(client, pending[i]!.csrPem); // warm-up
    const sign: number[] = [];
    for (let i = 5; i < csrs + 5; i++) {
      const t0 = process.hrtime.bigint();
      await createCertificate(client, pending[i]!.csrPem);
      sign.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    console.log(row("CreateCertificate round trip (token + sign)", sign));
    const keygen: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t0 = process.hrtime.bigint();
      await workloadCsr(ID);
      keygen.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    console.log(row("agent side: P-256 key + CSR", keygen));
    client.close();
  } finally {
    await serve.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
