/**
 * Where the cluster credentials come from, in kubectl's order: an explicit
 * path (`--kubeconfig`), then $KUBECONFIG (colon-separated, merged; the first
 * file's current-context wins), then in-cluster service-account credentials,
 * then ~/.kube/config. Every failure is one line naming the file and what to
 * check, because this is what a user sees when `serve` refuses to start.
 *
 * The library's own loadFromDefault falls back to http://localhost:8080 when
 * it finds nothing, which turns "no config" into a confusing connection
 * error; this module reports it instead.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";
import { KubeConfig } from "@kubernetes/client-node";

export class KubeConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KubeConfigError";
  }
}

export interface LoadedKubeConfig {
  kc: KubeConfig;
  /** API server URL without a trailing slash. */
  server: string;
  /** kubeconfig user name, for messages. */
  user: string;
  /** "kubeconfig /path", "KUBECONFIG a:b", or "in-cluster service account". */
  from: string;
}

export interface KubeConfigLookup {
  explicit?: string;
  env?: NodeJS.ProcessEnv;
  home?: string;
  /** Prefix of the in-cluster service-account directory (tests); default "" (the real one). */
  inClusterRoot?: string;
}

const SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

function firstLine(s: string): string {
  return (s.split("\n")[0] ?? "").trim();
}

function readConfigFile(file: string, hint: string): KubeConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new KubeConfigError(`kubeconfig ${file} is unreadable: ${firstLine((e as Error).message)} (${hint})`);
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (e) {
    throw new KubeConfigError(`kubeconfig ${file} is not valid YAML: ${firstLine((e as Error).message)} (${hint})`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new KubeConfigError(`kubeconfig ${file} is not a kubeconfig (expected a map with clusters, users, contexts) (${hint})`);
  }
  const kc = new KubeConfig();
  try {
    kc.loadFromString(text);
  } catch (e) {
    throw new KubeConfigError(`kubeconfig ${file} is invalid: ${firstLine((e as Error).message)} (${hint})`);
  }
  kc.makePathsAbsolute(path.dirname(file));
  return kc;
}

function checkReadable(file: string | undefined, what: string, from: string): void {
  if (!file) return;
  try {
    fs.accessSync(file, fs.constants.R_OK);
  } catch (e) {
    throw new KubeConfigError(`${from}: ${what} ${file} is unreadable: ${firstLine((e as Error).message)}`);
  }
}

/** Check that the current context names a cluster with a usable server and a user, and their files exist. */
function describe(kc: KubeConfig, from: string): LoadedKubeConfig {
  const ctxName = kc.getCurrentContext();
  if (!ctxName) throw new KubeConfigError(`${from}: no current-context set (set one with kubectl config use-context)`);
  const ctx = kc.getContextObject(ctxName);
  if (!ctx) throw new KubeConfigError(`${from}: current-context "${ctxName}" is not defined under contexts`);
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new KubeConfigError(`${from}: context "${ctxName}" names cluster "${ctx.cluster}", which is not defined under clusters`);
  let url: URL;
  try {
    url = new URL(cluster.server);
  } catch {
    throw new KubeConfigError(`${from}: cluster "${cluster.name}" has an invalid server URL "${cluster.server}"`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new KubeConfigError(`${from}: cluster "${cluster.name}" server "${cluster.server}" is not an http(s) URL`);
  }
  const user = kc.getCurrentUser();
  if (ctx.user && !user) throw new KubeConfigError(`${from}: context "${ctxName}" names user "${ctx.user}", which is not defined under users`);
  checkReadable(cluster.caFile, "certificate-authority", from);
  checkReadable(user?.certFile, "client-certificate", from);
  checkReadable(user?.keyFile, "client-key", from);
  return { kc, server: cluster.server.replace(/\/+$/, ""), user: user?.name ?? "(none)", from };
}

function inCluster(env: NodeJS.ProcessEnv, root: string): LoadedKubeConfig | undefined {
  if (!env.KUBERNETES_SERVICE_HOST || !env.KUBERNETES_SERVICE_PORT) return undefined;
  const saDir = root + SA_DIR;
  if (!fs.existsSync(path.join(saDir, "token"))) return undefined;
  // As the library's loadFromCluster, but reading `env` (not process.env) for the address.
  const host = env.KUBERNETES_SERVICE_HOST.includes(":") ? `[${env.KUBERNETES_SERVICE_HOST}]` : env.KUBERNETES_SERVICE_HOST;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "in-cluster", server: `https://${host}:${env.KUBERNETES_SERVICE_PORT}`, caFile: path.join(saDir, "ca.crt"), skipTLSVerify: false }],
    // The tokenFile provider rereads the projected token, which the kubelet rotates.
    users: [{ name: "in-cluster", authProvider: { name: "tokenFile", config: { tokenFile: path.join(saDir, "token") } } }],
    contexts: [{ name: "in-cluster", cluster: "in-cluster", user: "in-cluster" }],
    currentContext: "in-cluster",
  });
  const from = "in-cluster service account";
  checkReadable(path.join(saDir, "token"), "token", from);
  checkReadable(path.join(saDir, "ca.crt"), "ca.crt", from);
  return describe(kc, from);
}

/** Find and load the kubeconfig; throws KubeConfigError with a one-line reason. */
export function loadKubeConfig(lookup: KubeConfigLookup = {}): LoadedKubeConfig {
  const env = lookup.env ?? process.env;
  if (lookup.explicit) {
    const file = path.resolve(lookup.explicit);
    return describe(readConfigFile(file, "check --kubeconfig"), `kubeconfig ${file}`);
  }
  const list = (env.KUBECONFIG ?? "").split(path.delimiter).filter((f) => f !== "");
  if (list.length > 0) {
    // kubectl skips missing files in the list but fails when none exists.
    const present = list.filter((f) => fs.existsSync(f));
    if (present.length === 0) throw new KubeConfigError(`KUBECONFIG=${env.KUBECONFIG}: no such file (check the KUBECONFIG environment variable)`);
    const kc = readConfigFile(path.resolve(present[0] as string), "check KUBECONFIG");
    for (const f of present.slice(1)) {
      try {
        kc.mergeConfig(readConfigFile(path.resolve(f), "check KUBECONFIG"), true);
      } catch (e) {
        if (e instanceof KubeConfigError) throw e;
        throw new KubeConfigError(`KUBECONFIG=${env.KUBECONFIG}: cannot merge ${f}: ${firstLine((e as Error).message)}`);
      }
    }
    return describe(kc, present.length === 1 ? `kubeconfig ${path.resolve(present[0] as string)}` : `KUBECONFIG=${env.KUBECONFIG}`);
  }
  const cluster = inCluster(env, lookup.inClusterRoot ?? "");
  if (cluster) return cluster;
  const home = lookup.home ?? env.HOME ?? os.homedir();
  const dflt = path.join(home, ".kube", "config");
  if (fs.existsSync(dflt)) return describe(readConfigFile(dflt, "check ~/.kube/config"), `kubeconfig ${dflt}`);
  throw new KubeConfigError(`no Kubernetes credentials found: pass --kubeconfig PATH, set KUBECONFIG, run in a pod with a service account, or create ${dflt}`);
}
