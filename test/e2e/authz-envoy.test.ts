/**
 * AuthorizationPolicy through a real Envoy: `mini-pilot serve --config-dir`
 * feeds an ingress gateway (router) Envoy bootstrapped by `mini-pilot
 * bootstrap` over ADS; the Gateway has an HTTP server and a TCP server (to
 * the same bill-service backends). One policy file is rewritten per scenario
 * while Envoy runs; once Envoy holds the scenario's RBAC policies, requests
 * that the policies allow get 200 from the backend and the others 403 from
 * Envoy's RBAC filter (TCP: the connection is closed by the network RBAC
 * filter), per rule kind: methods, paths, hosts, ports, request headers,
 * ipBlocks and remoteIpBlocks (clients bind 127.0.0.2 / 127.0.0.3), ALLOW vs
 * DENY, the implicit deny of an ALLOW policy, allow-nothing, scope.
 *
 * Peer identity (principals, namespaces, serviceAccounts, trustDomains,
 * source.principal) through a gateway server with `tls.mode: MUTUAL`: the
 * clients present certificates whose URI SAN is a SPIFFE id, which Envoy's
 * RBAC matches as `authenticated.principal_name`, as it does for sidecar
 * mTLS peers.
 */
import { after, test, TestContext } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { EnvoyProcess, freePort, requireEnvoy, startEnvoy } from "../support/envoy";
import { CLI, ServeProcess, startServe } from "../support/serve-process";
import { BillBackends, startBillBackends, writeBillService } from "../support/http-backends";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mini-pilot-e2e-authz-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const tally = { scenarios: 0, requests: 0 };
after(() => process.stderr.write(`authz-envoy: ${tally.scenarios} scenarios, ${tally.requests} requests and connections checked\n`));

const HOST = "bill-service.default.svc.cluster.local";
const BIND = "127.0.0.1";
const INGRESS = {
  id: "router~127.0.0.1~istio-ingressgateway-5d9c7b8f6-zz9xk.istio-system~istio-system.svc.cluster.local",
  labels: "app=istio-ingressgateway,istio=ingressgateway",
};

interface Ask {
  path?: string;
  method?: string;
  host?: string;
  headers?: Record<string, string>;
  /** The client's own address (the connection's source IP). */
  from?: string;
  tcp?: boolean;
}

/** One request on a new connection: the status and who answered, or the connection error (network RBAC closes it). */
function ask(ports: { http: number; tcp: number }, a: Ask): Promise<string> {
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: BIND,
        port: a.tcp ? ports.tcp : ports.http,
        localAddress: a.from ?? "127.0.0.1",
        method: a.method ?? "GET",
        path: a.path ?? "/",
        agent: false,
        headers: { host: a.host ?? HOST, connection: "close", ...(a.headers ?? {}) },
        timeout: 10_000,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (body += d));
        res.on("end", () => {
          const backend = res.headers["x-backend"];
          if (res.statusCode === 200 && typeof backend === "string") resolve("200");
          else if (res.statusCode === 403) resolve(body === "RBAC: access denied" ? "403" : `403 (${body})`);
          else resolve(`${res.statusCode} ${body}`);
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve("closed"));
    req.end();
  });
}

interface Scenario<A = Ask> {
  name: string;
  /** The policy file's text (undefined: no file); `${HTTP_PORT}`/`${TCP_PORT}` are replaced. */
  policies?: string;
  /** The `policy[<name>]` names Envoy's gateway listeners must hold before the checks run. */
  names: string[];
  checks: [A, string][];
}

const policy = (name: string, spec: string, namespace = "istio-system"): string =>
  `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ${name}, namespace: ${namespace}}\nspec: ${spec}\n---\n`;
const onGateway = "selector: {matchLabels: {istio: ingressgateway}}";

const SCENARIOS: Scenario[] = [
  {
    name: "no policy: everything passes",
    names: [],
    checks: [
      [{}, "200"],
      [{ method: "POST" }, "200"],
      [{ tcp: true }, "200"],
    ],
  },
  {
    name: "ALLOW methods; implicit deny of the rest; the HTTP-only rule is dropped on the TCP chain (which then allows nothing)",
    policies: policy("allow-get", `{${onGateway}, rules: [{to: [{operation: {methods: [GET, HEAD]}}]}]}`),
    names: ["allow-get"],
    checks: [
      [{}, "200"],
      [{ method: "HEAD" }, "200"],
      [{ method: "POST" }, "403"],
      [{ method: "DELETE" }, "403"],
      [{ tcp: true }, "closed"],
    ],
  },
  {
    name: "ALLOW paths: exact, prefix, suffix",
    policies: policy("allow-paths", `{${onGateway}, rules: [{to: [{operation: {paths: [/exact, /public/*, "*.png"]}}]}]}`),
    names: ["allow-paths"],
    checks: [
      [{ path: "/exact" }, "200"],
      [{ path: "/exact?q=1" }, "200"],
      [{ path: "/public/a/b" }, "200"],
      [{ path: "/img/logo.png" }, "200"],
      [{ path: "/exact/more" }, "403"],
      [{ path: "/private" }, "403"],
      [{ path: "/" }, "403"],
    ],
  },
  {
    name: "DENY wins over ALLOW; a DENY rule with only HTTP fields denies every TCP connection (as istiod warns)",
    policies:
      policy("allow-all", `{${onGateway}, rules: [{}]}`) +
      policy("deny-admin", `{${onGateway}, action: DENY, rules: [{to: [{operation: {paths: [/admin/*]}}]}, {to: [{operation: {methods: [DELETE]}}]}]}`),
    names: ["allow-all", "deny-admin"],
    checks: [
      [{ path: "/bills" }, "200"],
      [{ path: "/admin/users" }, "403"],
      [{ method: "DELETE", path: "/bills" }, "403"],
      [{ tcp: true }, "closed"],
    ],
  },
  {
    name: "ALLOW hosts (case-insensitive :authority)",
    policies: policy("allow-host", `{${onGateway}, rules: [{to: [{operation: {hosts: [${HOST}]}}]}]}`),
    names: ["allow-host"],
    checks: [
      [{}, "200"],
      [{ host: HOST.toUpperCase() }, "200"],
      [{ host: "evil.example.com" }, "403"],
    ],
  },
  {
    name: "ALLOW ports: the TCP server's port only",
    policies: policy("allow-tcp-port", `{${onGateway}, rules: [{to: [{operation: {ports: ["\${TCP_PORT}"]}}]}]}`),
    names: ["allow-tcp-port"],
    checks: [
      [{}, "403"],
      [{ tcp: true }, "200"],
    ],
  },
  {
    name: "ALLOW when request.headers[x-user] (exact and prefix)",
    policies: policy("allow-user", `{${onGateway}, rules: [{when: [{key: "request.headers[x-user]", values: [alice, "bob-*"]}]}]}`),
    names: ["allow-user"],
    checks: [
      [{ headers: { "x-user": "alice" } }, "200"],
      [{ headers: { "x-user": "bob-2" } }, "200"],
      [{ headers: { "x-user": "eve" } }, "403"],
      [{}, "403"],
    ],
  },
  {
    name: "ALLOW from ipBlocks (the connection's source), on HTTP and TCP",
    policies: policy("allow-from-2", `{${onGateway}, rules: [{from: [{source: {ipBlocks: [127.0.0.2]}}]}]}`),
    names: ["allow-from-2"],
    checks: [
      [{ from: "127.0.0.2" }, "200"],
      [{ from: "127.0.0.3" }, "403"],
      [{ from: "127.0.0.2", tcp: true }, "200"],
      [{ from: "127.0.0.3", tcp: true }, "closed"],
    ],
  },
  {
    name: "DENY from remoteIpBlocks (the gateway uses the remote address; no ALLOW policy: the rest passes)",
    policies: policy("deny-from-3", `{${onGateway}, action: DENY, rules: [{from: [{source: {remoteIpBlocks: [127.0.0.3/32]}}]}]}`),
    names: ["deny-from-3"],
    checks: [
      [{ from: "127.0.0.2" }, "200"],
      [{ from: "127.0.0.3" }, "403"],
      [{ from: "127.0.0.3", headers: { "x-forwarded-for": "10.9.9.9" } }, "403"],
    ],
  },
  {
    name: "mesh-wide allow-nothing (spec: {} in the root namespace)",
    policies: policy("allow-nothing", "{}"),
    names: ["allow-nothing"],
    checks: [
      [{}, "403"],
      [{ tcp: true }, "closed"],
    ],
  },
  {
    name: "scope: another namespace's policy and a selector for other pods do not apply",
    policies:
      policy("other-namespace", "{}", "default") +
      policy("other-pods", "{selector: {matchLabels: {app: istiod}}}") +
      policy("deny-never", `{${onGateway}, action: DENY, rules: [{to: [{operation: {paths: [/never]}}]}]}`),
    names: ["deny-never"],
    checks: [
      [{}, "200"],
      [{ path: "/never" }, "403"],
    ],
  },
  {
    name: "policy file removed: everything passes again",
    names: [],
    checks: [
      [{}, "200"],
      [{ tcp: true }, "200"],
    ],
  },
];

/** The policy names in Envoy's active gateway listeners. */
async function heldPolicies(envoy: EnvoyProcess): Promise<string[]> {
  const dump = (await envoy.admin("/config_dump?resource=dynamic_listeners")).body;
  const active = (JSON.parse(dump) as { configs?: { active_state?: unknown; warming_state?: unknown }[] }).configs ?? [];
  if (active.some((c) => c.warming_state)) return ["(warming)"];
  const text = JSON.stringify(active.map((c) => c.active_state));
  return [...new Set([...text.matchAll(/-policy\[([^\]]+)\]/g)].map((m) => m[1]!))].sort();
}

async function waitFor(what: string, timeoutMs: number, ok: () => Promise<boolean>, detail: () => Promise<string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs}ms\n${await detail()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Harness {
  envoy: EnvoyProcess;
  serve: ServeProcess;
  dir: string;
}

/** bill-service's backends, `mini-pilot serve --config-dir` with the bill-service fixtures plus `files`, and the ingress gateway's Envoy bootstrapped against it. */
async function gatewayHarness(
  t: TestContext,
  name: string,
  parts: string[],
  files: (b: BillBackends) => Record<string, string>,
  gatewayPort: number,
): Promise<Harness | undefined> {
  const bin = requireEnvoy(t);
  if (!bin) return undefined;
  const b = await startBillBackends();
  t.after(() => b.stop());
  const dir = writeBillService(path.join(tmp, name), parts, { ...b.vars, GATEWAY_PORT: gatewayPort, GATEWAY_BIND: BIND });
  for (const [f, text] of Object.entries(files(b))) fs.writeFileSync(path.join(dir, f), text);
  const serve = await startServe(["--config-dir", dir, "--debounce-after", "20ms"]);
  t.after(() => serve.stop());
  const [type, ip, podPart, domain] = INGRESS.id.split("~") as [string, string, string, string];
  const boot = path.join(tmp, `bootstrap-${name}.json`);
  const env = { ...process.env, POD_NAME: podPart.split(".")[0], POD_NAMESPACE: "istio-system", INSTANCE_IP: ip };
  const args = [CLI, "bootstrap", "--type", type, "--domain", domain, "--xds-address", `127.0.0.1:${serve.xdsPort}`, "--labels", INGRESS.labels];
  args.push("--admin-port", String(await freePort()), "--stats-port", String(await freePort()), "--readiness-port", "0", "--bind-address", BIND, "--out", boot);
  const r = spawnSync(process.execPath, args, { env, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const envoy = startEnvoy(bin, boot, { logDir: tmp });
  t.after(() => envoy.stop());
  await envoy.waitReady();
  return { envoy, serve, dir };
}

/** Per scenario: write the policy file, wait until Envoy's listeners on `ports` hold exactly its policies, run its checks. */
async function runScenarios<A>(
  h: Harness,
  scenarios: Scenario<A>[],
  ports: number[],
  vars: Record<string, string>,
  ask: (a: A) => Promise<string>,
): Promise<void> {
  const policyFile = path.join(h.dir, "authz.yaml");
  for (const s of scenarios) {
    if (s.policies === undefined) fs.rmSync(policyFile, { force: true });
    else {
      let text = s.policies;
      for (const [k, v] of Object.entries(vars)) text = text.replaceAll(`\${${k}}`, v);
      // Written in one step so the folder watcher never reads half a file.
      fs.writeFileSync(`${policyFile}.tmp`, text);
      fs.renameSync(`${policyFile}.tmp`, policyFile);
    }
    await waitFor(
      `${s.name}: Envoy holds policies [${s.names.join(", ")}]`,
      20_000,
      async () => {
        const l = (await h.envoy.admin("/listeners")).body;
        return JSON.stringify(await heldPolicies(h.envoy)) === JSON.stringify([...s.names].sort()) && ports.every((p) => l.includes(`:${p}`));
      },
      async () => `held: ${JSON.stringify(await heldPolicies(h.envoy))}\n${h.serve.logs.slice(-10).join("\n")}`,
    );
    const got: string[] = [];
    for (const [a] of s.checks) got.push(await ask(a));
    tally.requests += got.length;
    tally.scenarios++;
    assert.deepEqual(
      s.checks.map(([a], i) => `${JSON.stringify(a)} -> ${got[i]}`),
      s.checks.map(([a, want]) => `${JSON.stringify(a)} -> ${want}`),
      s.name,
    );
  }
  const stats = await h.envoy.stats();
  assert.equal(h.envoy.child.exitCode, null, "one Envoy, never restarted");
  const rejected = [...stats].filter(([k, v]) => k.endsWith(".update_rejected") && v !== 0);
  assert.deepEqual(rejected, [], "Envoy accepted every config mini-pilot sent");
}

test("AuthorizationPolicy through a real gateway Envoy over ADS: allowed 200, denied 403, per rule kind", { timeout: 240_000 }, async (t) => {
  const ports = { http: await freePort(), tcp: await freePort() };
  const tcpGateway = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bill-tcp, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: ${ports.tcp}, name: tcp, protocol: TCP}, bind: ${BIND}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bill-tcp, namespace: default}
spec:
  hosts: ["*"]
  gateways: [bill-tcp]
  tcp: [{route: [{destination: {host: bill-service, port: {number: 9999}}}]}]
`;
  const h = await gatewayHarness(t, "plain", ["gateway", "gateway-default"], () => ({ "tcp-gateway.yaml": tcpGateway }), ports.http);
  if (!h) return;
  try {
    await runScenarios(h, SCENARIOS, [ports.http, ports.tcp], { HTTP_PORT: String(ports.http), TCP_PORT: String(ports.tcp) }, (a) => ask(ports, a));
    const stats = await h.envoy.stats();
    assert.ok(Number(stats.get("tcp.rbac.denied") ?? 0) > 0, "the network RBAC filter counted its denials (stat prefix tcp.)");
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- envoy log ---\n${h.envoy.logTail(30)}`, { cause: e });
  }
});

// ---------------------------------------------------------------- peer identity: a MUTUAL gateway

/** Client certificates with SPIFFE URI SANs, as workload certificates carry them. */
const IDENTITIES = {
  sleep: "spiffe://cluster.local/ns/foo/sa/sleep",
  curl: "spiffe://cluster.local/ns/bar/sa/curl",
  foreign: "spiffe://example.org/ns/foo/sa/sleep",
} as const;
type Identity = keyof typeof IDENTITIES;

/** A CA, a server certificate for `host` and one client certificate per identity (openssl, ECDSA P-256). */
function makeCerts(dir: string, host: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const run = (args: string[]): void => {
    const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
    assert.equal(r.status, 0, `openssl ${args.join(" ")}: ${r.stderr}`);
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  run(["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=authz test CA"]);
  const leaf = (name: string, san: string, usage: string): void => {
    fs.writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=${usage}\n`);
    run(["req", "-new", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`]);
    run([
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
    ]);
  };
  leaf("server", `DNS:${host}`, "serverAuth");
  for (const [name, uri] of Object.entries(IDENTITIES)) leaf(name, `URI:${uri}`, "clientAuth");
}

function askTls(port: number, certs: string, host: string, who: Identity): Promise<string> {
  return new Promise((resolve) => {
    const req = https.request(
      {
        host: BIND,
        port,
        servername: host,
        ca: fs.readFileSync(path.join(certs, "ca.pem")),
        cert: fs.readFileSync(path.join(certs, `${who}.pem`)),
        key: fs.readFileSync(path.join(certs, `${who}.key`)),
        path: "/",
        agent: false,
        headers: { host, connection: "close" },
        timeout: 10_000,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (body += d));
        res.on("end", () => {
          if (res.statusCode === 200 && typeof res.headers["x-backend"] === "string") resolve("200");
          else if (res.statusCode === 403) resolve(body === "RBAC: access denied" ? "403" : `403 (${body})`);
          else resolve(`${res.statusCode} ${body}`);
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e) => resolve(`error ${e.message}`));
    req.end();
  });
}

const MTLS_SCENARIOS: Scenario<Identity>[] = [
  {
    name: "mTLS, no policy: every client certificate passes",
    names: [],
    checks: [
      ["sleep", "200"],
      ["curl", "200"],
      ["foreign", "200"],
    ],
  },
  {
    name: "ALLOW principals (exact): only that SPIFFE id",
    policies: policy("allow-sleep", `{${onGateway}, rules: [{from: [{source: {principals: [cluster.local/ns/foo/sa/sleep]}}]}]}`),
    names: ["allow-sleep"],
    checks: [
      ["sleep", "200"],
      ["curl", "403"],
      ["foreign", "403"],
    ],
  },
  {
    name: "ALLOW namespaces: any identity in namespace bar",
    policies: policy("allow-bar", `{${onGateway}, rules: [{from: [{source: {namespaces: [bar]}}]}]}`),
    names: ["allow-bar"],
    checks: [
      ["sleep", "403"],
      ["curl", "200"],
      ["foreign", "403"],
    ],
  },
  {
    name: "DENY notPrincipals (prefix): everything outside cluster.local/ns/foo/",
    policies: policy("deny-outside-foo", `{${onGateway}, action: DENY, rules: [{from: [{source: {notPrincipals: ["cluster.local/ns/foo/*"]}}]}]}`),
    names: ["deny-outside-foo"],
    checks: [
      ["sleep", "200"],
      ["curl", "403"],
      ["foreign", "403"],
    ],
  },
  {
    name: "ALLOW serviceAccounts: foo/sleep in any trust domain",
    policies: policy("allow-sa", `{${onGateway}, rules: [{from: [{source: {serviceAccounts: [foo/sleep]}}]}]}`),
    names: ["allow-sa"],
    checks: [
      ["sleep", "200"],
      ["curl", "403"],
      ["foreign", "200"],
    ],
  },
  {
    name: "ALLOW when source.principal (suffix) and trustDomains",
    policies:
      policy("allow-curl", `{${onGateway}, rules: [{when: [{key: source.principal, values: ["*/sa/curl"]}]}]}`) +
      policy("allow-example-org", `{${onGateway}, rules: [{from: [{source: {trustDomains: [example.org]}}]}]}`),
    names: ["allow-curl", "allow-example-org"],
    checks: [
      ["sleep", "403"],
      ["curl", "200"],
      ["foreign", "200"],
    ],
  },
];

test("AuthorizationPolicy on peer identity through a real gateway Envoy: MUTUAL TLS with SPIFFE client certificates", { timeout: 240_000 }, async (t) => {
  const host = "bill.example.com";
  const certs = path.join(tmp, "certs");
  makeCerts(certs, host);
  const port = await freePort();
  const mtlsGateway = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bill-mtls, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: ${port}, name: https, protocol: HTTPS}
      bind: ${BIND}
      hosts: [${host}]
      tls: {mode: MUTUAL, serverCertificate: ${certs}/server.pem, privateKey: ${certs}/server.key, caCertificates: ${certs}/ca.pem}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bill-mtls, namespace: default}
spec:
  hosts: [${host}]
  gateways: [bill-mtls]
  http: [{route: [{destination: {host: bill-service, port: {number: 9999}}}]}]
`;
  const h = await gatewayHarness(t, "mtls", [], () => ({ "mtls-gateway.yaml": mtlsGateway }), port);
  if (!h) return;
  try {
    await runScenarios(h, MTLS_SCENARIOS, [port], {}, (who) => askTls(port, certs, host, who));
    const denied = [...(await h.envoy.stats())].filter(([k]) => k.startsWith("http.") && k.endsWith(".rbac.denied")).reduce((n, [, v]) => n + Number(v), 0);
    assert.ok(denied > 0, "the HTTP RBAC filter counted its denials");
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- envoy log ---\n${h.envoy.logTail(30)}`, { cause: e });
  }
});
