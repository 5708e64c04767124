/**
 * The Dockerfile's promises, checked against the CLI itself: the default
 * command serves the cluster, every port EXPOSE names is one the default
 * command listens on beyond loopback (and the reverse), and what the image
 * leaves out (bench) is left out on purpose.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseFlags } from "../../src/cli/args";
import { spec as serveSpec } from "../../src/cli/serve";
import { isLoopback } from "../../src/cli/debug-port";
import { parseHostPort } from "../../src/util/flags";

const REPO = path.join(__dirname, "..", "..", "..");
const dockerfile = fs.readFileSync(path.join(REPO, "Dockerfile"), "utf8");
/** The runtime stage: everything after the last FROM. */
const runtime = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "));

function jsonInstruction(name: string): string[] {
  const m = new RegExp(`^${name}\\s+(\\[.*\\])\\s*$`, "m").exec(runtime);
  assert.ok(m, `the runtime stage has a JSON-form ${name}`);
  return JSON.parse(m[1]!) as string[];
}

test("Dockerfile: the default command serves the cluster the pod runs in", () => {
  assert.deepEqual(jsonInstruction("ENTRYPOINT"), ["node", "dist/src/cli/main.js"]);
  const cmd = jsonInstruction("CMD");
  assert.equal(cmd[0], "serve");
  assert.ok(cmd.includes("--in-cluster"), `CMD ${JSON.stringify(cmd)}`);
  assert.ok(!cmd.includes("--config-dir"), "not the bundled examples");
});

test("Dockerfile: EXPOSE is exactly the ports the default command listens on beyond loopback", () => {
  const parsed = parseFlags(serveSpec, jsonInstruction("CMD").slice(1));
  assert.ok(parsed);
  const addresses = ["xds-address", "http-address"].map((flag) => parseHostPort(String(parsed.flags[flag]), flag));
  // The secure port listens on the --xds-address host, port 15012, unless --secure-xds-address says otherwise.
  const secure = parsed.flags["secure-xds-address"];
  if (secure !== "off") addresses.push(secure ? parseHostPort(String(secure), "secure-xds-address") : { host: addresses[0]!.host, port: 15012 });
  const listening = addresses.filter((a) => !isLoopback(a.host)).map((a) => a.port);
  const exposed = [...runtime.matchAll(/^EXPOSE\s+(.+)$/gm)].flatMap((m) =>
    m[1]!
      .trim()
      .split(/\s+/)
      .map((p) => Number(p.replace(/\/tcp$/, ""))),
  );
  assert.deepEqual(exposed.sort(), listening.sort());
  assert.match(runtime, /--http-address 0\.0\.0\.0:15014/, "how to reach the debug port is documented");
});

test("Dockerfile: the image carries what the injected containers run: Envoy and iptables", () => {
  assert.match(runtime, /^COPY --from=envoy \/usr\/local\/bin\/envoy \/usr\/local\/bin\/envoy$/m);
  assert.match(runtime, /apt-get install -y --no-install-recommends iptables/);
});

test("Dockerfile: the image ships dist/src only; bench is left out on purpose", () => {
  const copies = [...runtime.matchAll(/^COPY\s+(?:--from=\S+\s+)?(\S+)\s+(\S+)$/gm)].map((m) => m[2]);
  assert.ok(copies.includes("./dist/src"));
  assert.ok(!copies.some((c) => c!.includes("bench")));
  assert.match(dockerfile, /`mini-pilot bench` says so and exits 2/);
});
