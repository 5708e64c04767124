/**
 * The papercuts a new user hit (issue 14), each through the built CLI run as
 * a child process, the way a user runs it: exit status, stdout and stderr.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { parse as parseYaml } from "yaml";

const REPO = path.join(__dirname, "..", "..", "..");
const CLI = path.join(__dirname, "..", "..", "src", "cli", "main.js");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mp-papercuts-"));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

const POD = { POD_NAME: "bill-v1-x", POD_NAMESPACE: "default", INSTANCE_IP: "10.0.0.7" };

function cli(args: string[], opts: { input?: string; env?: Record<string, string>; timeout?: number } = {}): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: REPO,
    encoding: "utf8",
    input: opts.input ?? "",
    env: { PATH: process.env.PATH ?? "", LOG_FORMAT: "json", ...opts.env },
    timeout: opts.timeout ?? 30_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The error line a user reads: the last non-empty stderr line, and no stack trace anywhere. */
function oneLineError(r: Run): string {
  assert.doesNotMatch(r.stderr, /^\s+at /m, `no stack trace:\n${r.stderr}`);
  const lines = r.stderr.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("{"));
  assert.equal(lines.length, 1, `exactly one line besides JSON logs:\n${r.stderr}`);
  return lines[0]!;
}

/** Hold a loopback port so serve cannot have it. */
function holdPort(): Promise<{ port: number; close(): Promise<void> }> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => resolve({ port: (s.address() as net.AddressInfo).port, close: () => new Promise((r) => s.close(() => r())) }));
  });
}

/** Run serve and wait for it to end by itself (a serve that keeps running fails the test after 15 s). */
function serveExit(args: string[]): Promise<Run & { ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, "serve", "--config-dir", "examples/bill-service", ...args], {
      cwd: REPO,
      env: { PATH: process.env.PATH ?? "", LOG_FORMAT: "json" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({
        status: signal ? null : code,
        stdout,
        stderr: signal ? `${stderr}\n(killed: serve was still running after 15 s)` : stderr,
        ms: Date.now() - started,
      });
    });
  });
}

test("serve exits 2 with one line when its xDS port is taken", { timeout: 30_000 }, async () => {
  const held = await holdPort();
  try {
    const r = await serveExit(["--xds-address", `127.0.0.1:${held.port}`, "--http-address", "127.0.0.1:0"]);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(
      oneLineError(r),
      `mini-pilot serve: cannot listen on --xds-address 127.0.0.1:${held.port}: the address is already in use (another process listens there) (EADDRINUSE)`,
    );
  } finally {
    await held.close();
  }
});

test("serve exits 2 with one line when its HTTP port is taken", { timeout: 30_000 }, async () => {
  const held = await holdPort();
  try {
    const r = await serveExit(["--xds-address", "127.0.0.1:0", "--http-address", `127.0.0.1:${held.port}`]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(oneLineError(r), new RegExp(`^mini-pilot serve: cannot listen on --http-address 127\\.0\\.0\\.1:${held.port}: the address is already in use`));
  } finally {
    await held.close();
  }
});

test("serve exits 2 with one line for an address no interface has (192.0.2.1, TEST-NET-1)", { timeout: 30_000 }, async () => {
  const xds = await serveExit(["--xds-address", "192.0.2.1:0", "--http-address", "127.0.0.1:0"]);
  assert.equal(xds.status, 2, xds.stderr);
  assert.match(
    oneLineError(xds),
    /^mini-pilot serve: cannot listen on --xds-address 192\.0\.2\.1:0: no interface of this machine has that address \(EADDRNOTAVAIL\)$/,
  );
  const web = await serveExit(["--xds-address", "127.0.0.1:0", "--http-address", "192.0.2.1:0"]);
  assert.equal(web.status, 2, web.stderr);
  assert.match(oneLineError(web), /^mini-pilot serve: cannot listen on --http-address 192\.0\.2\.1:0: no interface/);
});

test("--log-level verbose: one line listing the levels, exit 2, no stack trace", () => {
  const r = cli(["serve", "--config-dir", "examples/bill-service", "--log-level", "verbose"]);
  assert.equal(r.status, 2, r.stderr);
  assert.equal(oneLineError(r), 'mini-pilot serve: --log-level wants one of trace, debug, info, warn, error, fatal, silent, got "verbose"');
});

test("--version at the top and for every command", () => {
  const want = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")).version as string;
  for (const args of [
    ["--version"],
    ["version"],
    ["serve", "--version"],
    ["validate", "--version"],
    ["translate", "--version"],
    ["bootstrap", "--version"],
    ["static", "--version"],
    ["agent", "--version"],
  ]) {
    const r = cli(args);
    assert.equal(r.status, 0, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stdout, `mini-pilot ${want} (node ${process.versions.node})\n`, args.join(" "));
  }
  assert.match(cli(["--help"]).stdout, /mini-pilot --version/);
});

test("validate -f - reads standard input", () => {
  const good = cli(["validate", "-f", "-"], { input: fs.readFileSync(path.join(REPO, "examples/bill-service/destination-rule.yaml"), "utf8") });
  assert.equal(good.status, 0, good.stdout + good.stderr);
  assert.match(good.stdout, /^1 objects, 0 errors/m);
  const bad = cli(["validate", "-f", "-"], { input: "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: x}\nspec: {}\n" });
  assert.equal(bad.status, 1, bad.stdout + bad.stderr);
  assert.match(bad.stdout, /^<stdin>:1 DestinationRule default\/x spec\.host: /m);
  // Files and stdin together, each named in its diagnostics.
  const both = cli(["validate", "-f", "examples/bill-service/services.yaml", "-f", "-"], { input: "kind: Nope\n" });
  assert.match(both.stdout, /<stdin>:1/);
});

function folderWithAnError(): string {
  const dir = fs.mkdtempSync(path.join(tmp, "broken-"));
  for (const f of fs.readdirSync(path.join(REPO, "examples/bill-service"))) fs.copyFileSync(path.join(REPO, "examples/bill-service", f), path.join(dir, f));
  fs.writeFileSync(
    path.join(dir, "zz-broken.yaml"),
    "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: broken, namespace: default}\nspec:\n  hosts: [other-service]\n  http:\n  - timeout: 1s\n",
  );
  return dir;
}

const FRONT_TOMCAT = "sidecar~172.7.120.13~front-tomcat-6b8d7c5f4-9zq7w.default~default.svc.cluster.local";

test("translate exits 1 on a folder with errors (the output is still printed), 0 on a clean one", () => {
  const clean = cli(["translate", "--config-dir", "examples/bill-service", "--proxy", FRONT_TOMCAT, "--labels", "app=front-tomcat", "--type", "clusters"]);
  assert.equal(clean.status, 0, clean.stderr);
  const r = cli([
    "translate",
    "--config-dir",
    folderWithAnError(),
    "--proxy",
    FRONT_TOMCAT,
    "--labels",
    "app=front-tomcat",
    "--type",
    "clusters",
    "-o",
    "json",
  ]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^error: .*zz-broken\.yaml:\d+ VirtualService default\/broken /m);
  assert.match(r.stderr, /mini-pilot translate: 1 error in .*; objects in error were left out of the output/);
  assert.ok(Array.isArray(JSON.parse(r.stdout)), "the resources are still printed");
});

test("-o is the format everywhere; --out is the file (bootstrap, static)", () => {
  const yaml = cli(["bootstrap", "-o", "yaml", "--out", "-"], { env: POD });
  assert.equal(yaml.status, 0, yaml.stderr);
  assert.equal((parseYaml(yaml.stdout) as { node: { id: string } }).node.id, "sidecar~10.0.0.7~bill-v1-x.default~default.svc.cluster.local");
  const json = cli(["bootstrap", "--output", "json", "--out", "-"], { env: POD });
  assert.equal(JSON.parse(json.stdout).node.id, "sidecar~10.0.0.7~bill-v1-x.default~default.svc.cluster.local");
  // The old meaning of -o (a file) is refused with the way to do it now, and nothing is written.
  const file = path.join(tmp, "old-style.json");
  const old = cli(["bootstrap", "-o", file], { env: POD });
  assert.equal(old.status, 2);
  assert.equal(oneLineError(old), `mini-pilot bootstrap: -o/--output is the format, json or yaml, got "${file}"; to write a file use --out FILE`);
  assert.equal(fs.existsSync(file), false);
  // A .yaml --out gets YAML (Envoy picks the parser by extension); YAML into a .json file is refused.
  const yamlFile = path.join(tmp, "b", "envoy-rev0.yaml");
  assert.equal(cli(["bootstrap", "--out", yamlFile], { env: POD }).status, 0);
  assert.match(fs.readFileSync(yamlFile, "utf8"), /^node:\n/m);
  const mismatch = cli(["bootstrap", "-o", "yaml", "--out", path.join(tmp, "x.json")], { env: POD });
  assert.equal(mismatch.status, 2);
  assert.match(mismatch.stderr, /Envoy reads a \.json file as JSON/);

  const staticOut = path.join(tmp, "static", "front-tomcat.yaml");
  const st = cli(["static", "--config-dir", "examples/bill-service", "--proxy", FRONT_TOMCAT, "--out", staticOut]);
  assert.equal(st.status, 0, st.stderr);
  assert.equal((parseYaml(fs.readFileSync(staticOut, "utf8")) as { node: { id: string } }).node.id, FRONT_TOMCAT);
  const stOld = cli(["static", "--config-dir", "examples/bill-service", "--proxy", FRONT_TOMCAT, "-o", "front.json"]);
  assert.equal(stOld.status, 2);
  assert.match(stOld.stderr, /-o\/--output is the format, json or yaml, got "front\.json"; to write a file use --out FILE/);
  const tr = cli(["translate", "--config-dir", "examples/bill-service", "--proxy", FRONT_TOMCAT, "--type", "routes", "-o", "json"]);
  assert.ok(Array.isArray(JSON.parse(tr.stdout)), tr.stderr);
});

test("bootstrap --xds-tls --xds-ca /missing.pem is refused, naming the flag and file", () => {
  const missing = path.join(tmp, "missing.pem");
  const r = cli(["bootstrap", "--out", "-", "--xds-tls", "--xds-ca", missing], { env: POD });
  assert.equal(r.status, 2, r.stdout);
  assert.equal(oneLineError(r), `mini-pilot bootstrap: --xds-ca ${missing}: no such file; Envoy could not read it`);
  const ca = path.join(tmp, "ca.pem");
  fs.writeFileSync(ca, "-----BEGIN CERTIFICATE-----\n");
  const key = cli(["bootstrap", "--out", "-", "--xds-tls", "--xds-ca", ca, "--xds-cert", ca, "--xds-key", tmp], { env: POD });
  assert.equal(key.status, 2);
  assert.match(key.stderr, new RegExp(`--xds-key ${tmp.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: not a regular file`));
  const ok = cli(["bootstrap", "--out", "-", "--xds-tls", "--xds-ca", ca], { env: POD });
  assert.equal(ok.status, 0, ok.stderr);
});

test("help text: the flag and help columns never run into each other, lines fit in 100 columns", () => {
  for (const command of ["serve", "translate", "validate", "bootstrap", "static", "agent", "bench"]) {
    const r = cli([command, "--help"]);
    assert.equal(r.status, 0, `${command}: ${r.stderr}`);
    const flagLines = r.stdout.split("\n").filter((l) => /^ {2}(-\w, | {4})--[\w-]+/.test(l));
    assert.ok(flagLines.length >= 2, `${command} lists its flags`);
    for (const line of flagLines) {
      // `  -o, --flag ARG` then either the end of the line or at least two spaces before the help.
      assert.match(line, /^ {2}(-\w, | {4})--[\w-]+( \S+)?( {2,}\S.*)?$/, `${command}: columns run together in\n${line}`);
    }
    for (const line of r.stdout.split("\n"))
      if (/^ {2}(-\w, | {4})--/.test(line) || /^ {10,}\S/.test(line)) assert.ok(line.length <= 100, `${command}: line longer than 100:\n${line}`);
  }
});

test("a router no Gateway selects gets a warning naming it and its labels (translate and static)", () => {
  const node = "router~10.0.0.9~my-gw-1.istio-system~istio-system.svc.cluster.local";
  const r = cli(["translate", "--config-dir", "examples", "--proxy", node, "--labels", "app=my-gw,istio=my-gateway", "--type", "listeners", "-o", "json"]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), []);
  assert.match(
    r.stderr,
    /^warning: router proxy router~10\.0\.0\.9~my-gw-1\.istio-system~istio-system\.svc\.cluster\.local with labels \{app=my-gw,istio=my-gateway\} is selected by no Gateway, so it gets no listeners; a Gateway's spec\.selector must be a subset of those labels \(default\/bookinfo-gateway selects \{istio=ingressgateway\}; demo\/demo-gateway selects \{istio=demo-gateway\}\)$/m,
  );
  const selected = cli(["translate", "--config-dir", "examples", "--proxy", node, "--labels", "istio=ingressgateway", "--type", "listeners"]);
  assert.doesNotMatch(selected.stderr, /selected by no Gateway/);
  const st = cli(["static", "--config-dir", "examples", "--proxy", node, "--labels", "app=my-gw"]);
  assert.match(st.stderr, /router proxy .* is selected by no Gateway/);
});

/** A copy of dist/src alone, as the container image ships it (no dist/bench). */
function imageLikeCopy(): string {
  const root = fs.mkdtempSync(path.join(tmp, "image-"));
  fs.cpSync(path.join(__dirname, "..", "..", "src"), path.join(root, "dist", "src"), { recursive: true });
  fs.copyFileSync(path.join(REPO, "package.json"), path.join(root, "package.json"));
  fs.symlinkSync(path.join(REPO, "node_modules"), path.join(root, "node_modules"));
  return root;
}

test("bench: reported as not included where bench/ is absent; a broken import in a command surfaces, never 'unknown command'", () => {
  const root = imageLikeCopy();
  const main = path.join(root, "dist", "src", "cli", "main.js");
  const run = (args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: "utf8", timeout: 30_000 });
  const bench = run(["bench"]);
  assert.equal(bench.status, 2, bench.stderr);
  assert.match(bench.stderr, /^mini-pilot: bench is not included in this build .*; run it from the repository: npm run bench\n$/);
  const help = run(["--help"]);
  assert.doesNotMatch(help.stdout, /^ {2}bench /m);
  assert.match(help.stdout, /bench is not included in this build/);
  // Break serve's imports: the failure must be shown as what it is.
  const serveJs = path.join(root, "dist", "src", "cli", "serve.js");
  fs.writeFileSync(serveJs, `require("../no-such-module");\n${fs.readFileSync(serveJs, "utf8")}`);
  const serve = run(["serve", "--config-dir", "examples"]);
  assert.equal(serve.status, 1);
  assert.doesNotMatch(serve.stderr, /unknown command/);
  assert.match(serve.stderr, /Cannot find module '\.\.\/no-such-module'/);
});

test("serve logs a hint, once, when a router that no Gateway selects connects", { timeout: 60_000 }, async (t) => {
  const { startServe } = await import("../support/serve-process");
  const { TestSotwStream, connect } = await import("../support/ads-client");
  const serve = await startServe(["--config-dir", path.join(REPO, "examples")]);
  // Node metadata as plain JSON (the test client turns it into a google.protobuf.Struct).
  const labels = { LABELS: { app: "my-gw", istio: "my-gateway" } };
  t.after(() => serve.stop());
  const node = "router~10.0.0.9~my-gw-1.istio-system~istio-system.svc.cluster.local";
  const s = new TestSotwStream(connect(serve.xdsPort), node, labels);
  t.after(() => s.close());
  s.send({ typeUrl: "type.googleapis.com/envoy.config.listener.v3.Listener" });
  const listeners = await s.next(5000);
  assert.deepEqual(listeners.names, [], "no Gateway, no listeners");
  const line = await serve.waitForLog(/selected by no Gateway/, 5000);
  assert.equal(JSON.parse(line).level, 40, "a warning");
  assert.match(line, /router proxy router~10\.0\.0\.9~my-gw-1\.istio-system~istio-system\.svc\.cluster\.local with labels \{app=my-gw,istio=my-gateway\}/);
  // A second replica (same labels, another node id): the hint is not repeated.
  const twin = new TestSotwStream(connect(serve.xdsPort), "router~10.0.0.10~my-gw-2.istio-system~istio-system.svc.cluster.local", labels);
  t.after(() => twin.close());
  twin.send({ typeUrl: "type.googleapis.com/envoy.config.listener.v3.Listener" });
  await twin.next(5000);
  await new Promise((r) => setTimeout(r, 500)); // time for a (wrong) second line to reach the log
  assert.equal(serve.logs.filter((l) => /selected by no Gateway/.test(l)).length, 1);
});
