/**
 * `mini-pilot iptables` applied in a pod's network namespace (never the
 * host's): what the rules capture and what they leave alone, shown with real
 * connections. Stand-ins listen on the capture ports (15001 answers
 * "outbound", 15006 "inbound"), so a connection says where it landed.
 *
 * Skipped, loudly, where namespaces or iptables are not allowed.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { ChildProcess } from "node:child_process";
import { APP_UID, createPodNetns, netnsUnavailable, PodNetns, podReadableTmp } from "./netns";

const PROXY_UID = 1337;
const EXCLUDED_OUT_PORT_OFFSET = 1; // the host's second server is on an excluded outbound port
const unavailable = netnsUnavailable();
const tmp = podReadableTmp("mini-pilot-e2e-iptables-");
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Listens on each `port=name` and answers every connection with the name, then closes. */
const SERVER = `const net = require("node:net");
for (const spec of process.argv.slice(2)) {
  const [port, name] = spec.split("=");
  net.createServer((s) => s.end(name + "\\n")).listen(Number(port), "0.0.0.0");
}
setInterval(() => {}, 1 << 30);
`;
/** Connects to host:port and prints what it was told (or the error code). */
const CLIENT = `const net = require("node:net");
const [host, port] = process.argv.slice(2);
const s = net.connect(Number(port), host);
let got = "";
s.setTimeout(5000, () => { process.stdout.write("timeout"); process.exit(0); });
s.on("data", (d) => (got += d));
s.on("end", () => { process.stdout.write(got.trim()); process.exit(0); });
s.on("error", (e) => { process.stdout.write("error " + e.code); process.exit(0); });
`;

let pod: PodNetns | undefined;
let podServers: ChildProcess | undefined;
const hostServers: net.Server[] = [];
const hostPorts: number[] = [];
let client = "";

async function hostServer(host: string, name: string): Promise<number> {
  const srv = net.createServer((s) => s.end(`${name}\n`));
  await new Promise<void>((resolve) => srv.listen(0, host, resolve));
  hostServers.push(srv);
  return (srv.address() as net.AddressInfo).port;
}

before(async () => {
  if (unavailable) return;
  fs.writeFileSync(path.join(tmp, "server.js"), SERVER);
  client = path.join(tmp, "client.js");
  fs.writeFileSync(client, CLIENT);
  for (const f of ["server.js", "client.js"]) fs.chmodSync(path.join(tmp, f), 0o644);
  pod = createPodNetns({
    captureArgs: [
      "--proxy-uid",
      String(PROXY_UID),
      "--proxy-gid",
      String(PROXY_UID),
      "--istio-local-exclude-ports",
      "15090,15021,15020",
      "--istio-service-exclude-cidr",
      "10.214.0.0/16",
    ],
  });
  hostPorts.push(await hostServer(pod.hostIp, "host-a"), await hostServer(pod.hostIp, "host-b"));
  // Re-apply with the second host port excluded outbound: also shows a second run replaces the first.
  await pod.exec(process.execPath, [
    path.join(__dirname, "..", "..", "src", "cli", "main.js"),
    "iptables",
    "--proxy-uid",
    String(PROXY_UID),
    "--proxy-gid",
    String(PROXY_UID),
    "--istio-local-exclude-ports",
    "15090,15021,15020",
    "--istio-service-exclude-cidr",
    "10.214.0.0/16",
    "--istio-local-outbound-ports-exclude",
    String(hostPorts[EXCLUDED_OUT_PORT_OFFSET]),
  ]);
  podServers = pod.spawn(process.execPath, [path.join(tmp, "server.js"), "15001=outbound", "15006=inbound", "15021=readiness", "8080=app"]);
  const deadline = Date.now() + 10_000;
  while (!(await pod.exec("ss", ["-ltn"])).includes(":8080")) {
    if (Date.now() > deadline) throw new Error("pod servers did not start");
    await new Promise((r) => setTimeout(r, 50));
  }
});

after(() => {
  podServers?.kill();
  for (const s of hostServers) s.close();
  pod?.destroy();
});

function skip(t: { skip(msg: string): void; name: string }): boolean {
  if (!unavailable) return false;
  process.stderr.write(`\n*** ${t.name}: SKIPPED: ${unavailable} ***\n\n`);
  if (process.env.CI) assert.fail(unavailable); // CI has netns and iptables: a skip there would hide a broken set-up
  t.skip(unavailable);
  return true;
}

const call = (uid: number, host: string, port: number): Promise<string> => pod!.exec("node", [client, host, String(port)], { uid });

test("the app's outbound TCP lands on 15001; the proxy's own (UID 1337) goes out as addressed", async (t) => {
  if (skip(t)) return;
  assert.equal(await call(APP_UID, pod!.hostIp, hostPorts[0]!), "outbound");
  assert.equal(await call(PROXY_UID, pod!.hostIp, hostPorts[0]!), "host-a");
  assert.equal(await call(0, pod!.hostIp, hostPorts[0]!), "outbound", "root is not exempt: only the proxy's UID/GID are");
});

test("an excluded outbound port and an excluded range are not captured", async (t) => {
  if (skip(t)) return;
  assert.equal(await call(APP_UID, pod!.hostIp, hostPorts[1]!), "host-b");
  const rules = pod!.rules();
  assert.match(rules, /-A ISTIO_OUTPUT -d 10\.214\.0\.0\/16 -j RETURN/);
});

test("loopback: the app calling 127.0.0.1 is left alone; the proxy calling the pod's own IP goes to the inbound port", async (t) => {
  if (skip(t)) return;
  assert.equal(await call(APP_UID, "127.0.0.1", 8080), "app");
  assert.equal(await call(APP_UID, pod!.podIp, 8080), "app", "the app calling itself by IP over lo is not captured (Istio's order)");
  assert.equal(await call(PROXY_UID, pod!.podIp, 8080), "inbound");
  assert.equal(await call(PROXY_UID, "127.0.0.1", 8080), "app");
});

test("inbound TCP from outside lands on 15006, except the excluded status ports", async (t) => {
  if (skip(t)) return;
  const fromHost = (port: number): Promise<string> =>
    new Promise((resolve) => {
      const s = net.connect({ host: pod!.podIp, port, localAddress: pod!.hostIp });
      let got = "";
      s.setTimeout(5000, () => resolve("timeout"));
      s.on("data", (d) => (got += d.toString()));
      s.on("end", () => resolve(got.trim()));
      s.on("error", (e: NodeJS.ErrnoException) => resolve(`error ${e.code}`));
    });
  assert.equal(await fromHost(8080), "inbound");
  assert.equal(await fromHost(15021), "readiness");
});

test("a second run left one set of rules: jumps are not doubled", async (t) => {
  if (skip(t)) return;
  const rules = pod!.rules();
  assert.equal(rules.match(/-A OUTPUT -j ISTIO_OUTPUT/g)?.length, 1, rules);
  assert.equal(rules.match(/-A PREROUTING -p tcp -j ISTIO_INBOUND/g)?.length, 1, rules);
  assert.equal(rules.match(/--to-ports 15001/g)?.length, 1, rules);
  assert.match(rules, new RegExp(`--dport ${hostPorts[1]} -j RETURN`));
});
