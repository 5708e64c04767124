/**
 * `serve`'s debug port settings: where it listens and who may read /debug/*.
 * The port shows every proxy's id, IP and full config; beyond loopback that
 * is a leak unless a token guards it, so serve says so at start-up.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import type { Logger } from "../log";
import { watchFile } from "../sources/watch-file";
import { CliError, FlagSpec, ParsedFlags } from "../util/flags";

export const DEBUG_PORT_FLAGS: Record<string, FlagSpec> = {
  "debug-token-file": {
    type: "string",
    arg: "FILE",
    help: "require `Authorization: Bearer <token>` for /debug/* (token: the file's first line; env MINI_PILOT_DEBUG_TOKEN_FILE); /healthz, /ready and /metrics stay open",
  },
};

export const DEBUG_TOKEN_ENV = "MINI_PILOT_DEBUG_TOKEN_FILE";

/** The token from --debug-token-file (or the environment), or undefined when the port is open. */
export function debugToken(f: ParsedFlags, env: NodeJS.ProcessEnv = process.env): { token?: string; file?: string } {
  const file = (f["debug-token-file"] as string | undefined) ?? (env[DEBUG_TOKEN_ENV] || undefined);
  if (file === undefined) return {};
  const flag = f["debug-token-file"] !== undefined ? "--debug-token-file" : DEBUG_TOKEN_ENV;
  const read = readToken(file);
  if (!read.ok) throw new CliError(`${flag} ${file}: ${read.problem}`);
  return { token: read.token, file };
}

/** The token in `file`, or what is wrong with it. The contents never appear in a message: only what is wrong. */
function readToken(file: string): { ok: true; token: string } | { ok: false; problem: string } {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    return { ok: false, problem: `cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` };
  }
  const token = text.split(/\r?\n/, 1)[0]!.trim();
  if (token === "") return { ok: false, problem: "the first line is empty; put the token there" };
  if (/\s/.test(token)) return { ok: false, problem: "the token contains whitespace; a bearer token is one word" };
  return { ok: true, token };
}

export interface RotatingToken {
  /** The token in force now. */
  current(): string | undefined;
  stop(): void;
}

/**
 * Follow the token file: a rotated token (the file rewritten, renamed over, or
 * a Secret volume's `..data` swap) replaces the old one at once, without a
 * restart. A file that becomes unreadable or empty keeps the last good token
 * (rotation tools write in steps) and is warned about, by file name only.
 */
export function followDebugToken(start: { token?: string; file?: string }, log: Logger, pollMs = 2000): RotatingToken {
  let token = start.token;
  const file = start.file;
  if (token === undefined || file === undefined) return { current: () => token, stop: () => undefined };
  let lastProblem = "";
  const reload = () => {
    const read = readToken(file);
    if (!read.ok) {
      if (read.problem !== lastProblem) log.warn({ tokenFile: file }, `debug token file: ${read.problem}; keeping the current token`);
      lastProblem = read.problem;
      return;
    }
    lastProblem = "";
    if (read.token === token) return;
    token = read.token;
    log.info({ tokenFile: file }, "debug token reloaded; the previous token no longer works");
  };
  const stopWatch = watchFile(file, reload);
  // The backstop for changes a watcher misses (network file systems, a watch limit).
  const poll = setInterval(reload, pollMs);
  poll.unref();
  return {
    current: () => token,
    stop: () => {
      stopWatch();
      clearInterval(poll);
    },
  };
}

/** Is `host` only reachable from this machine? */
export function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  if (net.isIPv4(host)) return host.startsWith("127.");
  if (net.isIPv6(host)) return host === "::1" || /^::ffff:127\./i.test(host);
  return false;
}

/** The start-up line about who can reach /debug/*: a warning when anyone on the network can, without a token. */
export function announceDebugPort(log: Logger, address: string, host: string, token: { token?: string; file?: string }): void {
  if (isLoopback(host)) {
    if (token.token) log.info({ http: address, tokenFile: token.file }, "/debug/* requires the bearer token");
    return;
  }
  if (token.token) {
    log.info({ http: address, tokenFile: token.file }, "the debug port listens beyond loopback; /debug/* requires the bearer token");
    return;
  }
  log.warn(
    { http: address },
    `the debug port listens beyond loopback (${address}) without a token: anyone who reaches it can read every proxy's id, IP and config at /debug/*; ` +
      `guard it with --debug-token-file FILE, or listen on 127.0.0.1`,
  );
}
