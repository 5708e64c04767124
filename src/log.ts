/** One pino logger: JSON lines, or human-readable when stderr is a terminal. */
import pino from "pino";

export type Logger = pino.Logger;

export function createLogger(level = process.env.LOG_LEVEL ?? "info"): Logger {
  const pretty = process.stderr.isTTY && process.env.LOG_FORMAT !== "json";
  if (pretty) {
    return pino(
      { level, base: undefined },
      pino.transport({ target: "pino-pretty", options: { destination: 2, translateTime: "HH:MM:ss.l", ignore: "pid,hostname" } }),
    );
  }
  return pino({ level, base: undefined }, pino.destination(2));
}
