/**
 * `mini-pilot serve`: the control plane. Config comes from a folder of
 * Kubernetes/Istio YAML (`--config-dir`), a live cluster (`--kubeconfig` or
 * in-cluster), or hand-written Envoy resources served to every proxy
 * (`--resources`).
 */
import * as fs from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { CommandSpec, CliError, ParsedFlags, parseFlags, parseHostPort } from "./args";
import { MESH_FLAGS, followMeshConfig, meshConfigSource } from "./mesh-flags";
import { DEBUG_PORT_FLAGS, announceDebugPort, debugToken, followDebugToken } from "./debug-port";
import { LIMIT_FLAGS, serverLimits } from "./limit-flags";
import type { ServerLimits } from "../server/limits";
import { createLogger, LOG_LEVELS, Logger, parseLogLevel } from "../log";
import { XdsServer } from "../server/grpc-server";
import { SnapshotCache } from "../cache/snapshot-cache";
import { Snapshot, makeSnapshot, checkConsistency } from "../cache/snapshot";
import { loadResourcesFile } from "../sources/resources-file";
import { watchFile } from "../sources/watch-file";
import { DirSource } from "../sources/file/dir-source";
import { parseByteSize } from "../sources/file/byte-size";
import { startDebugServer } from "../debug/http";
import { Metrics } from "../debug/metrics";
import { envoyConfigDump } from "../debug/config-dump";
import { buildMeshView, type MeshView } from "../debug/mesh-view";
import { ConfigStore } from "../store";
import { PushPipeline } from "../push/pipeline";
import { Diagnostic, formatDiagnostic } from "../model/types";
import { parseIstioDuration } from "../model/validate";
import { unselectedRouterHint } from "../model/router-hint";
import { createKubeSource, loadKubeConfig } from "../sources/kube";
import { SECURITY_FLAGS, SecurityPlan, prepareSecurity } from "./serve-security";
import { WEBHOOK_FLAGS, WebhookPlan, prepareWebhook } from "./serve-webhook";

export const summary = "run the xDS server (ADS SotW + delta, per-type services) and the debug HTTP port";

export const spec: CommandSpec = {
  name: "serve",
  usage: "(--config-dir DIR... | --kubeconfig PATH | --in-cluster | --resources FILE) [flags]",
  description: [
    "Serves Envoy v3 config over gRPC: ADS (state of the world and delta), the LDS/RDS/CDS/EDS services and CSDS",
    "(client status, for tooling; see docs/OPERATIONS.md).",
    "",
    "Config sources (pick one):",
    "  --config-dir DIR   Kubernetes and Istio YAML (Services, EndpointSlices, Pods, VirtualServices, ...),",
    "                     watched; each proxy gets what Istio would give it. Bad files are reported with",
    "                     file:line and their last good objects stay served.",
    "  --kubeconfig PATH  a live cluster (also KUBECONFIG, or --in-cluster credentials).",
    "  --resources FILE   hand-written Envoy resources (YAML/JSON grouped as listeners/routes/clusters/",
    "                     endpoints, proto3 JSON form), the same for every proxy; reloaded on change.",
    "",
    "HTTP port: / (the mesh page) /healthz /ready /metrics /debug/syncz /debug/configz /debug/config_dump?proxy=NODE_ID /debug/mesh.",
    "It listens on loopback by default; to reach it from elsewhere (a container), give --http-address",
    "0.0.0.0:15014 and guard /debug/* with --debug-token-file FILE.",
    "",
    "Both ports open at once; /ready answers 503 (and proxies wait) until the source was read and its",
    "first snapshot built. The server limits below (--max-*, --keepalive-*) bound what one client may cost.",
  ].join("\n"),
  flags: {
    "config-dir": { type: "string", multiple: true, arg: "DIR", help: "folder of Kubernetes/Istio YAML to serve" },
    kubeconfig: { type: "string", arg: "PATH", help: "watch the cluster this kubeconfig points at" },
    "in-cluster": { type: "boolean", help: "watch the cluster this pod runs in (service account credentials; used when no kubeconfig is found)" },
    namespace: { type: "string", arg: "NS", help: "only watch this namespace (Kubernetes source)" },
    resources: { type: "string", arg: "FILE", help: "serve these Envoy resources to every proxy" },
    "xds-address": { type: "string", arg: "HOST:PORT", default: "0.0.0.0:15010", help: "gRPC xDS listen address" },
    "http-address": { type: "string", arg: "HOST:PORT", default: "127.0.0.1:15014", help: "debug/metrics HTTP address" },
    "debounce-after": { type: "string", arg: "DURATION", default: "100ms", help: "quiet time before a config push" },
    "debounce-max": { type: "string", arg: "DURATION", default: "10s", help: "longest a push waits during constant change" },
    ...MESH_FLAGS,
    ...SECURITY_FLAGS,
    ...WEBHOOK_FLAGS,
    ...DEBUG_PORT_FLAGS,
    "log-level": { type: "string", arg: "LEVEL", default: "info", help: LOG_LEVELS.join(", ") },
    "max-file-size": { type: "string", arg: "SIZE", default: "16Mi", help: "--config-dir: a bigger file is refused (its last good objects stay)" },
    "max-objects-per-file": { type: "string", arg: "N", default: "50000", help: "--config-dir: objects one file may hold" },
    ...LIMIT_FLAGS,
  },
};

interface Endpoints {
  xds: { host: string; port: number };
  web: { host: string; port: number };
  /** Bearer token for /debug/* (never logged). */
  debug: { token?: string; file?: string };
  log: Logger;
  metrics: Metrics;
  /** The CA and the secure xDS port; undefined with --secure-xds-address off. */
  security?: SecurityPlan;
  /** The sidecar injection webhook; undefined unless --inject-webhook-address. */
  webhook?: WebhookPlan;
  /** What one client may cost (--max-xds-message-size, --max-connections, ...). */
  limits: ServerLimits;
}

/** What the running config side offers the debug port. */
interface ConfigSide {
  cache: SnapshotCache;
  ready(): { ready: boolean; reason?: string };
  configDump(proxy: string): unknown;
  configz(): unknown;
  /** What the mesh page draws (none for a --resources file). */
  mesh?(): MeshView;
  stop(): void | Promise<void>;
  /**
   * Settles once the source was read for the first time and its snapshot built;
   * rejects if the source cannot start (serve then exits). The ports are open
   * before this: /healthz answers at once, /ready says 503 until then.
   */
  loaded: Promise<void>;
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags(spec, argv);
  if (!parsed) return 0;
  const f = parsed.flags;
  if (parsed.positionals.length) throw new CliError(`unexpected argument "${parsed.positionals[0]}"`);
  const endpoints: Endpoints = {
    xds: parseHostPort(String(f["xds-address"]), "xds-address"),
    web: parseHostPort(String(f["http-address"]), "http-address"),
    debug: debugToken(f),
    log: createLogger(parseLogLevel(String(f["log-level"]))),
    metrics: new Metrics(),
    limits: serverLimits(f),
  };
  const dirs = (f["config-dir"] as string[] | undefined) ?? [];
  const kube = Boolean(f.kubeconfig || f["in-cluster"]);
  const chosen = [dirs.length > 0, kube, Boolean(f.resources)].filter(Boolean).length;
  if (chosen === 0) throw new CliError("give a config source: --config-dir DIR, --kubeconfig PATH, --in-cluster or --resources FILE (see --help)");
  if (chosen > 1) throw new CliError("give only one config source: --config-dir, --kubeconfig/--in-cluster or --resources");
  const kubeConfig = kube ? kubeConfigFor(f) : undefined;
  const security = await prepareSecurity(f, { log: endpoints.log, xds: endpoints.xds, ...(kubeConfig ? { kube: kubeConfig } : {}), durationMs });
  if (security) endpoints.security = security;
  const webhook = prepareWebhook(f, { log: endpoints.log, ...(security ? { security } : {}), ...(kubeConfig ? { kube: kubeConfig } : {}) });
  if (webhook) endpoints.webhook = webhook;
  const side = f.resources ? resourcesSide(String(f.resources), endpoints.log) : await meshSide(f, dirs, endpoints);
  return serveUntilSignal(side, endpoints);
}

/** The cluster's client config, for TokenReview and the root ConfigMaps (the config source loads its own). */
function kubeConfigFor(f: ParsedFlags) {
  try {
    return loadKubeConfig({ ...(f.kubeconfig ? { explicit: String(f.kubeconfig) } : {}) }).kc;
  } catch (e) {
    throw new CliError((e as Error).message);
  }
}

function durationMs(value: string, flag: string): number {
  const d = parseIstioDuration(value);
  if (!d.ok || d.ms < 0) throw new CliError(`--${flag} wants a duration like 100ms or 2s, got "${value}"`);
  return d.ms;
}

async function meshSide(f: ParsedFlags, dirs: string[], { log, metrics }: Endpoints): Promise<ConfigSide> {
  const meshConfig = meshConfigSource(f, log);
  const store = new ConfigStore();
  const sourceDiagnostics = new Map<string, Diagnostic[]>();
  const reportDiagnostics = (where: string, ds: Diagnostic[]) => {
    const before = new Set((sourceDiagnostics.get(where) ?? []).map(formatDiagnostic));
    sourceDiagnostics.set(where, ds);
    for (const d of ds) if (!before.has(formatDiagnostic(d))) (d.severity === "error" ? log.error.bind(log) : log.warn.bind(log))({}, formatDiagnostic(d));
  };
  // Set once the diagnostics are reachable (below): the gauge follows every push, not only /debug/configz reads.
  let countDiagnostics = () => undefined as void;
  const pipeline = new PushPipeline(store, {
    debounceAfterMs: durationMs(String(f["debounce-after"]), "debounce-after"),
    debounceMaxMs: durationMs(String(f["debounce-max"]), "debounce-max"),
    mesh: meshConfig.options(),
    log,
    holdUntilPrimed: true,
    releaseMemoryAfterDrops: true,
    // A router that no Gateway selects gets nothing and Envoy says nothing: log a hint, once per label set
    // (naming the first proxy seen with it; a Deployment's replicas share their labels).
    onProxy: (proxy, mesh) => {
      if (proxy.kind !== "router") return;
      const where = `router ${JSON.stringify(Object.entries(proxy.labels).sort())}`;
      if (!sourceDiagnostics.has(where)) reportDiagnostics(where, unselectedRouterHint(mesh, proxy));
    },
    onPush: (p) => {
      metrics.pushes.inc({ kind: p.full ? "full" : "eds" });
      metrics.pushSeconds.observe(p.ms / 1000);
      metrics.encodes.inc(p.encodes);
      metrics.istio.onPush(p);
      countDiagnostics();
    },
  });
  let sourceReady = () => ({ ready: true }) as { ready: boolean; reason?: string };
  let stopSource: () => void | Promise<void> = () => undefined;
  let firstRead: Promise<void>;
  if (dirs.length > 0) {
    const maxFileBytes = parseByteSize(String(f["max-file-size"]));
    if (maxFileBytes === undefined) throw new CliError(`--max-file-size wants a size like 16Mi or 50M, got "${String(f["max-file-size"])}"`);
    const maxObjects = Number(f["max-objects-per-file"]);
    if (!/^\d+$/.test(String(f["max-objects-per-file"])) || maxObjects < 1)
      throw new CliError(`--max-objects-per-file wants a positive integer, got "${String(f["max-objects-per-file"])}"`);
    const source = new DirSource({ dirs, store, onDiagnostics: reportDiagnostics, limits: { maxFileBytes, maxObjects } });
    try {
      firstRead = source.start(); // a missing folder throws here, before any port is opened
    } catch (e) {
      throw new CliError((e as Error).message);
    }
    stopSource = () => source.stop();
    firstRead = firstRead.then(() => log.info({ dirs, objects: store.size }, "config folder loaded"));
  } else {
    let kube: KubeSourceHandle | undefined;
    firstRead = startKubeSource(f, store, log, reportDiagnostics).then((k) => void (kube = k));
    sourceReady = () => kube?.ready() ?? { ready: false, reason: "connecting to the cluster" };
    stopSource = () => kube?.stop();
  }
  // The source may fail while the mesh config is being read (below); `loaded` reports it, so it must not count as unhandled meanwhile.
  firstRead.catch(() => undefined);
  const stopMeshConfig = await followMeshConfig(meshConfig, pipeline, { log, ...(dirs.length === 0 ? { kube: kubeconfigOf(f) } : {}) });
  const unwatchMetrics = metrics.istio.watchStore(store);
  const loaded = firstRead.then(() => pipeline.prime());
  // serve handles a failed start once its ports are up; until then, do not let it count as unhandled.
  loaded.catch(() => undefined);
  const ready = () => {
    if (!pipeline.hasPushed) return { ready: false, reason: dirs.length > 0 ? "reading the config folder" : "listing the cluster" };
    return sourceReady();
  };
  const allDiagnostics = () => [...[...sourceDiagnostics.values()].flat(), ...pipeline.diagnostics()];
  countDiagnostics = () => {
    const ds = allDiagnostics();
    metrics.diagnostics.set({ severity: "error" }, ds.filter((d) => d.severity === "error").length);
    metrics.diagnostics.set({ severity: "warning" }, ds.filter((d) => d.severity === "warning").length);
  };
  countDiagnostics();
  return {
    cache: pipeline.cache,
    ready,
    configDump: (proxy) => dumpSnapshot(pipeline.snapshotForNode(proxy)),
    mesh: () => buildMeshView(pipeline.currentMesh()),
    configz: () => {
      countDiagnostics();
      const ds = allDiagnostics();
      return {
        objects: store.size,
        groups: pipeline.groupCount(),
        pushes: pipeline.pushes,
        diagnostics: ds.map(formatDiagnostic),
        meshConfigErrors: meshConfig.errors(),
      };
    },
    stop: async () => {
      await stopMeshConfig();
      await stopSource();
      unwatchMetrics();
      pipeline.stop();
    },
    loaded,
  };
}

function kubeconfigOf(f: ParsedFlags): { kubeconfig?: string } {
  return f.kubeconfig ? { kubeconfig: String(f.kubeconfig) } : {};
}

interface KubeSourceHandle {
  ready(): { ready: boolean; reason?: string };
  stop(): void | Promise<void>;
}

async function startKubeSource(f: ParsedFlags, store: ConfigStore, log: Logger, report: (where: string, ds: Diagnostic[]) => void): Promise<KubeSourceHandle> {
  const kubeconfig = f.kubeconfig as string | undefined;
  if (kubeconfig && !fs.existsSync(kubeconfig)) throw new CliError(`--kubeconfig: no such file "${kubeconfig}"`);
  const source = createKubeSource({
    kubeconfig,
    namespace: f.namespace as string | undefined,
    store,
    log,
    onDiagnostics: (ds: Diagnostic[]) => report("kubernetes", ds),
  });
  try {
    await source.start();
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  return source;
}

function resourcesSide(file: string, log: Logger): ConfigSide {
  if (!fs.existsSync(file)) throw new CliError(`--resources: no such file "${file}"`);
  const group = "all";
  const cache = new SnapshotCache(() => ({ ok: true, group }));
  let errors: string[] = [];
  const reload = (): boolean => {
    const result = loadResourcesFile(file);
    if (!result.ok) {
      errors = result.errors;
      for (const e of result.errors) log.error({ file }, e);
      log.warn({ file }, "resources refused; still serving the previous ones");
      return false;
    }
    errors = [];
    const snapshot = makeSnapshot(result.resources);
    for (const problem of checkConsistency(snapshot)) log.warn({ file }, problem);
    cache.set(group, snapshot);
    log.info({ file, version: snapshot.version, resources: result.resources.length }, "resources loaded");
    return true;
  };
  if (!reload()) throw new CliError(`--resources: ${file} was refused (errors above)`);
  const stop = watchFile(file, () => void reload());
  return {
    cache,
    ready: () => ({ ready: true }),
    configDump: () => dumpSnapshot(cache.get(group)),
    configz: () => ({ file, errors }),
    stop,
    loaded: Promise.resolve(),
  };
}

/** What a proxy is (or would be) sent, in Envoy's admin ConfigDump shape, secrets redacted. */
function dumpSnapshot(s: Snapshot | undefined): unknown {
  return s ? envoyConfigDump(s) : undefined;
}

/** "listen EADDRINUSE: address already in use 127.0.0.1:15010" (or grpc-js's wrapping of it) -> "address already in use". */
export function bindFailure(e: Error): string {
  const code = /\b(EADDRINUSE|EADDRNOTAVAIL|EACCES|EPERM|ENOTFOUND|EAI_AGAIN|EINVAL)\b/.exec(e.message)?.[1];
  const reasons: Record<string, string> = {
    EADDRINUSE: "the address is already in use (another process listens there)",
    EADDRNOTAVAIL: "no interface of this machine has that address",
    EACCES: "permission denied (ports below 1024 need privileges)",
    EPERM: "permission denied",
    ENOTFOUND: "the host name does not resolve",
    EAI_AGAIN: "the host name does not resolve (DNS lookup failed)",
    EINVAL: "the address is not valid here",
  };
  return code ? `${reasons[code]} (${code})` : e.message.split("\n")[0]!;
}

/**
 * Bind the xDS port. grpc-js also prints its own multi-line error for a failed
 * bind; the one line serve prints says it better, so grpc-js is quiet meanwhile.
 */
async function listenXds(server: XdsServer, address: string): Promise<number> {
  // Someone who set GRPC_VERBOSITY wants grpc-js's own lines; leave them alone.
  if (process.env.GRPC_VERBOSITY) return server.listen(address);
  grpc.setLogVerbosity(grpc.logVerbosity.NONE);
  try {
    return await server.listen(address);
  } finally {
    grpc.setLogVerbosity(grpc.logVerbosity.ERROR); // grpc-js's default
  }
}

/**
 * Start the gRPC and HTTP servers; on SIGTERM/SIGINT stop accepting, close
 * streams, exit 0. A port that cannot be bound stops everything and ends
 * serve with one line (exit 2): a control plane bound to nothing must not
 * look alive.
 */
async function serveUntilSignal(side: ConfigSide, { xds, web, debug: token, log, metrics, security, webhook, limits }: Endpoints): Promise<number> {
  const server = new XdsServer(side.cache, {
    log,
    limits,
    unary: security?.unary ?? [],
    onStreamOpen: () => metrics.streams.inc(),
    onStreamClose: () => metrics.streams.dec(),
    observer: metrics.istio,
  });
  const failed = async (flag: string, address: { host: string; port: number }, e: Error): Promise<never> => {
    server.forceShutdown();
    await side.stop();
    await security?.stop();
    await webhook?.stop();
    throw new CliError(`cannot listen on --${flag} ${address.host}:${address.port}: ${bindFailure(e)}`);
  };
  const port = await listenXds(server, `${xds.host}:${xds.port}`).catch((e: Error) => failed("xds-address", xds, e));
  const securePort = security ? await security.listen(server).catch((e: Error) => failed("secure-xds-address", security.address, e)) : undefined;
  const webhookPort = webhook ? await webhook.listen().catch((e: Error) => failed("inject-webhook-address", webhook.address, e)) : undefined;
  // The token file is re-read when it changes: a rotated token works at once, the old one no longer.
  const rotating = followDebugToken(token, log);
  const debug = await startDebugServer(
    web.host,
    web.port,
    {
      ready: side.ready,
      syncz: () => server.syncz(),
      configz: side.configz,
      configDump: side.configDump,
      metrics: () => metrics.render(),
      ...(side.mesh ? { mesh: side.mesh } : {}),
    },
    token.token !== undefined ? { token: rotating.current } : {},
  ).catch((e: Error) => failed("http-address", web, e));
  announceDebugPort(log, `${web.host}:${debug.port}`, web.host, token);
  log.info(
    {
      xds: `${xds.host}:${port}`,
      ...(security ? { secureXds: `${security.address.host}:${securePort}` } : {}),
      ...(webhook ? { injectWebhook: `${webhook.address.host}:${webhookPort}` } : {}),
      http: `${web.host}:${debug.port}`,
    },
    "mini-pilot serving",
  );
  return new Promise((resolve, reject) => {
    // The source is read after the ports open; one that cannot start ends serve with its one line.
    side.loaded.catch(async (e: Error) => {
      rotating.stop();
      server.forceShutdown();
      await debug.close();
      await side.stop();
      await security?.stop();
      await webhook?.stop();
      reject(e instanceof CliError ? e : new CliError(e.message));
    });
    const stop = (signal: string) => {
      log.info({ signal }, "shutting down");
      rotating.stop();
      void Promise.resolve(side.stop())
        .then(() => security?.stop())
        .then(() => webhook?.stop())
        .then(() => Promise.all([server.shutdown(3000), debug.close()]))
        .then(() => {
          resolve(0);
          // A peer that vanished without closing its connection can hold the event
          // loop open; everything is shut down by now, so do not wait for it.
          setTimeout(() => process.exit(0), 1000).unref();
        });
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
}
