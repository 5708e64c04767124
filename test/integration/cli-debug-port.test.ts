/**
 * The debug port's guard, through real HTTP against `mini-pilot serve` run as
 * a child process: /debug/* wants the bearer token from --debug-token-file,
 * /healthz /ready /metrics stay open, the token never reaches the log, and a
 * port beyond loopback without a token is warned about.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { startServe, CLI } from "../support/serve-process";
import { announceDebugPort, isLoopback } from "../../src/cli/debug-port";
import type { Logger } from "../../src/log";

const REPO = path.join(__dirname, "..", "..", "..");
const EXAMPLES = path.join(REPO, "examples", "bill-service");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mp-debug-port-"));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const TOKEN = "s3cr3t-Tok3n-4a9f0c2e7b1d";

async function get(port: number, p: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; auth: string | null }> {
  const res = await fetch(`http://127.0.0.1:${port}${p}`, { headers });
  return { status: res.status, body: await res.text(), auth: res.headers.get("www-authenticate") };
}

test(
  "with --debug-token-file, /debug/* needs the bearer token; /healthz /ready /metrics stay open; the token is never logged",
  { timeout: 60_000 },
  async (t) => {
    const file = path.join(tmp, "token");
    fs.writeFileSync(file, `${TOKEN}\n`, { mode: 0o600 });
    const serve = await startServe(["--config-dir", EXAMPLES, "--debug-token-file", file, "--log-level", "debug"]);
    t.after(() => serve.stop());
    for (const open of ["/healthz", "/ready", "/metrics"]) assert.equal((await get(serve.httpPort, open)).status, 200, open);
    for (const guarded of ["/debug/syncz", "/debug/configz", "/debug/config_dump?proxy=x", "/debug/", "/debug", "/anything-else"]) {
      const none = await get(serve.httpPort, guarded);
      assert.equal(none.status, 401, `${guarded} without a token`);
      assert.equal(none.auth, 'Bearer realm="mini-pilot debug"');
      assert.doesNotMatch(none.body, new RegExp(TOKEN));
      assert.equal((await get(serve.httpPort, guarded, { authorization: `Bearer ${TOKEN}x` })).status, 401, `${guarded} with a wrong token`);
      assert.equal((await get(serve.httpPort, guarded, { authorization: TOKEN })).status, 401, `${guarded} without the Bearer scheme`);
    }
    const ok = await get(serve.httpPort, "/debug/configz", { authorization: `Bearer ${TOKEN}` });
    assert.equal(ok.status, 200);
    assert.ok(JSON.parse(ok.body).objects > 0);
    assert.equal((await get(serve.httpPort, "/debug/syncz", { authorization: `bearer  ${TOKEN}` })).status, 200, "the scheme is case-insensitive");
    await serve.stop();
    const logs = serve.logs.join("\n");
    assert.match(logs, /requires the bearer token/);
    assert.ok(!logs.includes(TOKEN), "the token is not in the log");
  },
);

test("without a token /debug/* answers as before (loopback default)", { timeout: 60_000 }, async (t) => {
  const serve = await startServe(["--config-dir", EXAMPLES]);
  t.after(() => serve.stop());
  assert.equal((await get(serve.httpPort, "/debug/configz")).status, 200);
  assert.ok(!serve.logs.some((l) => /beyond loopback/.test(l)), "no warning on loopback");
});

test("a bad token file is refused with one line naming it, never its contents", () => {
  const run = (file: string) =>
    spawnSync(
      process.execPath,
      [CLI, "serve", "--config-dir", EXAMPLES, "--xds-address", "127.0.0.1:0", "--http-address", "127.0.0.1:0", "--debug-token-file", file],
      { encoding: "utf8", timeout: 30_000 },
    );
  const missing = run(path.join(tmp, "nope"));
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /^mini-pilot serve: --debug-token-file .*nope: cannot read it \(ENOENT\)\n$/);
  const empty = path.join(tmp, "empty");
  fs.writeFileSync(empty, "\n");
  assert.match(run(empty).stderr, /the first line is empty/);
  const spaced = path.join(tmp, "spaced");
  fs.writeFileSync(spaced, "two words-of-secret\n");
  const r = run(spaced);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /the token contains whitespace/);
  assert.ok(!r.stderr.includes("words-of-secret"));
});

test("isLoopback: 127.0.0.0/8, ::1 and localhost only", () => {
  for (const h of ["127.0.0.1", "127.0.0.2", "::1", "localhost", "::ffff:127.0.0.1"]) assert.equal(isLoopback(h), true, h);
  for (const h of ["0.0.0.0", "::", "10.0.0.1", "192.168.1.2", "example.com", ""]) assert.equal(isLoopback(h), false, h);
});

/** A logger that keeps what it was told. */
function recordingLogger(): { log: Logger; lines: { level: string; msg: string; obj: object }[] } {
  const lines: { level: string; msg: string; obj: object }[] = [];
  const at = (level: string) => (obj: object, msg: string) => void lines.push({ level, msg, obj });
  return { log: { info: at("info"), warn: at("warn") } as unknown as Logger, lines };
}

// Tests never listen beyond loopback, so the start-up notice is checked on the function serve calls
// with the address it bound (the loopback case runs through serve above).
test("the start-up notice: a warning beyond loopback without a token, info with one, nothing on loopback", () => {
  const open = recordingLogger();
  announceDebugPort(open.log, "0.0.0.0:15014", "0.0.0.0", {});
  assert.equal(open.lines.length, 1);
  assert.equal(open.lines[0]!.level, "warn");
  assert.match(
    open.lines[0]!.msg,
    /listens beyond loopback \(0\.0\.0\.0:15014\) without a token: anyone who reaches it can read every proxy's id, IP and config at \/debug\/\*; guard it with --debug-token-file FILE/,
  );
  const guarded = recordingLogger();
  announceDebugPort(guarded.log, "10.0.0.5:15014", "10.0.0.5", { token: TOKEN, file: "/run/token" });
  assert.deepEqual(
    guarded.lines.map((l) => l.level),
    ["info"],
  );
  assert.match(guarded.lines[0]!.msg, /beyond loopback; \/debug\/\* requires the bearer token/);
  assert.ok(!JSON.stringify(guarded.lines).includes(TOKEN), "the token is not logged, only its file");
  const loopback = recordingLogger();
  announceDebugPort(loopback.log, "127.0.0.1:15014", "127.0.0.1", {});
  assert.deepEqual(loopback.lines, []);
});

test("a rotated token file takes effect without a restart: the new token works, the old one is refused, neither is logged", { timeout: 60_000 }, async (t) => {
  const file = path.join(tmp, "rotating-token");
  const NEW = "n3w-Tok3n-77c1e0b9a2f4";
  fs.writeFileSync(file, `${TOKEN}\n`, { mode: 0o600 });
  const serve = await startServe(["--config-dir", EXAMPLES, "--debug-token-file", file, "--log-level", "debug"]);
  t.after(() => serve.stop());
  const status = async (token: string) => (await get(serve.httpPort, "/debug/configz", { authorization: `Bearer ${token}` })).status;
  assert.equal(await status(TOKEN), 200);
  assert.equal(await status(NEW), 401);

  // Rotated the way a Secret volume or a careful script does it: written aside, renamed over.
  fs.writeFileSync(`${file}.tmp`, `${NEW}\n`, { mode: 0o600 });
  fs.renameSync(`${file}.tmp`, file);
  const start = Date.now();
  while ((await status(NEW)) !== 200) {
    assert.ok(Date.now() - start < 5000, "the new token is accepted within 5 s");
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(await status(TOKEN), 401, "the old token no longer works");

  // Half-way through a rotation the file is empty: the current token stays, a warning names the file only.
  fs.writeFileSync(file, "");
  await serve.waitForLog(/debug token file: the first line is empty.*; keeping the current token/, 5000);
  assert.equal(await status(NEW), 200);
  await serve.stop();
  const logs = serve.logs.join("\n");
  assert.match(logs, /debug token reloaded/);
  assert.ok(!logs.includes(TOKEN) && !logs.includes(NEW), "no token in the log");
});
