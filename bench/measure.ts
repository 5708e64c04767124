/**
 * Measuring around a run: the machine's busy time (to tell our CPU from other
 * processes'), waiting for a quiet machine, waiting for an idle fleet, and the
 * marks taken at the edges of a measured window.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import type { Fleet, FleetResults } from "./fleet/fleet";
import type { RunningServer, ServerStats } from "./servers/launch";
import { round } from "./stats";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Before a run, wait (at most `maxWaitS`) until the machine is quiet: other work
 * below `pct`% of all CPUs over a 1 s sample. Nothing of ours runs then.
 */
export async function waitForQuiet(pct: number, maxWaitS: number, progress: (line: string) => void): Promise<void> {
  const deadline = Date.now() + maxWaitS * 1000;
  let said = false;
  for (;;) {
    const b0 = machineBusyMs();
    const t0 = Date.now();
    await sleep(1000);
    const busyPct = (100 * (machineBusyMs() - b0)) / ((Date.now() - t0) * os.cpus().length);
    if (!(busyPct > pct) || Date.now() > deadline) return;
    if (!said) progress(`machine busy with other processes (${round(busyPct, 0)}% of CPUs); waiting up to ${maxWaitS} s for it to calm down`);
    said = true;
  }
}

/** Wait until no responses arrive for a while (the fleet is idle), at most 10 s. */
export async function settle(fleet: Fleet, quietMs: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  let last = fleet.status().counters.responses;
  let since = Date.now();
  while (Date.now() < deadline) {
    await sleep(50);
    const cur = fleet.status().counters.responses;
    if (cur !== last) {
      last = cur;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return;
  }
}

export function diff(a: FleetResults["counters"], b: FleetResults["counters"]): FleetResults["counters"] {
  const out = { ...a };
  for (const k of Object.keys(a) as (keyof typeof a)[]) out[k] = a[k] - b[k];
  return out;
}

/** Everything measured at the edges of a window. */
export interface Mark {
  server: ServerStats;
  fleet: FleetResults;
  /** Busy CPU of the whole machine (/proc/stat), ms. */
  machineBusyMs: number;
  parentCpuMicros: number;
}

export async function mark(server: RunningServer, fleet: Fleet): Promise<Mark> {
  const [s, f] = await Promise.all([server.stats(), fleet.collect()]);
  const cpu = process.cpuUsage();
  return { server: s, fleet: f, machineBusyMs: machineBusyMs(), parentCpuMicros: cpu.user + cpu.system };
}

/**
 * user+nice+system+steal of all CPUs since boot, in ms (NaN off Linux). irq and
 * softirq are left out: loopback networking runs there and is not charged to
 * any process, so it would count the servers' own traffic as "other".
 */
export function machineBusyMs(): number {
  try {
    const line = fs.readFileSync("/proc/stat", "utf8").split("\n")[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const busy = v[0]! + v[1]! + v[2]! + v[7]!;
    return (busy * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return NaN;
  }
}
