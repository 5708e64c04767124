/**
 * `mini-pilot serve`: the control plane. Config comes from a resources file
 * (hand-written Envoy resources, the same for every proxy) or, when the
 * translation pipeline is present, from a folder of Kubernetes/Istio YAML or a
 * live cluster.
 */
import * as fs from "node:fs";
import { CommandSpec, CliError, parseFlags, parseHostPort } from "./args";
import { createLogger, Logger } from "../log";
import { XdsServer } from "../server/grpc-server";
import { SnapshotCache } from "../server/snapshot-source";
import { makeSnapshot, checkConsistency } from "../cache/snapshot";
import { loadResourcesText } from "../sources/resources-file";
import { watchFile } from "../sources/watch-file";
import { startDebugServer } from "../debug/http";
import { resourceToJson } from "../xds/resource";
import { SHORT_NAME } from "../xds/types";

export const summary = "run the xDS server (ADS SotW + delta, per-type services) and the debug HTTP port";

export const spec: CommandSpec = {
  name: "serve",
  usage: "(--resources FILE | --config-dir DIR... | --kubeconfig PATH) [flags]",
  description: [
    "Serves Envoy v3 config over gRPC: ADS (state of the world and delta) and the LDS/RDS/CDS/EDS services.",
    "--resources FILE serves hand-written Envoy resources (YAML/JSON grouped as listeners/routes/clusters/",
    "endpoints, proto3 JSON form) to every proxy and reloads the file when it changes; a file that does not",
    "parse or encode is refused with file:line and the previous resources stay served.",
  ].join("\n"),
  flags: {
    resources: { type: "string", arg: "FILE", help: "serve these Envoy resources to every proxy" },
    "xds-address": { type: "string", arg: "HOST:PORT", default: "0.0.0.0:15010", help: "gRPC xDS listen address" },
    "http-address": { type: "string", arg: "HOST:PORT", default: "127.0.0.1:15014", help: "debug/metrics HTTP address" },
    "log-level": { type: "string", arg: "LEVEL", default: "info", help: "trace, debug, info, warn, error" },
  },
};

export async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags(spec, argv);
  if (!parsed) return 0;
  const f = parsed.flags;
  const xds = parseHostPort(String(f["xds-address"]), "xds-address");
  const web = parseHostPort(String(f["http-address"]), "http-address");
  const resourcesFile = f.resources as string | undefined;
  if (!resourcesFile) throw new CliError("give --resources FILE (see --help)");
  if (!fs.existsSync(resourcesFile)) throw new CliError(`--resources: no such file "${resourcesFile}"`);
  const log = createLogger(String(f["log-level"]));
  const group = "all";
  const cache = new SnapshotCache(() => ({ ok: true, group }));
  const reload = (): boolean => {
    const result = loadResourcesText(fs.readFileSync(resourcesFile, "utf8"), resourcesFile);
    if (!result.ok) {
      for (const e of result.errors) log.error({ file: resourcesFile }, e);
      log.warn({ file: resourcesFile }, "resources refused; still serving the previous ones");
      return false;
    }
    const snapshot = makeSnapshot(result.resources);
    for (const problem of checkConsistency(snapshot)) log.warn({ file: resourcesFile }, problem);
    cache.set(group, snapshot);
    log.info({ file: resourcesFile, version: snapshot.version, resources: result.resources.length }, "resources loaded");
    return true;
  };
  if (!reload()) return 1;
  const stopWatching = watchFile(resourcesFile, () => void reload());
  return serveUntilSignal(cache, { xds, web, log }, () => stopWatching(), (proxy) => {
    const s = cache.get(group);
    if (!s) return undefined;
    void proxy;
    return Object.fromEntries(Object.entries(s.types).map(([t, ts]) => [SHORT_NAME[t as keyof typeof SHORT_NAME], [...ts.resources.values()].map(resourceToJson)]));
  });
}

interface Endpoints {
  xds: { host: string; port: number };
  web: { host: string; port: number };
  log: Logger;
}

/** Start the gRPC and HTTP servers; on SIGTERM/SIGINT stop accepting, close streams, exit 0. */
export async function serveUntilSignal(
  source: SnapshotCache,
  { xds, web, log }: Endpoints,
  onStop: () => void,
  configDump: (proxy: string) => unknown,
  ready: () => { ready: boolean; reason?: string } = () => ({ ready: true }),
): Promise<number> {
  const server = new XdsServer(source, { log });
  const port = await server.listen(`${xds.host}:${xds.port}`).catch((e: Error) => {
    throw new CliError(`cannot listen on --xds-address ${xds.host}:${xds.port}: ${e.message}`);
  });
  const debug = await startDebugServer(web.host, web.port, { ready, syncz: () => server.syncz(), configDump }).catch((e: Error) => {
    server.forceShutdown();
    throw new CliError(`cannot listen on --http-address ${web.host}:${web.port}: ${e.message}`);
  });
  log.info({ xds: `${xds.host}:${port}`, http: `${web.host}:${debug.port}` }, "mini-pilot serving");
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, "shutting down");
      onStop();
      void Promise.all([server.shutdown(3000), debug.close()]).then(() => resolve(0));
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
}
