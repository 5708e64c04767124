/**
 * The fidelity run as Markdown (bench-results/fidelity.md): aspects identical
 * per case and resource type, the accepted differences with their reasons and
 * how often each occurred, and every unexplained difference. Plus a draft of
 * accepted-differences entries for the unexplained ones (to review and give
 * reasons, never to paste blindly).
 */
import { stringify } from "yaml";
import type { Difference } from "./diff";
import type { Entry } from "./accepted";
import { TYPES, type CaseResult, type FidelityRun } from "./run";

const pct = (i: number, a: number): string => (a === 0 ? "-" : `${((100 * i) / a).toFixed(1)}%`);

function sums(c: CaseResult): { aspects: number; identical: number } {
  let aspects = 0;
  let identical = 0;
  for (const t of TYPES) {
    aspects += c.byType[t]?.aspects ?? 0;
    identical += c.byType[t]?.identical ?? 0;
  }
  return { aspects, identical };
}

const short = (v: unknown): string => {
  const s = JSON.stringify(v) ?? "";
  return s.length > 140 ? s.slice(0, 137) + "..." : s;
};

export function describeDifference(d: Difference): string {
  const where = `${d.type} \`${d.resource}\`${d.path ? ` \`${d.path}\`` : ""}`;
  if (d.side === "differs") return `${where}: istiod ${short(d.istiod)}, mini-pilot ${short(d.miniPilot)}`;
  if (d.path === "") return `${where}: only ${d.side === "istiod-only" ? "istiod" : "mini-pilot"} has this resource`;
  return `${where}: only ${d.side === "istiod-only" ? `istiod (${short(d.istiod)})` : `mini-pilot (${short(d.miniPilot)})`}`;
}

export function renderReport(run: FidelityRun): string {
  const out: string[] = [];
  out.push(`# Fidelity: mini-pilot against istiod`, "");
  out.push(`istiod: \`istio.io/istio@${run.istioVersion}\` (pilot-discovery built from Go modules by test/istiod/setup.sh).`);
  out.push(`Written by \`npm run fidelity\` (test/fidelity/main.ts); method and accepted differences: docs/FIDELITY.md.`, "");
  out.push("Aspects are leaf fields of LDS/RDS/CDS/EDS resources, after the normalisations in test/fidelity/accepted-differences.yaml.", "");
  out.push(`| case | listeners | routes | clusters | endpoints | all identical | accepted | unexplained |`);
  out.push(`| --- | --- | --- | --- | --- | --- | --- | --- |`);
  let ta = 0;
  let ti = 0;
  for (const c of run.cases) {
    if (c.skipped) {
      out.push(`| ${c.name} | skipped: ${c.skipped} | | | | | | |`);
      continue;
    }
    if (c.error) {
      out.push(`| ${c.name} | ERROR: ${c.error.split("\n")[0]!.replace(/\|/g, "\\|")} | | | | | | |`);
      continue;
    }
    const cells = TYPES.map((t) => {
      const x = c.byType[t];
      return x ? `${x.identical}/${x.aspects}` : "-";
    });
    const s = sums(c);
    ta += s.aspects;
    ti += s.identical;
    out.push(
      `| ${c.name} | ${cells.join(" | ")} | ${s.identical}/${s.aspects} (${pct(s.identical, s.aspects)}) | ${c.accepted.length} | ${c.unexplained.length} |`,
    );
  }
  out.push(
    `| **all cases** | | | | | **${ti}/${ta} (${pct(ti, ta)})** | ${run.cases.reduce((n, c) => n + c.accepted.length, 0)} | ${run.cases.reduce((n, c) => n + c.unexplained.length, 0)} |`,
    "",
  );
  out.push(`Run time: ${run.seconds.toFixed(0)} s for ${run.cases.filter((c) => !c.skipped).length} cases.`, "");

  if (run.stale.length > 0) {
    out.push(`## Stale entries (match nothing any more: remove them)`, "");
    for (const s of run.stale) out.push(`- ${s.section}: \`${s.entry.path}\` (${s.entry.reason})`);
    out.push("");
  }

  out.push(`## Accepted differences that occurred`, "");
  const byEntry = new Map<Entry, { n: number; cases: Set<string> }>();
  for (const c of run.cases)
    for (const a of c.accepted) {
      const x = byEntry.get(a.entry) ?? { n: 0, cases: new Set<string>() };
      x.n++;
      x.cases.add(c.name);
      byEntry.set(a.entry, x);
    }
  out.push(`| entry | type | path | times | cases | reason |`, `| --- | --- | --- | --- | --- | --- |`);
  run.accepted.accepted.forEach((e, i) => {
    const x = byEntry.get(e);
    out.push(`| ${i} | ${e.type ?? "any"} | \`${e.path.replace(/\|/g, "\\|")}\` | ${x?.n ?? 0} | ${x?.cases.size ?? 0} | ${e.reason.replace(/\|/g, "\\|")} |`);
  });
  out.push("");

  const notes = run.cases.filter((c) => (c.refused?.length ?? 0) > 0 || (c.notInIstiod?.length ?? 0) > 0);
  if (notes.length > 0) {
    out.push(`## Objects istiod never saw`, "");
    for (const c of notes) {
      for (const r of c.refused ?? []) out.push(`- ${c.name}: the API server refused ${r.kind} ${r.namespace ?? ""}/${r.name} (${r.reason})`);
      for (const k of c.notInIstiod ?? []) out.push(`- ${c.name}: istiod's config store dropped ${k}`);
    }
    out.push("");
  }

  const unexplained = run.cases.filter((c) => c.unexplained.length > 0);
  if (unexplained.length > 0) {
    out.push(`## Unexplained differences`, "");
    for (const c of unexplained) {
      out.push(`### ${c.name}`, "");
      for (const d of c.unexplained) out.push(`- ${describeDifference(d)}`);
      out.push("");
    }
  }
  return out.join("\n");
}

/** Positions and resource names generalised, so one draft entry covers a difference that repeats. */
function generalise(d: Difference): { type: string; resource: string; path: string; side: string } {
  const resource = d.resource.replace(/^(outbound|inbound)\|.*$/, "$1|*").replace(/^[\d.]+_\d+$/, "*_*");
  return { type: d.type, resource, path: d.path.replace(/\[\d+\]/g, "[*]"), side: d.side };
}

/** Draft accepted-differences entries for every unexplained difference (reason left for a human). */
export function renderDraft(run: FidelityRun): string {
  const groups = new Map<string, { e: ReturnType<typeof generalise>; cases: Set<string> }>();
  for (const c of run.cases)
    for (const d of c.unexplained) {
      const e = generalise(d);
      const k = JSON.stringify(e);
      const g = groups.get(k) ?? { e, cases: new Set<string>() };
      g.cases.add(c.name);
      groups.set(k, g);
    }
  const entries = [...groups.values()].map((g) => ({ ...g.e, reason: `TODO (${g.cases.size} cases, e.g. ${[...g.cases].slice(0, 3).join(", ")})` }));
  return stringify({ accepted: entries }, { lineWidth: 0 });
}

/** The generated part of docs/FIDELITY.md: the per-case table and the accepted-differences list with reasons. */
export function renderDocsSection(run: FidelityRun): string {
  const out: string[] = [];
  out.push(`Target: \`istio.io/istio@${run.istioVersion}\` (Istio 1.31 development build). Generated by \`npm run fidelity -- --update-docs\`.`, "");
  out.push(`| case | listeners | routes | clusters | endpoints | aspects identical |`, `| --- | --- | --- | --- | --- | --- |`);
  let ta = 0;
  let ti = 0;
  for (const c of run.cases) {
    if (c.skipped || c.error) {
      out.push(`| ${c.name} | ${c.skipped ? `not compared: ${c.skipped}` : "ERROR"} | | | | |`);
      continue;
    }
    const s = sums(c);
    ta += s.aspects;
    ti += s.identical;
    out.push(
      `| ${c.name} | ${TYPES.map((t) => `${c.byType[t]?.identical ?? 0}/${c.byType[t]?.aspects ?? 0}`).join(" | ")} | ${s.identical}/${s.aspects} (${pct(s.identical, s.aspects)}) |`,
    );
  }
  out.push(`| **all** | | | | | **${ti}/${ta} (${pct(ti, ta)})** |`, "");
  out.push(`### Normalised (left out on both sides)`, "");
  for (const e of run.accepted.normalize) out.push(`- \`${e.path}\`${e.resource ? ` on \`${e.resource}\`` : ""}: ${e.reason}`);
  out.push("", `### Accepted differences`, "");
  const times = new Map<Entry, number>();
  for (const c of run.cases) for (const a of c.accepted) times.set(a.entry, (times.get(a.entry) ?? 0) + 1);
  out.push(`| type | where | occurrences | reason |`, `| --- | --- | --- | --- |`);
  for (const e of run.accepted.accepted) {
    const where = [e.resource ? `\`${e.resource}\`` : "", `\`${e.path || "(whole resource)"}\``, e.cases ? `(${e.cases.join(", ")})` : ""]
      .filter(Boolean)
      .join(" ");
    out.push(`| ${e.type ?? "any"} | ${where.replace(/\|/g, "\\|")} | ${times.get(e) ?? 0} | ${e.reason.replace(/\|/g, "\\|")} |`);
  }
  return out.join("\n");
}
