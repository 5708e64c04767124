/**
 * gRPC C-core (Debian's python3-grpcio) as a second, independent xDS client
 * against `mini-pilot serve --resources`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import * as path from "node:path";
import { withinBinomial } from "../support/backends";
import { serveBillService } from "../support/grpc-resources";
import { xdsBootstrap } from "../support/xds-bootstrap";

const PYTHON = process.env.MINI_PILOT_PYTHON ?? "/usr/bin/python3";
const SCRIPT = path.join(__dirname, "..", "..", "..", "test", "e2e", "python", "xds_client.py");

function grpcioMissing(): string | undefined {
  try {
    execFileSync(PYTHON, ["-c", "import grpc"], { stdio: "ignore" });
    return undefined;
  } catch {
    return `${PYTHON} cannot import grpc (apt-get install python3-grpcio)`;
  }
}

function runClient(env: NodeJS.ProcessEnv, count: number, header?: string): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    execFile(
      PYTHON,
      [SCRIPT, "xds:///bill-service", String(count), ...(header ? [header] : [])],
      { env: { ...process.env, ...env }, timeout: 60_000 },
      (err, stdout, stderr) =>
        err ? reject(new Error(`python client failed: ${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout) as Record<string, number>),
    );
  });
}

test("python3-grpcio (C-core): 90/10 split and end-user: jason to v2", async (t) => {
  const missing = grpcioMissing();
  if (missing) {
    if (process.env.CI) assert.fail(missing);
    t.skip(`SKIPPED LOUDLY: ${missing}`);
    return;
  }
  const { serve } = await serveBillService(t);
  const env = { GRPC_XDS_BOOTSTRAP_CONFIG: xdsBootstrap(serve.xdsPort, "sidecar~127.0.0.2~py-client.default~default.svc.cluster.local") };
  const split = await runClient(env, 1000);
  assert.equal((split.v1 ?? 0) + (split.v2 ?? 0), 1000);
  assert.ok(withinBinomial(split.v1 ?? 0, 1000, 0.9), `90/10 expected, got ${JSON.stringify(split)}`);
  assert.deepEqual(await runClient(env, 50, "end-user=jason"), { v2: 50 });
});
