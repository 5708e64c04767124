/**
 * Keeping one Envoy process alive, the way pilot-agent does: start it, restart
 * it with capped exponential backoff when it crashes, pass shutdown signals on,
 * and report how it ended.
 *
 * Processes, timers and the clock are injected, so every path (crash loop,
 * backoff reset, shutdown during backoff, a child that ignores SIGTERM) is
 * tested without spawning anything.
 */
import * as os from "node:os";

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The part of a ChildProcess the supervisor uses. */
export interface SupervisedChild {
  readonly pid?: number | undefined;
  kill(signal: NodeJS.Signals): boolean;
  /** Resolves once, when the process has ended (or could not be started: code 127). */
  readonly exited: Promise<ChildExit>;
}

export interface RestartPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
  /** A run at least this long is healthy: the next crash starts the backoff over. */
  stableAfterMs: number;
  /** Give up after this many restarts; undefined: never. */
  maxRestarts?: number;
  /** After a shutdown signal, SIGKILL the child if it has not exited within this. */
  killAfterMs: number;
}

export const DEFAULT_POLICY: RestartPolicy = { initialDelayMs: 1_000, maxDelayMs: 30_000, stableAfterMs: 60_000, killAfterMs: 90_000 };

export interface SupervisorDeps {
  start(): SupervisedChild;
  now(): number;
  /** Wait `ms`; resolves early when `wake` is called (used to cut a backoff short on shutdown). */
  sleep(ms: number): { done: Promise<void>; wake(): void };
  log(message: string): void;
}

/** The delay before restart number `crashes` (1-based) in a row: initial, doubled each time, capped. */
export function backoffDelay(crashes: number, policy: Pick<RestartPolicy, "initialDelayMs" | "maxDelayMs">): number {
  const n = Math.max(1, crashes);
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(n - 1, 30));
}

/** A process exit as a shell would report it: the code, or 128 + the signal number. */
export function exitStatus(exit: ChildExit): number {
  if (exit.code !== null) return exit.code;
  const n = exit.signal ? os.constants.signals[exit.signal] : undefined;
  return n !== undefined ? 128 + n : 1;
}

function describe(exit: ChildExit): string {
  return exit.code !== null ? `exit code ${exit.code}` : `signal ${exit.signal ?? "?"}`;
}

export class Supervisor {
  private child: SupervisedChild | undefined;
  private stopping: NodeJS.Signals | undefined;
  private wakeSleep: (() => void) | undefined;
  private killTimer: { wake(): void } | undefined;
  restarts = 0;

  constructor(
    private readonly deps: SupervisorDeps,
    private readonly policy: RestartPolicy = DEFAULT_POLICY,
  ) {}

  /** Run until Envoy ends for good; resolves with the status the agent should exit with. */
  async run(): Promise<number> {
    let crashes = 0;
    for (;;) {
      const startedAt = this.deps.now();
      const child = this.deps.start();
      this.child = child;
      this.deps.log(`envoy started (pid ${child.pid ?? "?"})`);
      const exit = await child.exited;
      this.child = undefined;
      this.killTimer?.wake();
      const status = exitStatus(exit);
      if (this.stopping) {
        this.deps.log(`envoy stopped after ${this.stopping} (${describe(exit)})`);
        return status;
      }
      // Exit 0 without a signal from us: Envoy was told to quit (admin /quitquitquit).
      if (exit.code === 0) {
        this.deps.log("envoy exited cleanly; not restarting");
        return 0;
      }
      if (exit.code === 127) {
        this.deps.log("envoy could not be started; not restarting");
        return status;
      }
      if (this.policy.maxRestarts !== undefined && this.restarts >= this.policy.maxRestarts) {
        this.deps.log(`envoy exited (${describe(exit)}); giving up after ${this.restarts} restart(s)`);
        return status;
      }
      crashes = this.deps.now() - startedAt >= this.policy.stableAfterMs ? 1 : crashes + 1;
      const delay = backoffDelay(crashes, this.policy);
      this.deps.log(`envoy exited (${describe(exit)}); restarting in ${delay}ms`);
      const pause = this.deps.sleep(delay);
      this.wakeSleep = pause.wake;
      await pause.done;
      this.wakeSleep = undefined;
      if (this.stopping) {
        this.deps.log(`${this.stopping} during restart backoff; not restarting`);
        return status;
      }
      this.restarts++;
    }
  }

  /**
   * Pass `signal` on to Envoy and stop restarting it. A second call, or a child
   * still running after killAfterMs, gets SIGKILL.
   */
  shutdown(signal: NodeJS.Signals): void {
    const again = this.stopping !== undefined;
    this.stopping ??= signal;
    this.wakeSleep?.();
    const child = this.child;
    if (!child) return;
    if (again) {
      this.deps.log(`second ${signal}: killing envoy`);
      child.kill("SIGKILL");
      return;
    }
    child.kill(signal);
    const timer = this.deps.sleep(this.policy.killAfterMs);
    this.killTimer = timer;
    void timer.done.then(() => {
      if (this.child === child) {
        this.deps.log(`envoy still running ${this.policy.killAfterMs}ms after ${signal}: killing it`);
        child.kill("SIGKILL");
      }
    });
  }
}
