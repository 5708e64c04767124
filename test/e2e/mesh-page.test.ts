/**
 * The mesh page in a real headless Chromium against `mini-pilot serve` run as
 * a user runs it (child process, the bill-service example, a debug token):
 * the 90/10 split is drawn, a client's NACK shows up on the proxies table, an
 * edit to the folder is redrawn without reloading, and the token reaches
 * neither the DOM nor the address bar. A screenshot goes to test-artifacts/.
 *
 * Chromium is required: in CI (`CI` set) a missing one fails; elsewhere the
 * test is skipped with a message.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Browser, findChromium } from "../support/chromium";
import { startServe } from "../support/serve-process";
import { TestSotwStream, connect } from "../support/ads-client";
import { CLUSTER } from "../../src/xds/types";

const REPO = path.join(__dirname, "..", "..", "..");
const ARTIFACTS = path.join(REPO, "test-artifacts");
const TOKEN = "page-T0ken-9b1e44c0d2";
const NODE = "sidecar~10.1.0.7~front-tomcat-6b8d7c5f4-9zq7w.default~default.svc.cluster.local";

function chromiumOrSkip(t: { skip(msg: string): void }): boolean {
  if (findChromium()) return true;
  if (process.env.CI) throw new Error("chromium is not installed (.ci/run installs it: apt-get install chromium)");
  t.skip("chromium not installed (apt-get install chromium)");
  return false;
}

/** The weight label the page draws on the edge from route `route` to subset `subset`. */
const weightLabel = (route: string, subset: string) =>
  `(function(){var t=[...document.querySelectorAll('#graph text.weight')].find(function(e){return e.dataset.route.endsWith('/${route}') && e.dataset.subset==='${subset}'});return t?t.textContent:''})()`;

test("mesh page: the 90/10 split is drawn, a NACK is shown, edits redraw live, the token stays out of the page", { timeout: 90_000 }, async (t) => {
  if (!chromiumOrSkip(t)) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mp-mesh-page-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const config = path.join(dir, "config");
  fs.cpSync(path.join(REPO, "examples", "bill-service"), config, { recursive: true });
  const tokenFile = path.join(dir, "token");
  fs.writeFileSync(tokenFile, TOKEN + "\n", { mode: 0o600 });

  const serve = await startServe(["--config-dir", config, "--debug-token-file", tokenFile, "--debounce-after", "20ms"]);
  t.after(() => serve.stop());
  const browser = await Browser.launch();
  t.after(() => browser.close());

  // Without the token the page loads but asks for it; no data is drawn.
  const locked = await browser.open(`http://127.0.0.1:${serve.httpPort}/?refresh=300`);
  await locked.waitFor(`!document.getElementById('token-form').hidden`, 15_000, "the token form");
  assert.equal(await locked.eval<number>(`document.querySelectorAll('#graph svg').length`), 0);

  // A client that rejects its clusters.
  const ads = new TestSotwStream(connect(serve.xdsPort), NODE);
  t.after(() => ads.close());
  ads.send({ typeUrl: CLUSTER });
  const r = await ads.next(5000);
  ads.ack(r, [], "cluster outbound|9999|v2|bill-service.default.svc.cluster.local: rejected by the test");

  const page = await browser.open(`http://127.0.0.1:${serve.httpPort}/?refresh=300#token=${TOKEN}`);
  await page.waitFor(weightLabel("canary", "v1"), 15_000, "the canary route's v1 weight");
  assert.equal(await page.eval<string>(weightLabel("canary", "v1")), "90%");
  assert.equal(await page.eval<string>(weightLabel("canary", "v2")), "10%");
  assert.equal(await page.eval<string>(weightLabel("jason-to-v2", "v2")), "100%");
  // service → route → subset → endpoint: both pods are drawn under their subsets.
  const nodes = await page.eval<string[]>(`[...document.querySelectorAll('#graph g.node')].map(function(g){return g.dataset.key})`);
  for (const key of [
    "svc:bill-service.default.svc.cluster.local",
    "route:default/bill-service-route/canary",
    "subset:bill-service.default.svc.cluster.local/v1",
    "ep:172.7.120.11:8080",
    "ep:172.7.130.12:8080",
  ])
    assert.ok(nodes.includes(key), `graph node ${key} in ${nodes.join(", ")}`);
  const services = await page.eval<string>(`document.getElementById('services').innerText`);
  assert.match(services, /bill-service\s+default\s+9999\/HTTP\s+v1: 1\/1, v2: 1\/1\s+default\/bill-service-route/);

  // The NACK: the proxy row says ERROR with the client's message.
  const nack = await page.waitFor<string>(
    `(function(){var r=document.querySelector('#proxies tr[data-proxy="${NODE}"] td[data-type="clusters"]');return r?r.innerText:''})()`,
    10_000,
    "the proxy's clusters cell",
  );
  assert.match(nack, /^ERROR\s+NACK: cluster outbound\|9999\|v2\|bill-service\.default\.svc\.cluster\.local: rejected by the test$/);

  // Live: shift the split in the folder; the page redraws on its own.
  const vsFile = path.join(config, "virtual-service.yaml");
  fs.writeFileSync(vsFile, fs.readFileSync(vsFile, "utf8").replace("weight: 90", "weight: 70").replace("weight: 10", "weight: 30"));
  await page.waitFor(`${weightLabel("canary", "v2")} === '30%'`, 15_000, "the redrawn 70/30 split");
  assert.equal(await page.eval<string>(weightLabel("canary", "v1")), "70%");

  // The token: gone from the address bar, not in the DOM.
  assert.equal(await page.eval<string>("location.hash"), "");
  assert.ok(!(await page.eval<string>("document.documentElement.outerHTML")).includes(TOKEN), "token in the DOM");
  assert.deepEqual(page.errors(), [], "no script errors");
  await page.screenshot(path.join(ARTIFACTS, "mesh-page.png"));
  assert.ok(fs.statSync(path.join(ARTIFACTS, "mesh-page.png")).size > 10_000, "a real screenshot");
});

test("mesh page assets are open and carry a strict CSP; /debug/mesh is behind the token", { timeout: 30_000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mp-mesh-page-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const tokenFile = path.join(dir, "token");
  fs.writeFileSync(tokenFile, TOKEN + "\n");
  const serve = await startServe(["--config-dir", path.join(REPO, "examples", "bill-service"), "--debug-token-file", tokenFile]);
  t.after(() => serve.stop());
  const base = `http://127.0.0.1:${serve.httpPort}`;
  for (const [p, type] of [
    ["/", "text/html"],
    ["/mesh.js", "text/javascript"],
    ["/mesh.css", "text/css"],
  ] as const) {
    const res = await fetch(base + p);
    assert.equal(res.status, 200, p);
    assert.match(res.headers.get("content-type") ?? "", new RegExp(type));
    assert.match(res.headers.get("content-security-policy") ?? "", /script-src 'self'/);
    assert.ok(!(await res.text()).includes(TOKEN));
  }
  assert.equal((await fetch(`${base}/debug/mesh`)).status, 401);
  const ok = await fetch(`${base}/debug/mesh`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(ok.status, 200);
  const body = (await ok.json()) as { mesh: { virtualServices: { routes: { name: string; destinations: { subset: string; weight: number }[] }[] }[] } };
  const canary = body.mesh.virtualServices[0]!.routes.find((r) => r.name === "canary")!;
  assert.deepEqual(
    canary.destinations.map((d) => [d.subset, d.weight]),
    [
      ["v1", 90],
      ["v2", 10],
    ],
  );
});
