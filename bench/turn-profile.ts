/**
 * What ran during each long turn of the event loop: reads a `--cpu-prof`
 * profile and the turns `turn-log.js` recorded in the same process, and prints
 * per turn its length, the share of garbage collection and the functions that
 * took most of it (the leaf, and the innermost frame of mini-pilot's own code).
 *
 * Usage: node dist/bench/turn-profile.js PROFILE.cpuprofile TURNS.log [top]
 */
import * as fs from "node:fs";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

function label(n: Node): string {
  const u = n.callFrame.url;
  const i = u.indexOf("/dist/");
  const nm = u.lastIndexOf("node_modules/");
  const where = i >= 0 ? u.slice(i + 6) : nm >= 0 ? u.slice(nm + 13) : u.replace(/^node:/, "");
  return `${n.callFrame.functionName || "(anonymous)"}${where ? ` ${where}:${n.callFrame.lineNumber + 1}` : ""}`;
}

function main(): void {
  const [profFile, turnsFile, topArg] = process.argv.slice(2);
  if (!profFile || !turnsFile) throw new Error("usage: turn-profile PROFILE TURNS [top]");
  const top = Number(topArg ?? 5);
  const p = JSON.parse(fs.readFileSync(profFile, "utf8")) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const ownFrame = (id: number): string => {
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur)!;
      if (n.callFrame.url.includes("/dist/src/")) return label(n);
    }
    return "(no mini-pilot frame)";
  };
  const times: number[] = [];
  let t = p.startTime;
  for (const d of p.timeDeltas) times.push((t += d));
  const turns = fs
    .readFileSync(turnsFile, "utf8")
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => l.split(" ").map(Number) as [number, number, number]);
  for (const [start, end, ms] of turns) {
    const leaf = new Map<string, number>();
    const own = new Map<string, number>();
    let n = 0;
    let gc = 0;
    for (let i = 0; i < p.samples.length; i++) {
      if (times[i]! < start || times[i]! > end) continue;
      n++;
      const node = byId.get(p.samples[i]!)!;
      const l = label(node);
      if (l.startsWith("(garbage collector)")) gc++;
      leaf.set(l, (leaf.get(l) ?? 0) + 1);
      const o = ownFrame(node.id);
      own.set(o, (own.get(o) ?? 0) + 1);
    }
    const fmt = (m: Map<string, number>) =>
      [...m]
        .sort((a, b) => b[1] - a[1])
        .slice(0, top)
        .map(([k, v]) => `      ${((100 * v) / Math.max(1, n)).toFixed(0).padStart(3)}%  ${k}`)
        .join("\n");
    console.log(`turn ${ms.toFixed(0)} ms at +${((start - p.startTime) / 1e6).toFixed(2)} s: ${n} samples, GC ${((100 * gc) / Math.max(1, n)).toFixed(0)}%`);
    console.log(`    leaf:\n${fmt(leaf)}\n    innermost mini-pilot frame:\n${fmt(own)}`);
  }
}

main();
