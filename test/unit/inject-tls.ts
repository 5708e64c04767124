/** A throwaway CA and a serving certificate for 127.0.0.1, made with openssl, for the webhook tests. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";

export interface TestTls {
  dir: string;
  caPem: string;
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

/** `name` prefixes the files so one dir can hold several pairs (a rotation). */
export function makeTls(dir = fs.mkdtempSync(path.join(os.tmpdir(), "mini-pilot-inject-tls-")), name = "webhook"): TestTls {
  const ec = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
  if (!fs.existsSync(path.join(dir, "ca.crt"))) {
    openssl(["genpkey", ...ec, "-out", "ca.key"], dir);
    openssl(["req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=mini-pilot-test-ca", "-days", "1", "-out", "ca.crt"], dir);
  }
  openssl(["genpkey", ...ec, "-out", `${name}.key`], dir);
  openssl(["req", "-new", "-key", `${name}.key`, "-subj", `/CN=${name}`, "-out", `${name}.csr`], dir);
  fs.writeFileSync(path.join(dir, `${name}.ext`), "subjectAltName=IP:127.0.0.1,DNS:mini-pilot.istio-system.svc\nextendedKeyUsage=serverAuth\n");
  openssl(
    [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "1",
      "-extfile",
      `${name}.ext`,
      "-out",
      `${name}.crt`,
    ],
    dir,
  );
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  return {
    dir,
    caPem: fs.readFileSync(path.join(dir, "ca.crt"), "utf8"),
    certFile,
    keyFile,
    cert: fs.readFileSync(certFile, "utf8"),
    key: fs.readFileSync(keyFile, "utf8"),
  };
}
