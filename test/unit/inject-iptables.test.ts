import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { captureRules, DEFAULT_CAPTURE, existingJumps, parseCidrList, restoreInput } from "../../src/inject/iptables-rules";
import { settingsFromFlags } from "../../src/inject/capture-args";

const CLI = path.join(__dirname, "../../src/cli/main.js");

/** Istio 1.26's rules for the injector's default arguments (-b "*" -d 15090,15021,15020 -i "*"). */
const ISTIO_DEFAULT = `* nat
:ISTIO_INBOUND - [0:0]
:ISTIO_REDIRECT - [0:0]
:ISTIO_IN_REDIRECT - [0:0]
:ISTIO_OUTPUT - [0:0]
-A ISTIO_INBOUND -p tcp --dport 15008 -j RETURN
-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001
-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006
-A PREROUTING -p tcp -j ISTIO_INBOUND
-A ISTIO_INBOUND -p tcp -m multiport --dports 15090,15021,15020 -j RETURN
-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT
-A OUTPUT -j ISTIO_OUTPUT
-A ISTIO_OUTPUT -o lo -s 127.0.0.6/32 -j RETURN
-A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m owner --uid-owner 1337 -j ISTIO_IN_REDIRECT
-A ISTIO_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m owner --gid-owner 1337 -j ISTIO_IN_REDIRECT
-A ISTIO_OUTPUT -o lo -m owner ! --gid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN
-A ISTIO_OUTPUT -j ISTIO_REDIRECT
COMMIT
`;

test("defaults with the injector's excluded status ports match Istio's rule set line for line", () => {
  const s = settingsFromFlags({ "istio-local-exclude-ports": "15090,15021,15020" });
  assert.equal(restoreInput(s), ISTIO_DEFAULT);
});

test("include inbound ports: only those are redirected, no exclusions apply", () => {
  const rules = captureRules({ ...DEFAULT_CAPTURE, inboundPorts: [8080, 9090], excludeInboundPorts: [22] });
  assert.deepEqual(
    rules.filter((r) => r.includes("ISTIO_INBOUND")),
    [
      "-A ISTIO_INBOUND -p tcp --dport 15008 -j RETURN",
      "-A PREROUTING -p tcp -j ISTIO_INBOUND",
      "-A ISTIO_INBOUND -p tcp --dport 8080 -j ISTIO_IN_REDIRECT",
      "-A ISTIO_INBOUND -p tcp --dport 9090 -j ISTIO_IN_REDIRECT",
    ],
  );
  assert.ok(!rules.some((r) => r.includes("--dport 22")));
});

test("empty inbound ports: no PREROUTING jump at all", () => {
  const rules = captureRules({ ...DEFAULT_CAPTURE, inboundPorts: [] });
  assert.ok(!rules.some((r) => r.startsWith("-A PREROUTING")));
  assert.ok(!rules.some((r) => r.includes("-j ISTIO_IN_REDIRECT") && r.startsWith("-A ISTIO_INBOUND")));
});

test("outbound: excluded ports first, excluded ranges before included ranges, included ports before ranges, no catch-all for a list", () => {
  const s = settingsFromFlags({
    "istio-service-cidr": "10.96.0.0/12, 192.168.0.0/16",
    "istio-service-exclude-cidr": "10.96.0.10/32",
    "istio-local-outbound-ports-exclude": "5432,6379",
    "istio-include-outbound-ports": "3306",
  });
  const out = captureRules(s).filter((r) => r.startsWith("-A ISTIO_OUTPUT"));
  assert.deepEqual(out.slice(0, 2), [
    "-A ISTIO_OUTPUT -p tcp -m multiport --dports 5432,6379 -j RETURN",
    "-A ISTIO_OUTPUT -p udp -m multiport --dports 5432,6379 -j RETURN",
  ]);
  assert.deepEqual(out.slice(-5), [
    "-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN",
    "-A ISTIO_OUTPUT -d 10.96.0.10/32 -j RETURN",
    "-A ISTIO_OUTPUT -p tcp --dport 3306 -j ISTIO_REDIRECT",
    "-A ISTIO_OUTPUT -d 10.96.0.0/12 -j ISTIO_REDIRECT",
    "-A ISTIO_OUTPUT -d 192.168.0.0/16 -j ISTIO_REDIRECT",
  ]);
  assert.ok(!out.includes("-A ISTIO_OUTPUT -j ISTIO_REDIRECT"));
});

test("more than 15 excluded ports are split across multiport rules (its limit)", () => {
  const ports = Array.from({ length: 17 }, (_, i) => 1000 + i);
  const rules = captureRules({ ...DEFAULT_CAPTURE, excludeInboundPorts: ports }).filter(
    (r) => r.includes("-j RETURN") && r.startsWith("-A ISTIO_INBOUND -p tcp -m"),
  );
  assert.equal(rules.length, 2);
  assert.equal(rules[0], `-A ISTIO_INBOUND -p tcp -m multiport --dports ${ports.slice(0, 15).join(",")} -j RETURN`);
  assert.equal(rules[1], `-A ISTIO_INBOUND -p tcp -m multiport --dports 1015,1016 -j RETURN`);
});

test("UIDs and GIDs: several of each, each with its loopback pair", () => {
  const s = settingsFromFlags({ "proxy-uid": "1337,0", "proxy-gid": "" });
  const owner = captureRules(s).filter((r) => r.includes("-owner"));
  assert.equal(owner.length, 6);
  assert.ok(owner.every((r) => r.includes("--uid-owner")));
  assert.throws(() => settingsFromFlags({ "proxy-uid": "", "proxy-gid": "" }), /both empty/);
});

test("bad values name the flag and the value; IPv6 ranges are set aside with a warning", () => {
  assert.throws(() => settingsFromFlags({ "istio-local-exclude-ports": "15090,abc" }), /--istio-local-exclude-ports: "abc" is not a port/);
  assert.throws(() => settingsFromFlags({ "envoy-port": "70000" }), /--envoy-port: "70000" is not a port/);
  assert.throws(() => settingsFromFlags({ "istio-service-cidr": "10.0.0.0/33" }), /--istio-service-cidr: "10.0.0.0\/33" is not an IP range/);
  assert.throws(() => settingsFromFlags({ "istio-service-exclude-cidr": "banana" }), /--istio-service-exclude-cidr: "banana"/);
  assert.throws(() => settingsFromFlags({ "proxy-uid": "istio" }), /--proxy-uid: "istio" is not a numeric/);
  const warnings: string[] = [];
  const s = settingsFromFlags({ "istio-service-exclude-cidr": "10.1.2.3, fd00::/8" }, warnings);
  assert.deepEqual(s.excludeOutboundIpRanges, ["10.1.2.3/32"]);
  assert.match(warnings[0]!, /IPv6 ranges fd00::\/8 ignored/);
  assert.deepEqual(parseCidrList("", "x"), { v4: [], v6: [] });
});

test("a second run deletes the first run's jumps, so the table does not grow", () => {
  const saved = [
    "*nat",
    ":PREROUTING ACCEPT [0:0]",
    "-A PREROUTING -p tcp -j ISTIO_INBOUND",
    "-A OUTPUT -j ISTIO_OUTPUT",
    "-A OUTPUT -p tcp -j OTHER",
    "COMMIT",
  ].join("\n");
  assert.deepEqual(existingJumps(saved), ["-D PREROUTING -p tcp -j ISTIO_INBOUND", "-D OUTPUT -j ISTIO_OUTPUT"]);
  const input = restoreInput(DEFAULT_CAPTURE, saved);
  assert.ok(input.indexOf("-D OUTPUT -j ISTIO_OUTPUT") < input.indexOf("-A OUTPUT -j ISTIO_OUTPUT"));
});

test("`mini-pilot iptables --dry-run` prints the restore input; bad flags exit 2 naming the flag", () => {
  const r = spawnSync(process.execPath, [CLI, "iptables", "--dry-run", "-d", "15090,15021,15020"], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, ISTIO_DEFAULT);
  const bad = spawnSync(process.execPath, [CLI, "iptables", "--dry-run", "-b", "80,x"], { encoding: "utf8" });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /mini-pilot iptables: --istio-inbound-ports: "x" is not a port/);
  const tproxy = spawnSync(process.execPath, [CLI, "iptables", "--dry-run", "-m", "TPROXY"], { encoding: "utf8" });
  assert.equal(tproxy.status, 2);
  assert.match(tproxy.stderr, /only REDIRECT/);
});
