/**
 * `bench:scale` through its script, as `npm run bench:scale` runs it: a tiny
 * sweep writes its JSON and four charts; a fleet the machine cannot hold is
 * refused with a message before anything is measured and listed as missing;
 * a go-control-plane peer that does not start stops `bench` before measuring.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { preflight } from "../../bench/scale";

const DIST = path.join(__dirname, "..", "..");
const SCALE = path.join(DIST, "bench", "scale.js");
const CLI = path.join(DIST, "src", "cli", "main.js");

test("bench:scale preflight: too many clients for the open-file limit or the memory is refused with the reason", () => {
  assert.equal(preflight(100, 100, 10, 10, 2), undefined);
  assert.match(preflight(1e9, 100, 10, 10, 2) ?? "", /needs about \d+ open files .* but the limit is \d+: raise it \(ulimit -n\) or use --streams-per-conn/);
  assert.match(preflight(1e6, 100, 10, 10_000, 2) ?? "", /needs about [\d.]+ GiB of memory \(server \+ fleet\) but [\d.]+ GiB is available/);
});

test("bench:scale: a tiny sweep writes the JSON and four charts; a size the machine cannot hold is reported missing, not run", { timeout: 300_000 }, (t) => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "mp-scale-"));
  t.after(() => fs.rmSync(out, { recursive: true, force: true }));
  const r = spawnSync(
    process.execPath,
    [SCALE, "--clients", "8,100000000", "--services", "6", "--services-clients", "4", "--modes", "delta", "--servers", "mini-pilot,floor", "--out", out],
    { encoding: "utf8", timeout: 280_000 },
  );
  assert.equal(r.status, 1, `exit 1: something is missing\n${r.stderr}`);
  assert.match(r.stderr, /clients sweep, 100000000 delta clients, 200 services: not measured: needs about \d+ open files/);
  assert.match(r.stdout, /Missing from these results:\n.*100000000 delta clients.*mini-pilot: needs about/);
  const files = fs.readdirSync(out);
  const json = files.find((f) => f.endsWith(".json"))!;
  assert.ok(json, files.join(", "));
  for (const c of ["clients-latency", "clients-memory", "services-latency", "services-memory"])
    assert.ok(
      files.some((f) => f.endsWith(`-${c}.svg`)),
      `${c}.svg in ${files.join(", ")}`,
    );
  const data = JSON.parse(fs.readFileSync(path.join(out, json), "utf8")) as {
    points: { sweep: string; clients: number; services: number; server: string; convergenceMs: number; peakRssBytes: number }[];
    missing: { clients: number; server: string }[];
  };
  for (const server of ["mini-pilot", "floor"]) {
    const c = data.points.find((p) => p.sweep === "clients" && p.clients === 8 && p.server === server);
    const s = data.points.find((p) => p.sweep === "services" && p.services === 6 && p.server === server);
    for (const p of [c, s]) {
      assert.ok(p, `${server}: a point in ${JSON.stringify(data.points)}`);
      assert.ok(p!.convergenceMs > 0 && p!.peakRssBytes > 0, JSON.stringify(p));
    }
  }
  assert.deepEqual(data.missing.map((m) => `${m.clients} ${m.server}`).sort(), ["100000000 floor", "100000000 mini-pilot"]);
  const chart = fs.readFileSync(
    path.join(
      out,
      files.find((f) => f.endsWith("-clients-latency.svg"))!,
    ),
    "utf8",
  );
  assert.match(chart, /<polyline|<circle/);
  assert.match(chart, /mini-pilot delta/);
});

test("bench: a go-control-plane peer that does not start stops the run before anything is measured", { timeout: 60_000 }, () => {
  const r = spawnSync(process.execPath, [CLI, "bench", "--servers", "mini-pilot,go-control-plane", "--peer", "/bin/false", "--clients", "2"], {
    encoding: "utf8",
    timeout: 50_000,
  });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /the go-control-plane peer does not start: go-control-plane server exited \(1\) before announcing its addresses/);
  assert.match(r.stderr, /run without it: --servers mini-pilot/);
  assert.doesNotMatch(r.stderr, /\[route\]|\[storm\]/, "nothing was measured");
});
