/**
 * The real Envoy against `mini-pilot serve --config-dir`, bootstrapped by
 * `mini-pilot bootstrap`, over ADS state-of-the-world and delta.
 *
 * 1. The golden corpus, pushed one case after another into one served folder,
 *    reaches one Envoy per proxy identity in the corpus and per ADS flavour,
 *    all connected at once. After each case: every stream SYNCED in
 *    /debug/syncz, what is served for the case's proxy equals the case's
 *    golden files, that proxy's Envoys hold exactly the served listeners and
 *    clusters (admin /config_dump, /clusters) and counted a successful update,
 *    the SDS secrets served are the golden ones and Envoy holds them, and no
 *    Envoy has a single `*.update_rejected`. A listener naming a secret that
 *    is not served (its Secret is missing or broken) may stay warming: Envoy
 *    waits for it until its initial fetch timeout, as with istiod.
 * 2. Live changes through an ingress gateway (router) Envoy, without
 *    restarting it: edit the VirtualService weights and the split moves;
 *    remove the v2 endpoint and v2 gets no more traffic; write an invalid
 *    VirtualService and a broken file and Envoy keeps routing on the last good
 *    config.
 */
import { after, test, TestContext } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { isDeepStrictEqual } from "node:util";
import { parse, stringify } from "yaml";
import { EnvoyProcess, freePort, loopbackBootstrapArgs, requireEnvoy, startEnvoy } from "../support/envoy";
import { CLI, getJson, ServeProcess, startServe } from "../support/serve-process";
import { countBy, HttpClient, startBillBackends, withinBinomial, writeBillService } from "../support/http-backends";
import { readConfigDump } from "../support/config-dump";
import { testCa, testLeaf } from "../support/tls-certs";
import { SdsServer } from "../../src/agent/sds-server";
import { redactBytes } from "../../src/xds/redact";
import { encodeResource } from "../../src/xds/resource";
import { decodeToJson } from "../../src/xds/json";
import { messageType } from "../../src/xds/protos";
import { TYPE_BY_SHORT_NAME, messageName } from "../../src/xds/types";

type J = any; // admin and debug JSON, walked freely in assertions

const REPO = path.resolve(__dirname, "../../..");
const GOLDEN = path.join(REPO, "test/golden");
/** Certificate paths in the goldens point at /etc/certs; the fixtures hold real PEM files there. */
const CERTS = path.join(GOLDEN, "_fixtures/certs");
const realCerts = (text: string): string => text.replaceAll("/etc/certs/", `${CERTS}/`);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mini-pilot-e2e-ads-"));
after(async () => {
  if (sdsStarted) (await sdsStarted).shutdown();
  fs.rmSync(tmp, { recursive: true, force: true });
});
const tally = { pushes: 0, envoys: 0, requests: 0, checks: 0, warnings: new Set<string>() };
after(() => {
  process.stderr.write(`envoy-ads: ${tally.envoys} Envoys, ${tally.pushes} corpus pushes, ${tally.checks} Envoy-side checks, ${tally.requests} requests\n`);
  for (const w of tally.warnings) process.stderr.write(`envoy warning: ${w}\n`);
});

/** Envoy's warning lines (deprecations and the like) from its log, without timestamps and numbers that vary. */
function noteWarnings(envoy: EnvoyProcess): void {
  const log = fs.existsSync(envoy.logPath) ? fs.readFileSync(envoy.logPath, "utf8") : "";
  for (const line of log.split("\n")) {
    const m = /\[(warning|critical|error)\]\[[^\]]*\] (?:\[[^\]]*\] )?(.*)$/.exec(line);
    if (m) tally.warnings.add(`[${m[1]}] ${m[2]!.replace(/\d+s ago/, "Ns ago").trim()}`);
  }
}

// ---------------------------------------------------------------- helpers

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, detail?: () => Promise<string>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let v: T | undefined;
    try {
      v = await probe();
    } catch {
      v = undefined;
    }
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs}ms${detail ? `\n${await detail()}` : ""}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Replace a served file in one step (the folder watcher never sees half of it). */
function writeAtomic(file: string, text: string): void {
  const tmpFile = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  fs.writeFileSync(tmpFile, text);
  fs.renameSync(tmpFile, file);
}

interface Identity {
  id: string;
  metadata: Record<string, unknown>;
}

/** `mini-pilot bootstrap` for a node id, run as a user would (environment + flags), pointed at `xdsPort`. */
async function bootstrapFor(who: Identity, api: "sotw" | "delta", xdsPort: number, file: string): Promise<void> {
  await agentSds();
  const [type, ip, podPart, domain] = who.id.split("~") as [string, string, string, string];
  const dot = podPart.indexOf(".");
  const labels = Object.entries((who.metadata.LABELS ?? {}) as Record<string, string>)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  const env: NodeJS.ProcessEnv = { ...process.env, POD_NAME: podPart.slice(0, dot), POD_NAMESPACE: podPart.slice(dot + 1), INSTANCE_IP: ip };
  if (typeof who.metadata.ISTIO_VERSION === "string") env.ISTIO_META_ISTIO_VERSION = who.metadata.ISTIO_VERSION;
  const args = [CLI, "bootstrap", "--type", type, "--domain", domain, "--xds-address", `127.0.0.1:${xdsPort}`, "--xds-api", api];
  args.push(...(await loopbackBootstrapArgs()), "--out", file);
  if (labels) args.push("--labels", labels);
  // A golden proxy with a workload certificate (metadata SDS) is bootstrapped as the agent does it.
  const withAgent = who.metadata.SDS === true || who.metadata.SDS === "true";
  if (withAgent) args.push("--sds-socket", sdsSocket);
  const r = spawnSync(process.execPath, args, { env, encoding: "utf8" });
  assert.equal(r.status, 0, `mini-pilot bootstrap for ${who.id}: ${r.stderr}`);
  const written = JSON.parse(fs.readFileSync(file, "utf8")) as J;
  assert.equal(written.node.id, who.id, "the bootstrap's node id is the golden proxy's");
  // ISTIO_MUTUAL clusters take `default` and `ROOTCA` from the agent's `sds-grpc`. The cluster is added by hand, not with
  // `bootstrap --sds-socket`, because that also sets the SDS metadata, which changes what the golden proxy is sent.
  if (!withAgent)
    written.static_resources.clusters.push({
      name: "sds-grpc",
      type: "STATIC",
      connect_timeout: "1s",
      load_assignment: { cluster_name: "sds-grpc", endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: sdsSocket } } } }] }] },
      typed_extension_protocol_options: {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
          "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
          explicit_http_config: { http2_protocol_options: {} },
        },
      },
    });
  if (!withAgent) fs.writeFileSync(file, JSON.stringify(written));
}

/** The agent's SDS server (the real one `mini-pilot agent` runs), serving a workload certificate from a test CA. */
const sdsSocket = path.join(tmp, "sds", "socket");
let sdsStarted: Promise<SdsServer> | undefined;
function agentSds(): Promise<SdsServer> {
  sdsStarted ??= (async () => {
    const server = new SdsServer({ info: () => undefined, warn: () => undefined });
    await server.listen(sdsSocket);
    const ca = await testCa();
    const leaf = await testLeaf(ca, ["sleep.default.svc"]);
    server.update({ certChainPem: leaf.certPem, keyPem: leaf.keyPem, rootPem: ca.certPem, notAfter: new Date(Date.now() + 3600_000) });
    return server;
  })();
  return sdsStarted;
}

/** Sum of every stat whose name ends with `suffix`. */
async function sumStats(envoy: EnvoyProcess, suffix: string): Promise<{ total: number; nonZero: string[] }> {
  let total = 0;
  const nonZero: string[] = [];
  for (const [name, v] of await envoy.stats()) {
    if (!name.endsWith(suffix) || typeof v !== "number") continue;
    total += v;
    if (v !== 0) nonZero.push(`${name}=${v}`);
  }
  return { total, nonZero };
}

interface SynczEntry {
  proxy: string | null;
  stream: string;
  types: Record<string, { status: string; lastError: { message: string } | null }>;
}

/** Every connected stream SYNCED on every type it subscribed to; `want` streams connected. */
async function allSynced(serve: ServeProcess, want: number): Promise<boolean | undefined> {
  const syncz = (await getJson(serve.httpPort, "/debug/syncz")) as SynczEntry[];
  if (syncz.length < want) return undefined;
  const ok = syncz.every((s) => Object.keys(s.types).length > 0 && Object.values(s.types).every((t) => t.status === "SYNCED"));
  return ok || undefined;
}

async function synczSummary(serve: ServeProcess): Promise<string> {
  const syncz = (await getJson(serve.httpPort, "/debug/syncz")) as SynczEntry[];
  return syncz
    .map(
      (s) =>
        `${s.proxy} ${s.stream}: ${Object.entries(s.types)
          .map(([t, v]) => `${t}=${v.status}${v.lastError ? ` (${v.lastError.message})` : ""}`)
          .join(" ")}`,
    )
    .join("\n");
}

/** Served resources for a proxy (connected or not): type → name → resource, and each type's version. */
async function served(
  serve: ServeProcess,
  id: string,
): Promise<{ version: string; versions: Record<string, string>; types: Record<string, Map<string, unknown>> }> {
  const res = await fetch(`http://127.0.0.1:${serve.httpPort}/debug/config_dump?proxy=${encodeURIComponent(id)}`);
  const body = await res.text();
  const { types, versions } = readConfigDump(res.ok ? JSON.parse(body) : undefined);
  return { version: Object.values(versions).join("/"), versions, types };
}

/**
 * What Envoy holds: dynamic listeners with their state (listeners that were
 * removed and only drain are left out), dynamic clusters, route configs, and
 * each cluster's host count.
 */
async function envoyHolds(
  envoy: EnvoyProcess,
): Promise<{ listeners: Map<string, string>; clusters: Set<string>; routes: Map<string, unknown>; hostCounts: Map<string, number>; secrets: Set<string> }> {
  const lds = JSON.parse((await envoy.admin("/config_dump?resource=dynamic_listeners")).body) as J;
  const listeners = new Map<string, string>();
  for (const c of lds.configs ?? []) {
    if (c.error_state) listeners.set(c.name, `rejected: ${JSON.stringify(c.error_state)}`);
    else if (c.warming_state) listeners.set(c.name, "warming");
    else if (c.active_state) listeners.set(c.name, "active");
  }
  const cds = JSON.parse((await envoy.admin("/config_dump?resource=dynamic_active_clusters")).body) as J;
  const clusters = new Set<string>(((cds.configs ?? []) as J[]).map((c) => c.cluster.name as string));
  const rds = JSON.parse((await envoy.admin("/config_dump?resource=dynamic_route_configs")).body) as J;
  const routes = new Map<string, unknown>(
    ((rds.configs ?? []) as J[]).map((c) => {
      const { "@type": _type, ...rc } = c.route_config as J;
      return [rc.name as string, rc];
    }),
  );
  const status = JSON.parse((await envoy.admin("/clusters?format=json")).body) as J;
  const hostCounts = new Map<string, number>(((status.cluster_statuses ?? []) as J[]).map((c) => [c.name as string, ((c.host_statuses ?? []) as J[]).length]));
  const sds = JSON.parse((await envoy.admin("/config_dump?resource=dynamic_active_secrets")).body) as J;
  const secrets = new Set<string>(((sds.configs ?? []) as J[]).map((c) => c.name as string));
  return { listeners, clusters, routes, hostCounts, secrets };
}

/** Names of the ADS-served SDS secrets anywhere in a resource. */
function sdsNames(v: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(v)) for (const x of v) sdsNames(x, into);
  else if (typeof v === "object" && v !== null) {
    const o = v as J;
    if (typeof o.name === "string" && o.sds_config?.ads !== undefined) into.add(o.name);
    for (const x of Object.values(o)) sdsNames(x, into);
  }
  return into;
}

/** A stat's value, 0 when Envoy has no such stat (yet). */
async function statValue(envoy: EnvoyProcess, name: string): Promise<number> {
  const v = (await envoy.stats()).get(name);
  return typeof v === "number" ? v : 0;
}

// ---------------------------------------------------------------- the golden corpus

interface GoldenCase {
  name: string;
  who: Identity;
  /** The golden case was made with buildMesh options or a mesh config (serve uses the defaults). */
  meshOptions: boolean;
  text: string;
  expected: Record<string, Map<string, unknown>>;
  secretNames: string[];
}

function collect(p: string): string[] {
  if (fs.statSync(p).isDirectory())
    return fs
      .readdirSync(p)
      .sort()
      .flatMap((n) => collect(path.join(p, n)));
  return /\.(ya?ml|json)$/.test(p) ? [p] : [];
}

function loadCase(name: string): GoldenCase {
  const dir = path.join(GOLDEN, name);
  const files: string[] = [];
  const includes = path.join(dir, "include.txt");
  if (fs.existsSync(includes)) {
    for (const line of fs
      .readFileSync(includes, "utf8")
      .split("\n")
      .map((l) => l.trim())) {
      if (line !== "" && !line.startsWith("#")) files.push(...collect(path.join(REPO, line)));
    }
  }
  if (fs.existsSync(path.join(dir, "input.yaml"))) files.push(path.join(dir, "input.yaml"));
  // One file, so the folder watcher sees the whole case at once.
  const text = realCerts(
    files.map((f) => (f.endsWith(".json") ? stringify(JSON.parse(fs.readFileSync(f, "utf8"))) : fs.readFileSync(f, "utf8"))).join("\n---\n"),
  );
  const proxy = parse(fs.readFileSync(path.join(dir, "proxy.yaml"), "utf8")) as { id: string; metadata?: Record<string, unknown>; mesh?: object };
  const expected: Record<string, Map<string, unknown>> = {};
  for (const t of ["listeners", "routes", "clusters", "endpoints"]) {
    const list = (parse(realCerts(fs.readFileSync(path.join(dir, `${t}.yaml`), "utf8"))) ?? []) as J[];
    // config_dump shows private keys "[redacted]" (as Envoy's does): expect the golden files redacted the same way.
    const typeUrl = TYPE_BY_SHORT_NAME[t]!;
    const redacted = list.map((r) => decodeToJson(messageType(messageName(typeUrl)), redactBytes(typeUrl, encodeResource(typeUrl, r).bytes)) as J);
    expected[t] = new Map(redacted.map((r) => [String(t === "endpoints" ? r.cluster_name : r.name), r]));
  }
  // Served secrets are compared by name: /debug/config_dump shows their private keys redacted.
  const secretsFile = path.join(dir, "secrets.yaml");
  const secrets = fs.existsSync(secretsFile) ? ((parse(fs.readFileSync(secretsFile, "utf8")) ?? []) as J[]) : [];
  return {
    name,
    who: { id: proxy.id, metadata: proxy.metadata ?? {} },
    // proxy.yaml's mesh options or a mesh-config.yaml: serve (with the default mesh) gives other output.
    meshOptions: (proxy.mesh !== undefined && Object.keys(proxy.mesh).length > 0) || fs.existsSync(path.join(dir, "mesh-config.yaml")),
    text,
    expected,
    secretNames: secrets.map((r) => String(r.name)).sort(),
  };
}

/**
 * A resource without the literal tracing tags (istio.cluster_id, mesh_id, canonical_service/revision): they name the
 * proxy as its node announces it, and the Envoys' bootstraps announce more than proxy.yaml says (pilot-agent's
 * CLUSTER_ID and MESH_ID defaults, canonical labels from app/version), so served and golden values differ there by design.
 */
function withoutIdentityTags(v: unknown): unknown {
  if (Array.isArray(v)) return v.filter((x) => !(x && typeof x === "object" && "literal" in x && "tag" in x)).map(withoutIdentityTags);
  if (v === null || typeof v !== "object") return v;
  return Object.fromEntries(Object.entries(v as J).map(([k, x]) => [k, withoutIdentityTags(x)]));
}

/** The first line that differs between two JSON values, printed with two-space indentation. */
function firstDifference(a: unknown, b: unknown): string {
  const x = JSON.stringify(a, null, 1).split("\n");
  const y = JSON.stringify(b, null, 1).split("\n");
  const at = x.findIndex((line, i) => line !== y[i]);
  return at < 0 ? "(same lines, other key order)" : `line ${at}: ${x[at]?.trim()} (golden: ${y[at]?.trim()})`;
}

const identityKey = (w: Identity): string => JSON.stringify([w.id, w.metadata]);

test("the golden corpus over ADS, SotW and delta: every Envoy in sync after every case, zero update_rejected", { timeout: 900_000 }, async (t) => {
  const bin = requireEnvoy(t);
  if (!bin) return;
  const names = fs
    .readdirSync(GOLDEN, { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(GOLDEN, e.name, "proxy.yaml")))
    .map((e) => e.name)
    .sort();
  const cases = names.map(loadCase);
  assert.ok(cases.length >= 30, `the golden corpus: ${cases.length} cases`);
  // Proxyless gRPC clients are not Envoys; their cases still get pushed to everyone else.
  const identities = new Map<string, Identity>();
  for (const c of cases) if (c.who.metadata.GENERATOR !== "grpc") identities.set(identityKey(c.who), c.who);

  const dir = fs.mkdtempSync(path.join(tmp, "served-"));
  writeAtomic(path.join(dir, "case.yaml"), "");
  const serve = await startServe(["--config-dir", dir, "--debounce-after", "20ms"]);
  t.after(() => serve.stop());

  interface Running {
    who: Identity;
    api: "sotw" | "delta";
    envoy: EnvoyProcess;
  }
  const envoys: Running[] = [];
  t.after(async () => {
    await Promise.all(envoys.map((e) => e.envoy.stop()));
    for (const e of envoys) noteWarnings(e.envoy);
  });
  for (const who of identities.values()) {
    for (const api of ["sotw", "delta"] as const) {
      const file = path.join(tmp, `bootstrap-${envoys.length}-${api}.json`);
      await bootstrapFor(who, api, serve.xdsPort, file);
      envoys.push({ who, api, envoy: startEnvoy(bin, file, { logDir: tmp }) });
    }
  }
  tally.envoys += envoys.length;
  await Promise.all(envoys.map((e) => e.envoy.waitAdmin()));
  await waitFor(
    "every Envoy connected and SYNCED on the empty folder",
    30_000,
    () => allSynced(serve, envoys.length),
    () => synczSummary(serve),
  );

  const failures: string[] = [];
  let previousText = "";
  for (const c of cases) {
    const before = (await getJson(serve.httpPort, "/debug/configz")) as { pushes: number };
    const mine = envoys.filter((e) => identityKey(e.who) === identityKey(c.who));
    const servedBefore = await served(serve, c.who.id);
    const ldsBefore = await Promise.all(mine.map((e) => statValue(e.envoy, "listener_manager.lds.update_success")));
    const cdsBefore = await Promise.all(mine.map((e) => statValue(e.envoy, "cluster_manager.cds.update_success")));

    writeAtomic(path.join(dir, "case.yaml"), c.text);
    // Equal objects are a no-op for the store (some cases share their inputs): no push then.
    const same = c.text === previousText;
    previousText = c.text;
    await waitFor(`${c.name}: a push`, 20_000, async () =>
      same || ((await getJson(serve.httpPort, "/debug/configz")) as { pushes: number }).pushes > before.pushes ? true : undefined,
    );
    await waitFor(
      `${c.name}: every stream SYNCED`,
      30_000,
      () => allSynced(serve, envoys.length),
      async () => {
        // A cluster that warms forever (waiting for a ClusterLoadAssignment that never comes) holds the CDS ACK back.
        const warming = await Promise.all(
          envoys.map(async (e) => `${e.who.id} (${e.api}): warming_clusters=${await statValue(e.envoy, "cluster_manager.warming_clusters")}`),
        );
        return `${await synczSummary(serve)}\n${warming.join("\n")}`;
      },
    );
    tally.pushes++;

    const now = await served(serve, c.who.id);
    if (!c.meshOptions && c.who.metadata.GENERATOR !== "grpc") {
      // serve --config-dir gives the case's proxy exactly what the golden files say.
      for (const [type, want] of Object.entries(c.expected)) {
        const got = now.types[type]!;
        if (JSON.stringify([...got.keys()].sort()) !== JSON.stringify([...want.keys()].sort())) {
          failures.push(`${c.name}: served ${type} ${[...got.keys()].join(",")} but the golden files have ${[...want.keys()].join(",")}`);
          continue;
        }
        for (const [name, r] of want) {
          const servedJson = withoutIdentityTags(got.get(name));
          const goldenJson = withoutIdentityTags(r);
          if (!isDeepStrictEqual(servedJson, goldenJson))
            failures.push(`${c.name}: served ${type} "${name}" differs from the golden file: ${firstDifference(servedJson, goldenJson)}`);
        }
      }
      const servedSecrets = [...now.types.secrets!.keys()].sort();
      if (JSON.stringify(servedSecrets) !== JSON.stringify(c.secretNames))
        failures.push(`${c.name}: served secrets ${servedSecrets.join(",")} but the golden files have ${c.secretNames.join(",")}`);
    }
    for (const [i, e] of mine.entries()) {
      const held = await envoyHolds(e.envoy);
      const label = `${c.name} (${e.api})`;
      const same = (what: string, got: string[], want: string[]): void => {
        if (JSON.stringify(got.sort()) !== JSON.stringify(want.sort()))
          failures.push(`${label}: Envoy has ${what} ${got.join(",")}; served: ${want.join(",")}`);
      };
      same("listeners", [...held.listeners.keys()], [...now.types.listeners!.keys()]);
      for (const [name, state] of held.listeners) {
        const unserved = [...sdsNames(now.types.listeners!.get(name))].filter((n) => !now.types.secrets!.has(n));
        if (state === "warming" && unserved.length > 0) continue; // waiting for a secret that is not served, as with istiod
        if (state !== "active") failures.push(`${label}: listener ${name} is ${state}`);
      }
      for (const name of now.types.secrets!.keys()) if (!held.secrets.has(name)) failures.push(`${label}: Envoy lacks SDS secret "${name}"`);
      same("clusters", [...held.clusters], [...now.types.clusters!.keys()]);
      // Route configurations stay while a removed listener that used them drains: Envoy may hold more.
      for (const [name, rc] of now.types.routes!) {
        if (!held.routes.has(name)) failures.push(`${label}: Envoy lacks route configuration "${name}"`);
        else if (!isDeepStrictEqual(held.routes.get(name), rc)) failures.push(`${label}: Envoy's route configuration "${name}" differs from the served one`);
      }
      for (const [name, cla] of now.types.endpoints!) {
        const want = ((cla as J).endpoints ?? []).reduce((n: number, l: J) => n + (l.lb_endpoints ?? []).length, 0);
        if (now.types.clusters!.has(name) && held.hostCounts.get(name) !== want)
          failures.push(`${label}: cluster ${name} has ${held.hostCounts.get(name)} hosts in Envoy, ${want} served`);
      }
      if (now.versions.listeners !== servedBefore.versions.listeners && (await statValue(e.envoy, "listener_manager.lds.update_success")) <= ldsBefore[i]!) {
        failures.push(`${label}: new listeners were served but Envoy counted no successful LDS update`);
      }
      if (now.versions.clusters !== servedBefore.versions.clusters && (await statValue(e.envoy, "cluster_manager.cds.update_success")) <= cdsBefore[i]!) {
        failures.push(`${label}: new clusters were served but Envoy counted no successful CDS update`);
      }
      tally.checks++;
    }
    const rejected = await Promise.all(envoys.map(async (e) => ({ e, r: await sumStats(e.envoy, ".update_rejected") })));
    for (const { e, r } of rejected)
      if (r.total > 0) failures.push(`${c.name}: ${e.who.id} (${e.api}) rejected an update: ${r.nonZero.join(", ")}\n${e.envoy.logTail(10)}`);
    if (rejected.some((x) => x.r.total > 0)) break; // the first rejection is the one worth reading
  }
  for (const e of envoys) assert.equal(e.envoy.child.exitCode, null, `${e.who.id} (${e.api}) is still running`);
  assert.deepEqual(failures, []);
});

// ---------------------------------------------------------------- live changes through a gateway

const INGRESS: Identity = {
  id: "router~127.0.0.1~istio-ingressgateway-5d9c7b8f6-zz9xk.istio-system~istio-system.svc.cluster.local",
  metadata: { LABELS: { app: "istio-ingressgateway", istio: "ingressgateway" } },
};
const V2 = "outbound|9999|v2|bill-service.default.svc.cluster.local";

/** The Gateway's listener binds this address only (Gateway `bind`), never 0.0.0.0. */
const GATEWAY_BIND = "127.0.0.1";

/** The weights Envoy holds for the bill-service canary route. */
async function envoyWeights(envoy: EnvoyProcess): Promise<number[] | undefined> {
  const dump = JSON.parse((await envoy.admin("/config_dump?resource=dynamic_route_configs")).body) as J;
  for (const rc of dump.configs ?? []) {
    for (const vh of rc.route_config?.virtual_hosts ?? []) {
      for (const r of vh.routes ?? []) {
        const wc = r.route?.weighted_clusters?.clusters as J[] | undefined;
        if (wc) return wc.map((c) => Number(c.weight));
      }
    }
  }
  return undefined;
}

async function liveChanges(t: TestContext, api: "sotw" | "delta"): Promise<void> {
  const bin = requireEnvoy(t);
  if (!bin) return;
  const b = await startBillBackends();
  t.after(() => b.stop());
  const port = await freePort();
  const dir = writeBillService(path.join(tmp, `live-${api}`), ["rules", "canary", "gateway"], { ...b.vars, GATEWAY_PORT: port, GATEWAY_BIND });
  const serve = await startServe(["--config-dir", dir, "--debounce-after", "20ms"]);
  t.after(() => serve.stop());
  const file = path.join(tmp, `bootstrap-live-${api}.json`);
  await bootstrapFor(INGRESS, api, serve.xdsPort, file);
  const envoy = startEnvoy(bin, file, { logDir: tmp });
  t.after(async () => {
    await envoy.stop();
    noteWarnings(envoy);
  });
  tally.envoys++;
  const client = new HttpClient(port, "bill-service.default.svc.cluster.local");
  t.after(() => client.close());
  try {
    await envoy.waitReady();
    await waitFor("the gateway listener", 20_000, async () =>
      (await envoy.admin("/listeners")).body.includes(`${GATEWAY_BIND}_${port}::${GATEWAY_BIND}:${port}`) ? true : undefined,
    );
    const pid = envoy.child.pid;
    const split = async (n: number): Promise<Record<string, number>> => {
      b.reset();
      const replies = await client.many(n);
      tally.requests += n;
      return countBy(replies);
    };

    // 90/10 as configured.
    let c = await split(1000);
    assert.ok(withinBinomial(c["bill-service-v2"] ?? 0, 1000, 0.1), `90/10: ${JSON.stringify(c)}`);
    assert.equal((c["bill-service-v1"] ?? 0) + (c["bill-service-v2"] ?? 0), 1000, JSON.stringify(c));

    // Edit the weights: 50/50.
    const vsFile = path.join(dir, "canary-virtual-service.yaml");
    const vs = fs.readFileSync(vsFile, "utf8");
    const fifty = vs.replace("weight: 90", "weight: 50").replace("weight: 10", "weight: 50");
    assert.notEqual(fifty, vs);
    writeAtomic(vsFile, fifty);
    await waitFor("Envoy holds the 50/50 weights", 20_000, async () => (JSON.stringify(await envoyWeights(envoy)) === "[50,50]" ? true : undefined));
    c = await split(1000);
    assert.ok(withinBinomial(c["bill-service-v2"] ?? 0, 1000, 0.5), `50/50 after the edit: ${JSON.stringify(c)}`);
    assert.equal(envoy.child.pid, pid);
    assert.equal(envoy.child.exitCode, null, "the same Envoy, never restarted");

    // Remove the v2 endpoint: v2 gets nothing; its share of requests finds no healthy upstream.
    const slicesFile = path.join(dir, "base-endpointslices.yaml");
    const slices = fs.readFileSync(slicesFile, "utf8");
    const withoutV2 = slices.replace(/---\napiVersion: discovery\.k8s\.io\/v1\nkind: EndpointSlice\nmetadata:\n {2}name: bill-service-v2[\s\S]*$/, "");
    assert.notEqual(withoutV2, slices);
    writeAtomic(slicesFile, withoutV2);
    await waitFor("Envoy has no v2 host", 20_000, async () => ((await envoyHolds(envoy)).hostCounts.get(V2) === 0 ? true : undefined));
    c = await split(400);
    assert.equal(b.v2.hits, 0, `no request reaches v2 once its endpoint is gone: ${JSON.stringify(c)}`);
    assert.ok(withinBinomial(c["status 503"] ?? 0, 400, 0.5), `v2's half now fails with 503: ${JSON.stringify(c)}`);
    assert.equal((c["bill-service-v1"] ?? 0) + (c["status 503"] ?? 0), 400, JSON.stringify(c));

    // Put it back: v2 is served again.
    writeAtomic(slicesFile, slices);
    await waitFor("Envoy has the v2 host again", 20_000, async () => ((await envoyHolds(envoy)).hostCounts.get(V2) === 1 ? true : undefined));
    c = await split(400);
    assert.ok(withinBinomial(c["bill-service-v2"] ?? 0, 400, 0.5), `v2 back: ${JSON.stringify(c)}`);

    // Break the config: an invalid VirtualService and a file that does not parse. Routing stays as it was.
    writeAtomic(vsFile, fifty.replace("weight: 50", "weight: -5"));
    writeAtomic(path.join(dir, "zz-broken.yaml"), "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x\n  : [\n");
    const diagnostics = await waitFor("serve reports both problems", 20_000, async () => {
      const z = (await getJson(serve.httpPort, "/debug/configz")) as { diagnostics: string[] };
      const ds = z.diagnostics.join("\n");
      return /weight/i.test(ds) && /zz-broken\.yaml/.test(ds) ? ds : undefined;
    });
    assert.match(diagnostics, /canary-virtual-service\.yaml/, "the diagnostic names the file");
    await new Promise((r) => setTimeout(r, 500)); // give a wrong push time to happen, if one were coming
    assert.equal(JSON.stringify(await envoyWeights(envoy)), "[50,50]", "Envoy keeps the last good weights");
    c = await split(600);
    assert.ok(withinBinomial(c["bill-service-v2"] ?? 0, 600, 0.5), `still 50/50 on the last good config: ${JSON.stringify(c)}`);
    assert.equal((c["bill-service-v1"] ?? 0) + (c["bill-service-v2"] ?? 0), 600, JSON.stringify(c));
    const rejected = await sumStats(envoy, ".update_rejected");
    assert.deepEqual(rejected.nonZero, [], "nothing mini-pilot sent was rejected");

    // Fix the VirtualService: 20/80 now, and the broken file is still ignored.
    writeAtomic(vsFile, vs.replace("weight: 90", "weight: 20").replace("weight: 10", "weight: 80"));
    await waitFor("Envoy holds the 20/80 weights", 20_000, async () => (JSON.stringify(await envoyWeights(envoy)) === "[20,80]" ? true : undefined));
    c = await split(1000);
    assert.ok(withinBinomial(c["bill-service-v2"] ?? 0, 1000, 0.8), `20/80 after the fix: ${JSON.stringify(c)}`);
    assert.equal(envoy.child.exitCode, null);
    assert.deepEqual((await sumStats(envoy, ".update_rejected")).nonZero, []);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- envoy log ---\n${envoy.logTail(30)}\n--- serve log ---\n${serve.logs.slice(-15).join("\n")}`, { cause: e });
  }
}

test("live changes over ADS (SotW) through an ingress gateway: weights, endpoints, invalid config", { timeout: 180_000 }, (t) => liveChanges(t, "sotw"));
test("live changes over ADS (delta) through an ingress gateway: weights, endpoints, invalid config", { timeout: 180_000 }, (t) => liveChanges(t, "delta"));
