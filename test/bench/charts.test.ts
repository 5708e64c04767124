/**
 * The bench's SVG charts in a real headless Chromium: every text (titles, tick
 * labels, axis labels, legend entries) must lie inside the canvas, and legend
 * entries must not overlap one another. Long server names (the per-node
 * go-control-plane row, istiod) and many series are used on purpose: the first
 * chart cut "go-control-plane" and "floor" off at its right edge.
 *
 * Chromium is required in CI (`CI` set); elsewhere the test is skipped with a message.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Browser, findChromium } from "../support/chromium";
import { svg } from "../../bench/report";
import { lineChart } from "../../bench/chart";
import type { BenchReport, ScenarioResult } from "../../bench/run";
import { summarize } from "../../bench/stats";

function chromiumOrSkip(t: { skip(msg: string): void }): boolean {
  if (findChromium()) return true;
  if (process.env.CI) throw new Error("chromium is not installed (.ci/run installs it: apt-get install chromium)");
  t.skip("chromium not installed (apt-get install chromium)");
  return false;
}

function benchReport(scenarios: readonly string[]): BenchReport {
  const servers = ["mini-pilot", "go-control-plane", "go-control-plane-per-node", "istiod", "floor"];
  const results: ScenarioResult[] = [];
  scenarios.forEach((scenario, i) =>
    servers.forEach((server, j) => {
      const base = 10 ** (1 + ((i + j) % 4));
      results.push({ scenario, server, mode: "sotw", clients: 1000, latency: summarize([base, base * 1.5, base * 3]) } as unknown as ScenarioResult);
    }),
  );
  return {
    startedAt: "2026-12-03T16:00:00.000Z",
    options: { clients: 1000, mode: "sotw", services: 10000, endpoints: 10 },
    machine: { cpus: 2, node: "v20.20.2" },
    results,
  } as unknown as BenchReport;
}

function scaleChart(): string {
  const names = ["mini-pilot delta", "mini-pilot sotw", "go-control-plane delta", "go-control-plane sotw", "go-control-plane-per-node sotw", "floor sotw"];
  return lineChart({
    title: "Route change: slowest client's ACK as the fleet grows (200 services × 10 endpoints, 2 CPUs)",
    subtitle: "log axes; one point per run; missing points did not converge within the timeout",
    xLabel: "clients",
    yLabel: "convergence (ms)",
    target: { y: 3000, label: "target 3 s (10,000 delta clients)" },
    series: names.map((name, i) => ({ name, points: [100, 1000, 10000].map((x) => ({ x, y: (x / 10) * (i + 1) })), dash: name.endsWith("sotw") })),
  });
}

/** Texts outside the canvas and pairs of overlapping legend entries, measured by the browser. */
const CHECK = `(function(){
  var svg = document.documentElement, box = svg.getBoundingClientRect(), bad = [], legend = [];
  var texts = [].slice.call(document.querySelectorAll('text'));
  texts.forEach(function(t){
    var r = t.getBoundingClientRect();
    var x0 = r.left - box.left, y0 = r.top - box.top, x1 = r.right - box.left, y1 = r.bottom - box.top;
    if (x0 < 0 || y0 < 0 || x1 > box.width + 0.5 || y1 > box.height + 0.5) bad.push(t.textContent + ' at [' + [x0, y0, x1, y1].map(Math.round) + '] in ' + Math.round(box.width) + 'x' + Math.round(box.height));
    if (t.getAttribute('class') === 'legend') legend.push({ t: t.textContent, r: r });
  });
  for (var i = 0; i < legend.length; i++) for (var j = i + 1; j < legend.length; j++) {
    var a = legend[i].r, b = legend[j].r;
    if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) bad.push('legend "' + legend[i].t + '" overlaps "' + legend[j].t + '"');
  }
  return { texts: texts.length, legend: legend.length, bad: bad };
})()`;

test("bench charts: every title, label and legend entry lies inside the canvas (Chromium)", { timeout: 60_000 }, async (t) => {
  if (!chromiumOrSkip(t)) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mp-charts-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const browser = await Browser.launch();
  t.after(() => browser.close());
  for (const [name, text, legendEntries] of [
    ["bench.svg", svg(benchReport(["storm", "endpoint", "route", "new-service", "churn"])), 5],
    // One scenario: the narrow chart that used to cut off the title and the last legend entries.
    ["bench-one.svg", svg(benchReport(["route"])), 5],
    ["scale.svg", scaleChart(), 6],
  ] as const) {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    const page = await browser.open(`file://${file}`);
    const r = await page.waitFor<{ texts: number; legend: number; bad: string[] }>(`document.querySelector('text') && ${CHECK}`, 15_000, `${name} rendered`);
    assert.equal(r.legend, legendEntries, `${name}: legend entries`);
    assert.ok(r.texts > 10, `${name}: ${r.texts} texts`);
    assert.deepEqual(r.bad, [], `${name}: labels outside the canvas or overlapping`);
  }
});
