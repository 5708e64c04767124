/**
 * The fidelity run: one kube-apiserver and one istiod serve every golden case
 * in turn. For each case: write its mesh config, apply its objects, wait until
 * istiod has them, fetch the proxy's LDS/RDS/CDS/EDS from istiod over ADS
 * (twice, until two fetches agree), translate the same case with mini-pilot for
 * the same node, compare field by field, then delete the objects again.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { installIstioCrds, startKube, kubeRequest, type KubeCluster } from "../kube/cluster";
import { istioModuleVersion, startIstiod, type Istiod } from "../istiod/istiod";
import { caseManifests, GOLDEN_DIR } from "../support/golden-cases";
import { applyObjects, deleteApplied, manifestObjects, type Applied, type Refused } from "./kube-apply";
import { agentMetadata, agentServiceCluster, readProxySpec, type ProxySpec } from "./golden-proxy";
import { miniPilotConfig } from "./mini-pilot-config";
import { fetchGrpcXds, fetchXds, grpcClientView, type Json, type XdsConfig } from "./xds-fetch";
import { compareResources, type Comparison, type Difference } from "./diff";
import { acceptedEntry, entryMatches, loadAccepted, type AcceptedFile, type Entry } from "./accepted";
import { redecodeKnownAnys } from "./redecode";
import { configKeys, endpointShardsText, registryHosts, setMeshConfig, until } from "./istiod-sync";

export const ACCEPTED_FILE = path.join(GOLDEN_DIR, "..", "fidelity", "accepted-differences.yaml");
export const TYPES = ["listeners", "routes", "clusters", "endpoints"] as const;
export type ResourceType = (typeof TYPES)[number];

/** Golden cases istiod cannot be compared on, and why. */
export const SKIPPED_CASES: Record<string, string> = {
  "mtls-no-workload-cert": "a mini-pilot-only proxy: an agent that serves no workload certificate (no SDS); every pilot-agent does",
  "endpoints-legacy": "v1 Endpoints without EndpointSlices: istiod reads only EndpointSlices (mini-pilot keeps Endpoints as a fallback)",
};

export interface CaseResult {
  name: string;
  skipped?: string;
  error?: string;
  byType: Partial<Record<ResourceType, Comparison>>;
  accepted: { d: Difference; entry: Entry }[];
  unexplained: Difference[];
  /** Objects the API server refused (so istiod never saw them), with its reason. */
  refused?: Refused[];
  /** Istio objects the API server stored but istiod's config store does not have (`Kind/ns/name`). */
  notInIstiod?: string[];
  /** Resource counts per type: [istiod, mini-pilot]. */
  counts: Partial<Record<ResourceType, [number, number]>>;
  seconds: number;
}

export interface FidelityRun {
  istioVersion: string;
  cases: CaseResult[];
  /** Entries (normalize and accepted) that matched nothing; only meaningful for a full run. */
  stale: { section: "normalize" | "accepted"; entry: Entry }[];
  accepted: AcceptedFile;
  full: boolean;
  seconds: number;
}

export function goldenCaseNames(): string[] {
  return fs
    .readdirSync(GOLDEN_DIR, { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(GOLDEN_DIR, e.name, "proxy.yaml")))
    .map((e) => e.name)
    .sort();
}

type Obj = Record<string, any>;

const ISTIO_KINDS = new Set(["VirtualService", "DestinationRule", "Gateway", "ServiceEntry", "Sidecar", "PeerAuthentication", "AuthorizationPolicy"]);

/** What istiod must show before the case's config is complete: registry hosts and config keys. */
function expectations(objects: Obj[]): { hosts: string[]; configs: string[] } {
  const hosts: string[] = [];
  const configs: string[] = [];
  for (const o of objects) {
    const ns = String(o.metadata?.namespace ?? "default");
    if (o.kind === "Service") hosts.push(`${o.metadata.name}.${ns}.svc.cluster.local`);
    if (ISTIO_KINDS.has(o.kind)) configs.push(`${o.kind}/${ns}/${o.metadata.name}`);
  }
  return { hosts, configs };
}

/** EndpointSlice addresses whose targetRef is a Pod of the case (istiod waits for that Pod before it sends them). */
function podBackedAddresses(objects: Obj[]): string[] {
  const pods = new Set(objects.filter((o) => o.kind === "Pod").map((o) => `${String(o.metadata?.namespace ?? "default")}/${String(o.metadata?.name)}`));
  const out: string[] = [];
  for (const o of objects) {
    if (o.kind !== "EndpointSlice") continue;
    const ns = String(o.metadata?.namespace ?? "default");
    for (const e of (o.endpoints ?? []) as { addresses?: string[]; targetRef?: { kind?: string; name?: string; namespace?: string } }[]) {
      const ref = e.targetRef;
      if (ref?.kind === "Pod" && pods.has(`${ref.namespace ?? ns}/${ref.name}`)) out.push(...(e.addresses ?? []));
    }
  }
  return out;
}

/** The case's mesh config for istiod: mesh-config.yaml plus proxy.yaml's `mesh` options that MeshConfig has. */
function istiodMeshConfig(caseDir: string, spec: ProxySpec): Obj {
  const file = path.join(caseDir, "mesh-config.yaml");
  const mesh: Obj = fs.existsSync(file) ? ((parse(fs.readFileSync(file, "utf8")) as Obj | null) ?? {}) : {};
  const m = spec.mesh ?? {};
  if (m.outboundTrafficPolicy) mesh.outboundTrafficPolicy = { mode: m.outboundTrafficPolicy };
  if (m.rootNamespace) mesh.rootNamespace = m.rootNamespace;
  if (m.trustDomain) mesh.trustDomain = m.trustDomain;
  if (m.enableAutoMtls !== undefined) mesh.enableAutoMtls = m.enableAutoMtls;
  if (m.connectTimeoutMs !== undefined) mesh.connectTimeout = `${m.connectTimeoutMs / 1000}s`;
  return mesh;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
// istiod sends a type's resources in no fixed order: compare them by name.
const configJson = (c: XdsConfig): string => JSON.stringify(TYPES.map((t) => [...c[t].entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));

/**
 * istiod's config for the node, once two fetches half a second apart agree (its debounced pushes have settled).
 * A proxyless gRPC client (`grpcNames`: the names it dials) asks for exactly those listeners and what they lead to.
 */
async function stableFetch(istiod: Istiod, nodeId: string, metadata: Obj, grpcNames?: string[]): Promise<XdsConfig> {
  const cluster = agentServiceCluster(metadata);
  const fetch = () =>
    grpcNames ? fetchGrpcXds(istiod.xdsAddress, nodeId, metadata, cluster, grpcNames) : fetchXds(istiod.xdsAddress, nodeId, metadata, cluster);
  let prev = await fetch();
  let last: string[] = [];
  for (let i = 0; i < 20; i++) {
    await sleep(500);
    const next = await fetch();
    if (configJson(next) === configJson(prev)) return next;
    last = TYPES.flatMap((t) => compareResources(t, prev[t], next[t]).differences)
      .slice(0, 5)
      .map((d) => `${d.type} ${d.resource} ${d.path}: ${JSON.stringify(d.istiod)?.slice(0, 200)} -> ${JSON.stringify(d.miniPilot)?.slice(0, 200)}`);
    prev = next;
  }
  throw new Error(`istiod's config for ${nodeId} kept changing for 10 s; last changes:\n  ${last.join("\n  ")}`);
}

interface Env {
  kube: KubeCluster;
  istiod: Istiod;
}

/** What istiod gave a case's proxy, with what it never saw; saved by --save, replayed by --replay. */
export interface IstiodCapture {
  name: string;
  nodeId: string;
  metadata: Obj;
  config: Record<ResourceType, [string, Json][]>;
  refused: Refused[];
  notInIstiod: string[];
  /** A proxyless gRPC client: the listener names it asked for (what it dials), instead of a wildcard. */
  grpcListenerNames?: string[];
}

/**
 * What a case's proxyless gRPC client dials: every API listener name mini-pilot makes for it (each service's
 * host, short names and ports). Asking istiod for the same names compares both generators on one request;
 * a name istiod does not serve shows as a listener only mini-pilot has.
 */
function grpcDialNames(dir: string, spec: ProxySpec, metadata: Obj): string[] | undefined {
  if (metadata.GENERATOR !== "grpc") return undefined;
  return [...miniPilotConfig(dir, spec, metadata).listeners.keys()].sort();
}

/** The proxy of a case as the agent presents it (node id and metadata), and the case's istiod mesh config. */
function caseProxy(name: string): { dir: string; spec: ProxySpec; objects: Obj[]; metadata: Obj; mesh: Obj } {
  const dir = path.join(GOLDEN_DIR, name);
  const spec = readProxySpec(dir);
  const objects = manifestObjects(caseManifests(dir));
  const [, , podPart = ""] = spec.id.split("~");
  const pod = objects.find((o) => o.kind === "Pod" && `${o.metadata.name}.${o.metadata.namespace ?? "default"}` === podPart);
  const mesh = istiodMeshConfig(dir, spec);
  const metadata = agentMetadata(
    spec,
    { serviceAccount: pod?.spec?.serviceAccountName, nodeName: pod?.spec?.nodeName },
    mesh.defaultConfig ? (mesh.defaultConfig as Obj) : undefined,
  );
  return { dir, spec, objects, metadata, mesh };
}

/** Apply the case, fetch istiod's config for its proxy, delete the case again. */
async function captureIstiod(env: Env, name: string): Promise<IstiodCapture> {
  const { dir, spec, objects, metadata, mesh } = caseProxy(name);
  const grpcNames = grpcDialNames(dir, spec, metadata);
  await setMeshConfig(env.kube, env.istiod.httpAddress, mesh, name);
  const applied: Applied[] = [];
  const want = expectations(objects);
  try {
    const refused = await applyObjects(env.kube, objects, applied);
    const refusedKeys = new Set(refused.map((r) => `${r.kind}/${r.namespace ?? ""}/${r.name}`));
    want.configs = want.configs.filter((c) => !refusedKeys.has(c));
    want.hosts = want.hosts.filter((h) => !refused.some((r) => r.kind === "Service" && h === `${r.name}.${r.namespace}.svc.cluster.local`));
    await until(`${name}'s Services`, async () => {
      const hosts = await registryHosts(env.istiod.httpAddress);
      return want.hosts.every((h) => hosts.has(h));
    });
    // istiod drops Istio objects it cannot read (e.g. a spec that does not convert); give the rest 5 s to arrive.
    let configs = new Set<string>();
    await until(
      `${name}'s Istio config`,
      async () => (configs = await configKeys(env.istiod.httpAddress)) && want.configs.every((c) => configs.has(c)),
      5_000,
    ).catch(() => undefined);
    // istiod holds back an EndpointSlice address whose Pod it has not seen yet; two equal fetches do not show that it is
    // still waiting, so first wait (5 s at most: istiod may also drop an address on purpose) until every address backed
    // by one of the case's Pods is in its endpoint shards.
    const podAddresses = podBackedAddresses(objects);
    await until(
      `${name}'s Pod-backed endpoints`,
      async () => {
        const shards = await endpointShardsText(env.istiod.httpAddress);
        return podAddresses.every((a) => shards.includes(JSON.stringify(a)));
      },
      5_000,
    ).catch(() => undefined);
    const config = await stableFetch(env.istiod, spec.id, metadata, grpcNames);
    return {
      name,
      nodeId: spec.id,
      metadata,
      config: Object.fromEntries(TYPES.map((t) => [t, [...config[t].entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))])) as IstiodCapture["config"],
      refused,
      notInIstiod: want.configs.filter((c) => !configs.has(c)),
      ...(grpcNames ? { grpcListenerNames: grpcNames } : {}),
    };
  } finally {
    await deleteApplied(env.kube, applied);
    await until(`${name}'s objects gone`, async () => {
      const hosts = await registryHosts(env.istiod.httpAddress);
      const configs = await configKeys(env.istiod.httpAddress);
      return want.hosts.every((h) => !hosts.has(h)) && want.configs.every((c) => !configs.has(c));
    });
  }
}

/** Compare istiod's captured config with mini-pilot's for the same proxy, sorting each difference into accepted or unexplained. */
function compareCase(capture: IstiodCapture, accepted: AcceptedFile, used: Set<Entry>): CaseResult {
  const { name } = capture;
  const { dir, spec } = caseProxy(name);
  const result: CaseResult = {
    name,
    byType: {},
    accepted: [],
    unexplained: [],
    counts: {},
    seconds: 0,
    refused: capture.refused,
    notInIstiod: capture.notInIstiod,
  };
  const all = miniPilotConfig(dir, spec, capture.metadata);
  // A gRPC client sees only what it asks for: narrow mini-pilot's answer the same way.
  const mine = capture.grpcListenerNames ? grpcClientView(all, capture.grpcListenerNames) : all;
  const skip = (type: string, resource: string, p: string): boolean => {
    const e = accepted.normalize.find((n) => entryMatches(n, name, type, resource, p));
    if (e) used.add(e);
    return e !== undefined;
  };
  for (const t of TYPES) {
    const theirs = new Map(capture.config[t]);
    const c = compareResources(t, theirs, mine[t], skip);
    result.byType[t] = c;
    result.counts[t] = [theirs.size, mine[t].size];
    for (const d of c.differences) {
      const e = acceptedEntry(accepted, name, d);
      if (e) {
        used.add(e);
        result.accepted.push({ d, entry: e });
      } else result.unexplained.push(d);
    }
  }
  return result;
}

export interface RunOptions {
  /** Case names to run (default: every golden case not skipped). */
  cases?: string[];
  acceptedFile?: string;
  log?: (line: string) => void;
  /** Write each case's istiod capture to this directory (<case>.json). */
  saveDir?: string;
  /** Compare against captures saved earlier instead of running kube-apiserver and istiod (fast re-check after a translation change). */
  replayDir?: string;
}

export async function runFidelity(opts: RunOptions = {}): Promise<FidelityRun> {
  const start = Date.now();
  const log = opts.log ?? (() => undefined);
  const accepted = loadAccepted(opts.acceptedFile ?? ACCEPTED_FILE);
  const all = goldenCaseNames();
  const names = opts.cases ?? all;
  for (const n of names) if (!all.includes(n)) throw new Error(`no golden case ${n} (test/golden/${n}/proxy.yaml)`);
  const full = opts.cases === undefined;

  const cases: CaseResult[] = [];
  const used = new Set<Entry>();
  const record = (name: string, capture: () => Promise<IstiodCapture>) => async (): Promise<void> => {
    const t0 = Date.now();
    try {
      const cap = await capture();
      if (opts.saveDir) fs.writeFileSync(path.join(opts.saveDir, `${name}.json`), JSON.stringify(cap, null, 1));
      const r = compareCase(cap, accepted, used);
      r.seconds = (Date.now() - t0) / 1000;
      cases.push(r);
      const a = TYPES.reduce((n, t) => n + (r.byType[t]?.aspects ?? 0), 0);
      const i = TYPES.reduce((n, t) => n + (r.byType[t]?.identical ?? 0), 0);
      log(`${name}: ${i}/${a} aspects identical, ${r.accepted.length} accepted, ${r.unexplained.length} unexplained differences (${r.seconds.toFixed(1)} s)`);
    } catch (e) {
      cases.push({ name, error: (e as Error).message, byType: {}, accepted: [], unexplained: [], counts: {}, seconds: 0 });
      log(`${name}: ERROR ${(e as Error).message}`);
    }
  };
  const skipped = (name: string): boolean => {
    if (!SKIPPED_CASES[name]) return false;
    cases.push({ name, skipped: SKIPPED_CASES[name], byType: {}, accepted: [], unexplained: [], counts: {}, seconds: 0 });
    return true;
  };
  if (opts.saveDir) fs.mkdirSync(opts.saveDir, { recursive: true });

  if (opts.replayDir) {
    const dir = opts.replayDir;
    for (const name of names) {
      if (!skipped(name))
        await record(name, async () => redecodeKnownAnys(JSON.parse(fs.readFileSync(path.join(dir, `${name}.json`), "utf8")) as IstiodCapture))();
    }
  } else {
    const kube = await startKube();
    let istiod: Istiod | undefined;
    try {
      // Istio kinds istiod reads that the test API server's own CRD file lacks (Sidecar).
      await installIstioCrds(kube, { file: path.join(__dirname, "..", "..", "..", "test", "fidelity", "crds", "extra-istio-crds.yaml") });
      const ns = await kubeRequest(kube, "POST", "/api/v1/namespaces", { metadata: { name: "istio-system" } });
      if (ns.status !== 201 && ns.status !== 409) throw new Error(`creating istio-system: HTTP ${ns.status} ${ns.body}`);
      // Short debounce: only how soon istiod recomputes after a change, never what it computes.
      istiod = await startIstiod(kube.kubeconfigPath, { PILOT_DEBOUNCE_AFTER: "10ms", PILOT_DEBOUNCE_MAX: "100ms" });
      log(`istiod ready: xDS ${istiod.xdsAddress}, http ${istiod.httpAddress} (log ${istiod.logPath})`);
      const env: Env = { kube, istiod };
      for (const name of names) if (!skipped(name)) await record(name, () => captureIstiod(env, name))();
    } finally {
      await istiod?.stop();
      await kube.stop();
    }
  }
  const stale = full
    ? [
        ...accepted.normalize.filter((e) => !used.has(e)).map((entry) => ({ section: "normalize" as const, entry })),
        ...accepted.accepted.filter((e) => !used.has(e)).map((entry) => ({ section: "accepted" as const, entry })),
      ]
    : [];
  return { istioVersion: istioModuleVersion(), cases, stale, accepted, full, seconds: (Date.now() - start) / 1000 };
}
