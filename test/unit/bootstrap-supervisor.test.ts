import { test } from "node:test";
import assert from "node:assert/strict";
import { backoffDelay, ChildExit, exitStatus, RestartPolicy, SupervisedChild, Supervisor } from "../../src/bootstrap/supervisor";
import { envoyArgs } from "../../src/bootstrap/envoy-args";

/** A scripted world: children that exit when told, a clock that moves only when a sleep is taken. */
class World {
  clock = 0;
  children: FakeChild[] = [];
  sleeps: number[] = [];
  pending: { ms: number; wake(): void }[] = [];
  logs: string[] = [];
  /** Sleeps resolve on their own unless held (to test what happens during a backoff). */
  holdSleeps = false;

  deps = {
    start: (): SupervisedChild => {
      const c = new FakeChild(this.children.length + 100);
      this.children.push(c);
      this.onStart(c);
      return c;
    },
    now: () => this.clock,
    sleep: (ms: number) => {
      let resolve!: () => void;
      const done = new Promise<void>((r) => (resolve = r));
      const entry = { ms, wake: () => resolve() };
      if (!this.holdSleeps && ms < 60_000) {
        this.sleeps.push(ms);
        this.clock += ms;
        resolve();
      } else {
        this.pending.push(entry);
      }
      return { done, wake: entry.wake };
    },
    log: (m: string) => void this.logs.push(m),
  };

  /** What each new child does; by default nothing (it runs until told). */
  onStart: (c: FakeChild) => void = () => undefined;
}

class FakeChild implements SupervisedChild {
  signals: NodeJS.Signals[] = [];
  exit!: (e: ChildExit) => void;
  readonly exited: Promise<ChildExit>;
  /** How it reacts to a signal: exit (like Envoy on SIGTERM) or ignore. */
  onSignal: (s: NodeJS.Signals) => ChildExit | undefined = () => ({ code: 0, signal: null });
  constructor(readonly pid: number) {
    this.exited = new Promise((r) => (this.exit = r));
  }
  kill(signal: NodeJS.Signals): boolean {
    this.signals.push(signal);
    const e = signal === "SIGKILL" ? { code: null, signal } : this.onSignal(signal);
    if (e) setImmediate(() => this.exit(e));
    return true;
  }
}

const POLICY: RestartPolicy = { initialDelayMs: 1000, maxDelayMs: 30_000, stableAfterMs: 60_000, killAfterMs: 90_000 };
const tick = () => new Promise((r) => setImmediate(r));

test("backoff doubles from the initial delay and stops at the cap", () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 50].map((n) => backoffDelay(n, POLICY)),
    [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000],
  );
  assert.equal(exitStatus({ code: 3, signal: null }), 3);
  assert.equal(exitStatus({ code: null, signal: "SIGKILL" }), 137);
  assert.equal(exitStatus({ code: null, signal: "SIGTERM" }), 143);
});

test("a crashing Envoy is restarted with growing delays; a clean exit ends the agent with 0", async () => {
  const w = new World();
  w.onStart = (c) => {
    // The first three crash at once (abort, segfault, config error); the fourth is told to quit.
    const n = w.children.length;
    const exits: ChildExit[] = [
      { code: 1, signal: null },
      { code: null, signal: "SIGSEGV" },
      { code: 1, signal: null },
      { code: 0, signal: null },
    ];
    setImmediate(() => c.exit(exits[n - 1]!));
  };
  const status = await new Supervisor(w.deps, POLICY).run();
  assert.equal(status, 0);
  assert.equal(w.children.length, 4);
  assert.deepEqual(w.sleeps, [1000, 2000, 4000]);
  assert.match(w.logs.join("\n"), /envoy exited \(signal SIGSEGV\); restarting in 2000ms/);
  assert.match(w.logs.at(-1)!, /exited cleanly; not restarting/);
});

test("a run longer than stableAfterMs resets the backoff", async () => {
  const w = new World();
  w.onStart = (c) => {
    const n = w.children.length;
    setImmediate(() => {
      if (n === 3) w.clock += 120_000; // the third run is healthy for two minutes
      c.exit(n < 5 ? { code: 1, signal: null } : { code: 0, signal: null });
    });
  };
  await new Supervisor(w.deps, POLICY).run();
  assert.deepEqual(w.sleeps, [1000, 2000, 1000, 2000]);
});

test("SIGTERM goes to Envoy, nothing is restarted, the agent exits with Envoy's status", async () => {
  const w = new World();
  const sup = new Supervisor(w.deps, POLICY);
  const done = sup.run();
  await tick();
  w.children[0]!.onSignal = () => ({ code: 0, signal: null });
  sup.shutdown("SIGTERM");
  assert.equal(await done, 0);
  assert.deepEqual(w.children[0]!.signals, ["SIGTERM"]);
  assert.equal(w.children.length, 1);
  assert.equal(w.pending.length, 1, "the kill deadline was armed");

  const w2 = new World();
  const sup2 = new Supervisor(w2.deps, POLICY);
  const done2 = sup2.run();
  await tick();
  w2.children[0]!.onSignal = () => ({ code: null, signal: "SIGINT" });
  sup2.shutdown("SIGINT");
  assert.equal(await done2, 130, "killed by the forwarded signal: 128 + SIGINT");
});

test("a shutdown during the restart backoff ends the wait and starts nothing", async () => {
  const w = new World();
  w.holdSleeps = true;
  w.onStart = (c) => setImmediate(() => c.exit({ code: 1, signal: null }));
  const sup = new Supervisor(w.deps, POLICY);
  const done = sup.run();
  while (w.pending.length === 0) await tick();
  assert.equal(w.pending[0]!.ms, 1000);
  sup.shutdown("SIGTERM");
  assert.equal(await done, 1, "the status of the last Envoy run");
  assert.equal(w.children.length, 1);
});

test("an Envoy that ignores SIGTERM is killed at the deadline; a second signal kills at once", async () => {
  const w = new World();
  const sup = new Supervisor(w.deps, POLICY);
  const done = sup.run();
  await tick();
  const c = w.children[0]!;
  c.onSignal = () => undefined; // ignores it
  sup.shutdown("SIGTERM");
  assert.equal(w.pending.at(-1)!.ms, 90_000);
  w.pending.at(-1)!.wake(); // the deadline passes
  assert.equal(await done, 137);
  assert.deepEqual(c.signals, ["SIGTERM", "SIGKILL"]);

  const w2 = new World();
  const sup2 = new Supervisor(w2.deps, POLICY);
  const done2 = sup2.run();
  await tick();
  w2.children[0]!.onSignal = () => undefined;
  sup2.shutdown("SIGINT");
  sup2.shutdown("SIGINT");
  assert.equal(await done2, 137);
  assert.deepEqual(w2.children[0]!.signals, ["SIGINT", "SIGKILL"]);
});

test("maxRestarts gives up with the last status; a binary that cannot start is not retried", async () => {
  const w = new World();
  w.onStart = (c) => setImmediate(() => c.exit({ code: 2, signal: null }));
  assert.equal(await new Supervisor(w.deps, { ...POLICY, maxRestarts: 2 }).run(), 2);
  assert.equal(w.children.length, 3);
  assert.match(w.logs.at(-1)!, /giving up after 2 restart\(s\)/);

  const w2 = new World();
  w2.onStart = (c) => setImmediate(() => c.exit({ code: 127, signal: null }));
  assert.equal(await new Supervisor(w2.deps, POLICY).run(), 127);
  assert.equal(w2.children.length, 1);
});

test("Envoy's command line: config, drain, no hot restart, address family, pass-through last", () => {
  const args = envoyArgs({
    configPath: "/etc/istio/proxy/envoy-rev0.json",
    concurrency: 2,
    logLevel: "warning",
    drainTimeS: 45,
    parentShutdownTimeS: 60,
    ipVersion: "v6",
    extra: ["--base-id", "7"],
  });
  assert.deepEqual(args, [
    "-c",
    "/etc/istio/proxy/envoy-rev0.json",
    "--drain-time-s",
    "45",
    "--drain-strategy",
    "immediate",
    "--parent-shutdown-time-s",
    "60",
    "--local-address-ip-version",
    "v6",
    "--disable-hot-restart",
    "--concurrency",
    "2",
    "-l",
    "warning",
    "--base-id",
    "7",
  ]);
});
