/**
 * Reads V8 .cpuprofile files (from `mini-pilot bench --cpu-prof`) and prints
 * where the time went: top functions by self time, and total (inclusive) time
 * per source file of interest. Usable on its own:
 *   node dist/bench/profile-summary.js bench-results/profiles [top]
 */
import * as fs from "node:fs";
import * as path from "node:path";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/**
 * A window of a whole-process profile, for a server the bench cannot ask to
 * start and stop profiling (`mini-pilot serve` on the API-server path): the
 * bench writes `<name>.window.json` next to the profile with the window's
 * bounds on the monotonic clock (`process.hrtime`, which is the clock V8
 * stamps samples with on Linux), and the summary keeps the samples inside it.
 */
export interface ProfileWindow {
  /** The .cpuprofile file (in the same folder) the window is cut from. */
  profile: string;
  startUs: number;
  endUs: number;
}

/** `hrtime` now, in microseconds, on the clock of V8's profile timestamps. */
export function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** The samples of `profile` taken in [startUs, endUs], as a profile of its own. */
export function sliceProfile(profile: CpuProfile, startUs: number, endUs: number): CpuProfile {
  const hits = new Map<number, number>();
  let t = profile.startTime;
  const samples = profile.samples ?? [];
  for (let i = 0; i < samples.length; i++) {
    t += profile.timeDeltas?.[i] ?? 0;
    if (t >= startUs && t <= endUs) hits.set(samples[i]!, (hits.get(samples[i]!) ?? 0) + 1);
  }
  const start = Math.max(startUs, profile.startTime);
  const end = Math.max(start, Math.min(endUs, profile.endTime));
  return { nodes: profile.nodes.map((n) => ({ ...n, hitCount: hits.get(n.id) ?? 0 })), startTime: start, endTime: end };
}

export interface ProfileTotals {
  totalMs: number;
  self: Map<string, number>;
  inclusive: Map<string, number>;
  byFile: Map<string, number>;
}

function shortUrl(url: string): string {
  const i = url.indexOf("/dist/");
  if (i >= 0) return url.slice(i + 6); // compiled JS: line numbers are of dist/, not of the .ts
  const nm = url.lastIndexOf("node_modules/");
  if (nm >= 0) return url.slice(nm + 13);
  return url.replace(/^file:\/\//, "") || "(native)";
}

function key(f: CallFrame): string {
  return `${f.functionName || "(anonymous)"} ${shortUrl(f.url)}:${f.lineNumber + 1}`;
}

export function analyze(profile: CpuProfile, into?: ProfileTotals): ProfileTotals {
  const t: ProfileTotals = into ?? { totalMs: 0, self: new Map(), inclusive: new Map(), byFile: new Map() };
  const totalHits = profile.nodes.reduce((n, x) => n + (x.hitCount ?? 0), 0) || 1;
  const msPerHit = (profile.endTime - profile.startTime) / 1000 / totalHits;
  t.totalMs += (profile.endTime - profile.startTime) / 1000;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const childIds = new Set(profile.nodes.flatMap((n) => n.children ?? []));
  const roots = profile.nodes.filter((n) => !childIds.has(n.id));
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  // Subtree hits, then inclusive time per function/file, counting recursion once per path.
  const subtree = new Map<number, number>();
  const sizeOf = (n: ProfileNode): number => {
    let s = n.hitCount ?? 0;
    for (const c of n.children ?? []) s += sizeOf(byId.get(c)!);
    subtree.set(n.id, s);
    return s;
  };
  for (const r of roots) sizeOf(r);
  const walk = (n: ProfileNode, onPathFns: Set<string>, onPathFiles: Set<string>) => {
    const k = key(n.callFrame);
    const file = shortUrl(n.callFrame.url);
    add(t.self, k, (n.hitCount ?? 0) * msPerHit);
    const newFn = !onPathFns.has(k);
    const newFile = !onPathFiles.has(file);
    if (newFn) add(t.inclusive, k, subtree.get(n.id)! * msPerHit);
    if (newFile) add(t.byFile, file, subtree.get(n.id)! * msPerHit);
    if (newFn) onPathFns.add(k);
    if (newFile) onPathFiles.add(file);
    for (const c of n.children ?? []) walk(byId.get(c)!, onPathFns, onPathFiles);
    if (newFn) onPathFns.delete(k);
    if (newFile) onPathFiles.delete(file);
  };
  for (const r of roots) walk(r, new Set(), new Set());
  return t;
}

/**
 * One section per measured window (window-*.cpuprofile, written by the bench
 * around each scenario's change) and one for the whole-process --cpu-prof files.
 */
export function summarizeProfiles(dir: string, top = 20): string {
  if (!fs.existsSync(dir)) return `no profiles in ${dir}\n`;
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".cpuprofile"))
    .sort();
  if (files.length === 0) return `no .cpuprofile files in ${dir}\n`;
  const windows = files.filter((f) => f.startsWith("window-"));
  const whole = files.filter((f) => !f.startsWith("window-"));
  const out: string[] = [];
  for (const f of windows) out.push(summarize(dir, [f], `mini-pilot server during ${f.replace(/^window-|\.cpuprofile$/g, "")}`, top));
  for (const f of fs
    .readdirSync(dir)
    .filter((x) => x.endsWith(".window.json"))
    .sort()) {
    const w = JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")) as ProfileWindow;
    if (!fs.existsSync(path.join(dir, w.profile))) {
      out.push(`== ${f}: its profile ${w.profile} was not written (did the server exit cleanly?)\n`);
      continue;
    }
    const sliced = sliceProfile(JSON.parse(fs.readFileSync(path.join(dir, w.profile), "utf8")) as CpuProfile, w.startUs, w.endUs);
    out.push(summarizeTotals(analyze(sliced), `mini-pilot server during ${f.replace(/\.window\.json$/, "")} (cut from ${w.profile})`, 1, top));
  }
  if (whole.length) out.push(summarize(dir, whole, "mini-pilot server, whole process (--cpu-prof)", top));
  return out.join("\n");
}

function summarize(dir: string, files: string[], title: string, top: number): string {
  const totals: ProfileTotals = { totalMs: 0, self: new Map(), inclusive: new Map(), byFile: new Map() };
  for (const f of files) analyze(JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")) as CpuProfile, totals);
  return summarizeTotals(totals, title, files.length, top);
}

function summarizeTotals(totals: ProfileTotals, title: string, profiles: number, top: number): string {
  const busy = totals.totalMs - (totals.self.get("(idle) (native):0") ?? 0);
  const pct = (v: number) => `${((100 * v) / Math.max(busy, 1)).toFixed(1)}%`;
  const lines: string[] = [];
  lines.push(
    `== ${title}: ${profiles} profile(s), ${Math.round(totals.totalMs)} ms wall, ${Math.round(busy)} ms busy (percentages of busy; lines are of the compiled JS in dist/)`,
  );
  lines.push("", `Top ${top} by self time:`);
  for (const [k, v] of [...totals.self].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${v.toFixed(0).padStart(7)} ms ${pct(v).padStart(6)}  ${k}`);
  lines.push("", "Inclusive time of mini-pilot functions (src/server, src/xds, src/cache):");
  for (const [k, v] of [...totals.inclusive]
    .filter(([k]) => / src\/(server|xds|cache)\//.test(k))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top))
    lines.push(`  ${v.toFixed(0).padStart(7)} ms ${pct(v).padStart(6)}  ${k}`);
  lines.push("", "Inclusive time by file (top):");
  for (const [k, v] of [...totals.byFile].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${v.toFixed(0).padStart(7)} ms ${pct(v).padStart(6)}  ${k}`);
  return lines.join("\n") + "\n";
}

if (require.main === module) {
  process.stdout.write(summarizeProfiles(process.argv[2] ?? "bench-results/profiles", Number(process.argv[3] ?? 25)));
}
