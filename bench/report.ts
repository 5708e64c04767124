/** The bench's outputs: a console table, the JSON record and an SVG chart (p50/p99 per scenario and server). */
import * as fs from "node:fs";
import * as path from "node:path";
import type { BenchReport, ScenarioResult } from "./run";
import { round } from "./stats";
import { colorOf, esc, legend, textWidth, tickLabel } from "./chart";

const fmt = (n: number, d = 1) => (Number.isFinite(n) ? String(round(n, d)) : "—");
const mib = (b: number) => fmt(b / 2 ** 20, 1);

export function table(report: BenchReport): string {
  const head = [
    "scenario",
    "server",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "max ms",
    "converge ms",
    "missed",
    "MiB rx",
    "srv CPU ms",
    "srv CPU %",
    "peak RSS MiB",
    "encodes",
    "NACKs",
    "disc",
    "ingest ms",
    "other %",
  ];
  const rows = report.results.map((r) =>
    r.error
      ? [r.scenario, r.server, "error (below)"]
      : [
          r.scenario,
          r.server,
          fmt(r.latency.p50),
          fmt(r.latency.p90),
          fmt(r.latency.p99),
          fmt(r.latency.max),
          fmt(r.convergenceMs),
          String(r.missed),
          mib(r.bytes),
          fmt(r.serverCpuMs, 0),
          fmt(r.serverCpuPct, 0),
          mib(r.peakRssBytes),
          r.encodes === undefined ? "—" : String(r.encodes),
          String(r.nacks),
          String(r.disconnects),
          fmt(r.ingestMs),
          fmt(r.otherCpuPct, 0),
        ],
  );
  const errors = report.results.filter((r) => r.error).map((r) => `  ${r.scenario}/${r.server}: ${r.error}`);
  const notes = report.results
    .filter((r) => !r.error && (r.postErrors || r.skipped || r.configured < r.clients || (r.attempts ?? 1) > 1))
    .map(
      (r) =>
        `  ${r.scenario}/${r.server}: ` +
        [
          r.postErrors ? `${r.postErrors} change(s) not accepted by the server` : "",
          r.skipped ? `${r.skipped} of ${r.changes} change(s) skipped (the server fell more than timeout/2 behind)` : "",
          r.configured < r.clients ? `${r.configured}/${r.clients} clients configured` : "",
          (r.attempts ?? 1) > 1 ? `measured ${r.attempts} times (other processes were busy); kept the quietest run` : "",
        ]
          .filter(Boolean)
          .join("; "),
    );
  return (
    markdownTable(head, rows) +
    (errors.length ? "\nErrors:\n" + errors.join("\n") + "\n" : "") +
    (notes.length ? "\nNotes:\n" + notes.join("\n") + "\n" : "") +
    "\n" +
    ratios(report)
  );
}

function markdownTable(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => "| " + head.map((_, i) => (cells[i] ?? "").padEnd(widths[i]!)).join(" | ") + " |";
  return [line(head), "| " + widths.map((w) => "-".repeat(w)).join(" | ") + " |", ...rows.map(line)].join("\n") + "\n";
}

/** mini-pilot ÷ each other server, per scenario (below 1: mini-pilot is faster; ÷ floor is ≥ 1 by construction, up to noise). */
export function ratios(report: BenchReport): string {
  const by = (s: string, k: string) => report.results.find((r) => r.scenario === s && r.server === k && !r.error);
  const scenarios = [...new Set(report.results.map((r) => r.scenario))];
  const lines: string[] = [];
  for (const s of scenarios) {
    const mp = by(s, "mini-pilot");
    if (!mp) continue;
    const parts: string[] = [];
    const others = [...new Set(report.results.map((r) => r.server))].filter((k) => k !== "mini-pilot");
    for (const k of others) {
      const label = `÷ ${k}`;
      const o = by(s, k);
      if (!o) continue;
      parts.push(
        `${label}: p50 ×${fmt(mp.latency.p50 / o.latency.p50, 2)}, p99 ×${fmt(mp.latency.p99 / o.latency.p99, 2)}, CPU ×${fmt(mp.serverCpuMs / o.serverCpuMs, 2)}`,
      );
    }
    if (parts.length) lines.push(`${s}: mini-pilot ${parts.join("; ")}`);
  }
  return lines.length ? "Ratios (below 1 = mini-pilot lower):\n" + lines.map((l) => "  " + l).join("\n") + "\n" : "";
}

/** Grouped bars per scenario: one bar per server, solid to p50, lighter to p99; log scale. Sized to hold every label (chart.ts). */
export function svg(report: BenchReport): string {
  const results = report.results.filter((r) => !r.error && Number.isFinite(r.latency.p99));
  const scenarios = [...new Set(results.map((r) => r.scenario))];
  const servers = [...new Set(results.map((r) => r.server))];
  const o = report.options;
  const title = `Push latency to ACK (ms, log scale): ${o.clients} ${o.mode} clients, ${o.services} services × ${o.endpoints} endpoints`;
  const subtitle = `solid: p50, light: p99 — ${report.startedAt} — ${report.machine.cpus} CPUs, node ${report.machine.node}`;
  const barW = 30;
  const groupW = Math.max(90, servers.length * (barW + 4) + 30, ...scenarios.map((s) => textWidth(s, 12) + 20));
  const values = results.flatMap((r) => [r.latency.p50, r.latency.p99]).filter((v) => v > 0);
  const lo = Math.pow(10, Math.floor(Math.log10(Math.max(0.1, Math.min(...values, 1)))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...values, 10))));
  const ticks: number[] = [];
  for (let v = lo; v <= hi * 1.0001; v *= 10) ticks.push(v);
  const left = 16 + Math.max(...ticks.map((v) => textWidth(tickLabel(v), 12)));
  const W = Math.ceil(Math.max(left + 20 + groupW * Math.max(1, scenarios.length) + 20, textWidth(title, 14, true) + 40, textWidth(subtitle, 12) + 40));
  const top = 60,
    bottom = 350;
  const lg = legend(
    servers.map((k, i) => ({ label: k, color: colorOf(k, i) })),
    left,
    bottom + 44,
    W - left - 20,
  );
  const H = Math.ceil(bottom + 44 + lg.height + 4);
  const y = (v: number) => bottom - ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (bottom - top);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
  );
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="20" y="22" font-size="14" font-weight="bold">${esc(title)}</text>`);
  out.push(`<text x="20" y="40" fill="#555">${esc(subtitle)}</text>`);
  for (const v of ticks) {
    out.push(`<line x1="${left}" x2="${W - 20}" y1="${y(v)}" y2="${y(v)}" stroke="#e2e8f0"/>`);
    out.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end" fill="#555">${tickLabel(v)}</text>`);
  }
  scenarios.forEach((s, gi) => {
    const gx = left + 20 + gi * groupW;
    const inner = servers.length * (barW + 4);
    const x0 = gx + (groupW - inner) / 2;
    servers.forEach((k, si) => {
      const r = results.find((x) => x.scenario === s && x.server === k);
      if (!r) return;
      const x = x0 + si * (barW + 4);
      const c = colorOf(k, si);
      out.push(
        `<rect x="${x}" y="${y(r.latency.p99)}" width="${barW}" height="${bottom - y(r.latency.p99)}" fill="${c}" opacity="0.35"><title>${k} ${s} p99 ${fmt(r.latency.p99)} ms</title></rect>`,
      );
      out.push(
        `<rect x="${x}" y="${y(r.latency.p50)}" width="${barW}" height="${bottom - y(r.latency.p50)}" fill="${c}"><title>${k} ${s} p50 ${fmt(r.latency.p50)} ms</title></rect>`,
      );
      out.push(`<text x="${x + barW / 2}" y="${y(r.latency.p99) - 4}" text-anchor="middle" font-size="10">${fmt(r.latency.p99, 0)}</text>`);
    });
    out.push(`<text x="${gx + groupW / 2}" y="${bottom + 18}" text-anchor="middle">${esc(s)}</text>`);
  });
  out.push(lg.svg);
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}

/** Writes <out>/<timestamp>.json and .svg; returns their paths. */
export function writeOutputs(report: BenchReport, outDir: string): { json: string; svg: string } {
  fs.mkdirSync(outDir, { recursive: true });
  const stamp = report.startedAt.replace(/[:.]/g, "-");
  const json = path.join(outDir, `${stamp}.json`);
  const svgPath = path.join(outDir, `${stamp}.svg`);
  fs.writeFileSync(json, JSON.stringify(report, (_k, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2) + "\n");
  fs.writeFileSync(svgPath, svg(report));
  return { json, svg: svgPath };
}

export type { ScenarioResult };
