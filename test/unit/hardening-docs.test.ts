/**
 * The new-user papercuts of issue 14 that live in files, not in code paths:
 * the README must show a request the user can send (the demo) and link
 * docs/ENVOY.md, the demo's endpoints must be reachable on a laptop
 * (127.0.0.x, not the 172.7.x.x of the other examples), every serve limit
 * flag must be in the README's table, and the e2e gateway must never listen
 * on 0.0.0.0 (any other process on that port failed the suite).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { LIMIT_FLAG_TABLE } from "../../src/cli/limit-flags";

const root = path.resolve(__dirname, "..", "..", "..");
const read = (p: string) => fs.readFileSync(path.join(root, p), "utf8");

test("README: the demo that sends real requests, and a link to docs/ENVOY.md", () => {
  const readme = read("README.md");
  assert.match(readme, /npm run demo/);
  assert.match(readme, /\(docs\/ENVOY\.md\)/);
  assert.match(readme, /bill-service-v1 \d+ \([\d.]+%\), bill-service-v2 \d+/, "the README shows the split the demo prints");
});

test("examples/demo: every endpoint and the gateway bind are on 127.0.0.x", () => {
  const dir = path.join(root, "examples", "demo");
  const addresses: string[] = [];
  for (const f of fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f))) {
    const text = fs.readFileSync(path.join(dir, f), "utf8");
    for (const m of text.matchAll(/addresses:\s*\[([^\]]*)\]/g)) addresses.push(...m[1]!.split(",").map((a) => a.trim().replace(/"/g, "")));
    for (const m of text.matchAll(/^\s*bind:\s*(\S+)/gm)) addresses.push(m[1]!);
    for (const m of text.matchAll(/\b(?:podIP|hostIP|ip):\s*"?([\d.]+)/g)) addresses.push(m[1]!);
  }
  assert.ok(addresses.length >= 3, `found ${addresses.join(", ")}`);
  for (const a of addresses) assert.match(a, /^127\.0\.0\.\d+$/, `${a} is not reachable on a laptop`);
});

test("README lists every serve limit flag with its default", () => {
  const readme = read("README.md");
  for (const name of Object.keys(LIMIT_FLAG_TABLE)) {
    const stem = name.replace(/^max-/, "");
    assert.ok(readme.includes(`--${name}`) || readme.includes(`-${stem.split("-").slice(-1)[0]}\``), `--${name} is not in the README's limits table`);
  }
});

test("the e2e gateway binds loopback, never 0.0.0.0", () => {
  const gateway = read("test/e2e/fixtures/bill-service/gateway/gateway.yaml");
  assert.match(gateway, /bind: \$\{GATEWAY_BIND\}/);
  assert.match(read("test/e2e/envoy-ads.test.ts"), /const GATEWAY_BIND = "127\.0\.0\.1";/);
  for (const dir of ["test/e2e", "test/integration"])
    for (const f of fs.readdirSync(path.join(root, dir)).filter((f) => f.endsWith(".ts"))) {
      const text = read(path.join(dir, f));
      // Pods in their own network namespace may listen on 0.0.0.0 there; nothing else may.
      if (/\.listen\([^)]*"0\.0\.0\.0"/.test(text))
        assert.match(text, /netns|agent-mesh|PodNet|ip netns/, `${dir}/${f} listens on 0.0.0.0 outside a network namespace`);
      assert.doesNotMatch(text, /--xds-address["', ]+0\.0\.0\.0|--http-address["', ]+0\.0\.0\.0:(?!15014)/, `${dir}/${f} serves on 0.0.0.0`);
    }
});
