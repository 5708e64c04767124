/**
 * AuthorizationPolicy on peer identity between two real sidecars with mutual
 * TLS: `mini-pilot serve` with its CA and secure port, two pods (network
 * namespaces with istio-init's rules, joined by their own veth), each with
 * `mini-pilot agent` (key, CSR, SDS to its Envoy), as in mtls-sidecars.test.ts.
 *
 *   sleep pod (app as `nobody`) ─iptables→ Envoy ─mTLS→ ─iptables→ Envoy [RBAC] ─→ httpbin's app
 *
 * The policy file is rewritten per scenario while both Envoys run. The
 * sleep app's requests carry its SPIFFE id (spiffe://cluster.local/ns/default/sa/sleep)
 * on the mTLS hop, which the httpbin sidecar's RBAC matches as
 * `authenticated.principal_name`; a plaintext caller from outside the mesh
 * (accepted under PERMISSIVE) has no identity. Shown: principals,
 * notPrincipals, namespaces, serviceAccounts and a DENY on source.principal,
 * 200 vs 403. Skipped, loudly, without namespaces, iptables or Envoy (failed in CI).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { findEnvoy, requireEnvoy } from "../support/envoy";
import { APP_UID, until, netnsUnavailable, podReadableTmp, writeClientScript } from "./netns";
import { type MeshPod, TLS_MODE, startAgentMesh } from "./agent-mesh";

const HTTPBIN_VIP = "192.168.78.20";
const APP_PORT = 8080;

function meshYaml(pods: MeshPod[]): string {
  const docs = pods.map(
    (p) => `apiVersion: v1
kind: Pod
metadata: {name: ${p.name}, namespace: default, labels: {app: ${p.app}, ${TLS_MODE}: istio}}
spec: {serviceAccountName: ${p.sa}}
status: {phase: Running, podIP: ${p.meshIp}}`,
  );
  docs.push(`apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: default}
spec:
  clusterIP: ${HTTPBIN_VIP}
  selector: {app: httpbin}
  ports: [{name: http, port: 8000, targetPort: ${APP_PORT}}]`);
  docs.push(`apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: httpbin-1, namespace: default, labels: {kubernetes.io/service-name: httpbin}}
addressType: IPv4
ports: [{name: http, port: ${APP_PORT}}]
endpoints: [{addresses: [${pods[1]!.meshIp}], targetRef: {kind: Pod, name: ${pods[1]!.name}}}]`);
  // One request per upstream connection: every request is a new mTLS handshake and lands on httpbin's current listener
  // config (a pooled connection would stay on the chain it was accepted by until that drains).
  docs.push(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin, namespace: default}
spec:
  host: httpbin
  trafficPolicy: {connectionPool: {http: {maxRequestsPerConnection: 1}}}`);
  return docs.join("\n---\n") + "\n";
}

const policy = (name: string, spec: string): string =>
  `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ${name}, namespace: default}\nspec: ${spec}\n---\n`;
const onHttpbin = "selector: {matchLabels: {app: httpbin}}";

interface Scenario {
  name: string;
  policies?: string;
  names: string[];
  /** What the sleep app (mTLS, its SPIFFE id) and a plaintext client outside the mesh get. */
  sleep: string;
  plaintext: string;
}

const SCENARIOS: Scenario[] = [
  { name: "no policy", names: [], sleep: "200", plaintext: "200" },
  {
    name: "ALLOW principals: sleep's SPIFFE id; the plaintext caller has none",
    policies: policy("allow-sleep", `{${onHttpbin}, rules: [{from: [{source: {principals: [cluster.local/ns/default/sa/sleep]}}]}]}`),
    names: ["allow-sleep"],
    sleep: "200",
    plaintext: "403",
  },
  {
    name: "ALLOW principals: another identity only",
    policies: policy("allow-other", `{${onHttpbin}, rules: [{from: [{source: {principals: [cluster.local/ns/default/sa/other]}}]}]}`),
    names: ["allow-other"],
    sleep: "403",
    plaintext: "403",
  },
  {
    name: "ALLOW namespaces: default",
    policies: policy("allow-default-ns", `{${onHttpbin}, rules: [{from: [{source: {namespaces: [default]}}]}]}`),
    names: ["allow-default-ns"],
    sleep: "200",
    plaintext: "403",
  },
  {
    name: "ALLOW namespaces: another namespace",
    policies: policy("allow-prod-ns", `{${onHttpbin}, rules: [{from: [{source: {namespaces: [prod]}}]}]}`),
    names: ["allow-prod-ns"],
    sleep: "403",
    plaintext: "403",
  },
  {
    name: "ALLOW serviceAccounts: sleep, in the policy's namespace",
    policies: policy("allow-sa", `{${onHttpbin}, rules: [{from: [{source: {serviceAccounts: [sleep]}}]}]}`),
    names: ["allow-sa"],
    sleep: "200",
    plaintext: "403",
  },
  {
    name: "DENY source.principal (suffix) next to ALLOW-all: sleep refused, the plaintext caller (no identity) passes",
    policies:
      policy("allow-all", `{${onHttpbin}, rules: [{}]}`) +
      policy("deny-sleep", `{action: DENY, rules: [{when: [{key: source.principal, values: ["*/sa/sleep"]}]}]}`),
    names: ["allow-all", "deny-sleep"],
    sleep: "403",
    plaintext: "200",
  },
  { name: "policies removed", names: [], sleep: "200", plaintext: "200" },
];

test("AuthorizationPolicy on peer identity between two sidecars with mutual TLS: principals, namespaces, service accounts", { timeout: 240_000 }, async (t) => {
  if (!findEnvoy()) return void requireEnvoy(t);
  const why = netnsUnavailable();
  if (why) {
    process.stderr.write(`\n*** ${t.name}: SKIPPED: ${why} ***\n\n`);
    if (process.env.CI) assert.fail(why);
    return t.skip(why);
  }
  const stack: (() => unknown)[] = [];
  t.after(async () => {
    for (const fn of stack.reverse()) await fn();
  });
  const tmp = podReadableTmp("mini-pilot-e2e-authz-mtls-");
  stack.push(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const { client, server, config } = await startAgentMesh((fn) => stack.push(fn), {
    tmp,
    link: { net: "10.215", prefix: "mz" },
    meshYaml,
    serveArgs: ["--debounce-after", "20ms"],
  });

  const appFile = path.join(tmp, "httpbin-app.js");
  fs.writeFileSync(
    appFile,
    `require("node:http").createServer((req, res) => { res.setHeader("x-backend", "httpbin"); res.end("ok"); })
  .listen(${APP_PORT}, "0.0.0.0", () => process.stdout.write("listening\\n"));`,
  );
  const app = server.spawn(process.execPath, [appFile]);
  stack.push(() => app.kill());
  await new Promise<void>((resolve) => app.stdout!.once("data", () => resolve()));
  const clientScript = writeClientScript(tmp);
  /** The sleep app's request through both sidecars: "200" from httpbin, else "<status>". */
  const fromSleep = async (): Promise<string> => {
    const r = JSON.parse(await client.exec("node", [clientScript, `http://${HTTPBIN_VIP}:8000/`, "1", "1", "{}"], { uid: APP_UID, timeoutMs: 30_000 })) as {
      counts: Record<string, number>;
    };
    const key = Object.keys(r.counts)[0] ?? "none";
    return key === "httpbin" ? "200" : key.replace("status ", "");
  };
  /** A plaintext client outside the mesh (the host), straight to the pod: accepted under PERMISSIVE, no identity. */
  const plaintext = (): string =>
    spawnSync("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", `http://${server.podIp}:${APP_PORT}/`], { encoding: "utf8" }).stdout;
  const admin = (p: string): Promise<string> => server.exec("curl", ["-s", "--max-time", "2", `http://127.0.0.1:15000${p}`]);
  const held = async (): Promise<string> => {
    const dump = JSON.parse(await admin("/config_dump?resource=dynamic_listeners")) as {
      configs?: { name?: string; active_state?: unknown; warming_state?: unknown }[];
    };
    const inbound = (dump.configs ?? []).find((c) => c.name === "virtualInbound");
    if (!inbound?.active_state || inbound.warming_state) return "(not active)";
    return JSON.stringify([...new Set([...JSON.stringify(inbound.active_state).matchAll(/-policy\[([^\]]+)\]/g)].map((m) => m[1]!))].sort());
  };

  await until("sleep reaches httpbin over mTLS", async () => (await fromSleep()) === "200");
  const handshakes = async (): Promise<number> => {
    const m = /: (\d+)\s*$/m.exec(await admin(`/stats?filter=${encodeURIComponent("^listener\\.0\\.0\\.0\\.0_15006\\.ssl\\.handshake$")}`));
    return m ? Number(m[1]) : 0;
  };
  const policyFile = path.join(config, "authz.yaml");
  let checked = 0;
  for (const s of SCENARIOS) {
    if (s.policies === undefined) fs.rmSync(policyFile, { force: true });
    else {
      fs.writeFileSync(`${policyFile}.tmp`, s.policies);
      fs.renameSync(`${policyFile}.tmp`, policyFile);
    }
    const want = JSON.stringify([...s.names].sort());
    await until(`${s.name}: httpbin's virtualInbound holds ${want} (has ${await held().catch(() => "?")})`, async () => (await held()) === want);
    const before = await handshakes();
    const got = { sleep: await fromSleep(), plaintext: plaintext() };
    assert.deepEqual(got, { sleep: s.sleep, plaintext: s.plaintext }, s.name);
    assert.ok((await handshakes()) > before, `${s.name}: sleep's request arrived over mTLS`);
    checked += 2;
  }
  process.stderr.write(`authz-mtls-sidecars: ${SCENARIOS.length} scenarios, ${checked} requests (mTLS from sleep, plaintext from the host)\n`);
});
