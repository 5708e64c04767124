/** One pino logger: JSON lines, or human-readable when stderr is a terminal. */
import pino from "pino";
import { CliError } from "./util/flags";

export type Logger = pino.Logger;

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A level name, or a one-line error listing the levels (pino's own error is a stack trace). */
export function parseLogLevel(value: string, where = "--log-level"): LogLevel {
  const v = value.trim().toLowerCase();
  if ((LOG_LEVELS as readonly string[]).includes(v)) return v as LogLevel;
  throw new CliError(`${where} wants one of ${LOG_LEVELS.join(", ")}, got "${value}"`);
}

export function createLogger(level: string = process.env.LOG_LEVEL ?? "info"): Logger {
  const checked = parseLogLevel(level);
  const pretty = process.stderr.isTTY && process.env.LOG_FORMAT !== "json";
  if (pretty) {
    return pino(
      { level: checked, base: undefined },
      pino.transport({ target: "pino-pretty", options: { destination: 2, translateTime: "HH:MM:ss.l", ignore: "pid,hostname" } }),
    );
  }
  return pino({ level: checked, base: undefined }, pino.destination(2));
}
