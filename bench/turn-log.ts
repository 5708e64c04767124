/**
 * Preload (`node --require dist/bench/turn-log.js …`) that records every turn
 * of the main thread's event loop longer than MP_TURN_LOG_MS (default 50) into
 * the file named by MP_TURN_LOG, one line per turn: start and end in µs of the
 * monotonic clock (the clock of V8's .cpuprofile timestamps) and its length in
 * ms, so `turn-profile.js` can match the turns to a `--cpu-prof` profile of the
 * same process. A 2 ms timer ticks; a gap between ticks is a turn nobody else
 * could run in. Worker threads (which inherit --require) are not watched.
 */
import * as fs from "node:fs";
import { isMainThread } from "node:worker_threads";

const file = process.env.MP_TURN_LOG;
if (file && isMainThread) {
  const threshold = Number(process.env.MP_TURN_LOG_MS ?? 50) * 1000;
  let last = process.hrtime.bigint() / 1000n;
  const timer = setInterval(() => {
    const now = process.hrtime.bigint() / 1000n;
    if (Number(now - last) > threshold) fs.appendFileSync(file, `${last} ${now} ${(Number(now - last) / 1000).toFixed(1)}\n`);
    last = now;
  }, 2);
  timer.unref();
}
