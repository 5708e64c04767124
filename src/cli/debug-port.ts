/**
 * `serve`'s debug port settings: where it listens and who may read /debug/*.
 * The port shows every proxy's id, IP and full config; beyond loopback that
 * is a leak unless a token guards it, so serve says so at start-up.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import type { Logger } from "../log";
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
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new CliError(`${flag} ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  // The contents never appear in a message: only the file name and what is wrong.
  const token = text.split(/\r?\n/, 1)[0]!.trim();
  if (token === "") throw new CliError(`${flag} ${file}: the first line is empty; put the token there`);
  if (/\s/.test(token)) throw new CliError(`${flag} ${file}: the token contains whitespace; a bearer token is one word`);
  return { token, file };
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
