/**
 * SVG charts for the bench: grouped bars (bench) and log-log lines (bench:scale).
 * Text is laid out with a deterministic, deliberately generous width estimate
 * (Helvetica/Arial advance widths plus 10%), and the canvas grows to hold every
 * title, tick label and legend entry, so nothing is clipped whatever font the
 * viewer substitutes. test/bench/charts.test.ts renders both kinds in Chromium
 * and checks that every label lies inside the canvas.
 */

/** Advance widths in em for Arial/Helvetica, by character class. */
function charEm(c: string): number {
  if (" ".includes(c)) return 0.278;
  if ("iljI.,:;'|!".includes(c)) return 0.278;
  if ("ftr()[]/\\-".includes(c)) return 0.333;
  if ("mwMW%@".includes(c)) return 0.889;
  if ("ABCDEGHKNOQRUVXY&".includes(c)) return 0.722;
  if (c >= "A" && c <= "Z") return 0.667;
  if ("×÷→—–".includes(c)) return 0.75;
  return 0.584;
}

/** Estimated width of `s` in px at `size` px (bold: +8%), with a 10% margin. */
export function textWidth(s: string, size: number, bold = false): number {
  let em = 0;
  for (const c of s) em += charEm(c);
  return em * size * (bold ? 1.08 : 1) * 1.1;
}

export const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

const PALETTE = ["#2b6cb0", "#2f855a", "#c05621", "#718096", "#6b46c1", "#b83280", "#2c7a7b", "#975a16"];
const KNOWN: Record<string, string> = {
  "mini-pilot": "#2b6cb0",
  "go-control-plane": "#2f855a",
  "go-control-plane-per-node": "#9ae6b4",
  floor: "#718096",
  istiod: "#c05621",
};
export function colorOf(name: string, i: number): string {
  const base = name.split(" ")[0]!;
  return KNOWN[name] ?? KNOWN[base] ?? PALETTE[i % PALETTE.length]!;
}

export interface LegendItem {
  label: string;
  color: string;
  dash?: boolean;
}

/** Legend entries in rows no wider than `width`; returns the SVG and its height. */
export function legend(items: LegendItem[], x0: number, y0: number, width: number, size = 12): { svg: string; height: number; width: number } {
  const out: string[] = [];
  let x = x0,
    y = y0,
    widest = 0;
  const rowH = size + 8;
  for (const it of items) {
    const w = 28 + textWidth(it.label, size) + 18;
    if (x > x0 && x + w > x0 + width) {
      x = x0;
      y += rowH;
    }
    out.push(
      `<line x1="${x}" x2="${x + 20}" y1="${y - size / 3}" y2="${y - size / 3}" stroke="${it.color}" stroke-width="3"${it.dash ? ' stroke-dasharray="5 3"' : ""}/>`,
      `<text class="legend" x="${x + 26}" y="${y}" font-size="${size}">${esc(it.label)}</text>`,
    );
    x += w;
    widest = Math.max(widest, x - x0);
  }
  return { svg: out.join("\n"), height: items.length ? y - y0 + rowH : 0, width: widest };
}

function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(10 ** e);
  return out;
}

export const tickLabel = (v: number) => (v >= 1e6 ? `${v / 1e6}M` : v >= 1e4 ? `${v / 1e3}k` : v >= 1 ? String(v) : String(Number(v.toPrecision(2))));

export interface LineSeries {
  name: string;
  points: { x: number; y: number }[];
  dash?: boolean;
}

export interface LineChart {
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  series: LineSeries[];
  /** A horizontal target line (e.g. "3 s"). */
  target?: { y: number; label: string };
}

/** Lines on log x and log y axes; points that are not finite or not positive are left out. */
export function lineChart(c: LineChart): string {
  const series = c.series.map((s) => ({ ...s, points: s.points.filter((p) => p.x > 0 && p.y > 0 && Number.isFinite(p.x) && Number.isFinite(p.y)) }));
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const ys = [...series.flatMap((s) => s.points.map((p) => p.y)), ...(c.target ? [c.target.y] : [])];
  const xlo = 10 ** Math.floor(Math.log10(Math.min(...xs, 100)));
  const xhi = 10 ** Math.ceil(Math.log10(Math.max(...xs, 1000)));
  const ylo = 10 ** Math.floor(Math.log10(Math.min(...ys, 1)));
  const yhi = 10 ** Math.ceil(Math.log10(Math.max(...ys, 10)));
  const yt = logTicks(ylo, yhi);
  const xt = logTicks(xlo, xhi);
  const left = 28 + Math.max(...yt.map((v) => textWidth(tickLabel(v), 11))) + 10;
  const plotW = 560;
  const right = 24 + (c.target ? textWidth(c.target.label, 11) : 0);
  const titleW = Math.max(textWidth(c.title, 15, true), c.subtitle ? textWidth(c.subtitle, 12) : 0) + 40;
  const W = Math.ceil(Math.max(left + plotW + right, titleW));
  const top = c.subtitle ? 62 : 44;
  const plotH = 300;
  const bottom = top + plotH;
  const lg = legend(
    series.map((s, i) => ({ label: s.name, color: colorOf(s.name, i), ...(s.dash ? { dash: true } : {}) })),
    left,
    bottom + 62,
    W - left - 20,
  );
  const H = Math.ceil(bottom + 62 + lg.height + 4);
  const x = (v: number) => left + ((Math.log10(v) - Math.log10(xlo)) / (Math.log10(xhi) - Math.log10(xlo))) * plotW;
  const y = (v: number) => bottom - ((Math.log10(v) - Math.log10(ylo)) / (Math.log10(yhi) - Math.log10(ylo))) * plotH;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="20" y="24" font-size="15" font-weight="bold">${esc(c.title)}</text>`,
  ];
  if (c.subtitle) out.push(`<text x="20" y="44" fill="#555">${esc(c.subtitle)}</text>`);
  for (const v of yt) {
    out.push(`<line x1="${left}" x2="${left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#e2e8f0"/>`);
    out.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11" fill="#555">${tickLabel(v)}</text>`);
  }
  for (const v of xt) {
    out.push(`<line x1="${x(v)}" x2="${x(v)}" y1="${top}" y2="${bottom}" stroke="#e2e8f0"/>`);
    out.push(`<text x="${x(v)}" y="${bottom + 16}" text-anchor="middle" font-size="11" fill="#555">${tickLabel(v)}</text>`);
  }
  out.push(`<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" fill="none" stroke="#a0aec0"/>`);
  out.push(`<text x="${left + plotW / 2}" y="${bottom + 36}" text-anchor="middle">${esc(c.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${top + plotH / 2}) rotate(-90)" text-anchor="middle">${esc(c.yLabel)}</text>`);
  if (c.target) {
    out.push(`<line x1="${left}" x2="${left + plotW}" y1="${y(c.target.y)}" y2="${y(c.target.y)}" stroke="#e53e3e" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${left + plotW + 4}" y="${y(c.target.y) + 4}" font-size="11" fill="#e53e3e">${esc(c.target.label)}</text>`);
  }
  series.forEach((s, i) => {
    const col = colorOf(s.name, i);
    const pts = [...s.points].sort((a, b) => a.x - b.x);
    if (pts.length > 1)
      out.push(
        `<polyline fill="none" stroke="${col}" stroke-width="2.5"${s.dash ? ' stroke-dasharray="5 3"' : ""} points="${pts.map((p) => `${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`).join(" ")}"/>`,
      );
    for (const p of pts)
      out.push(`<circle cx="${x(p.x).toFixed(1)}" cy="${y(p.y).toFixed(1)}" r="3.5" fill="${col}"><title>${esc(s.name)}: ${p.y} at ${p.x}</title></circle>`);
  });
  out.push(lg.svg, `</svg>`);
  return out.join("\n") + "\n";
}
