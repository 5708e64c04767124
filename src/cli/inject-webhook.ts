/**
 * `mini-pilot inject-webhook`: the sidecar injection webhook on its own
 * (istiod serves it next to xDS; here it is a separate command until `serve`
 * grows it). The serving certificate comes from files for now and is
 * re-read when they change.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as path from "node:path";
import { CliError, CommandSpec, parseFlags, parseHostPort } from "./args";
import { INJECT_SETTINGS_FLAGS, INJECT_XDS_HELP, settingsFromFlags } from "./kube-inject";
import { startWebhook } from "../inject/webhook-server";
import { KubeCall, syncCaBundle } from "../inject/ca-bundle";
import type { KubeConfig } from "@kubernetes/client-node";
import { KubeConfigError, loadKubeConfig } from "../sources/kube";
import { createLogger, Logger } from "../log";

export const summary = "serve the sidecar injection mutating admission webhook over HTTPS (POST /inject)";

const spec: CommandSpec = {
  name: "inject-webhook",
  usage: "--tls-cert FILE --tls-key FILE [flags]",
  description: [
    "Answers the API server's AdmissionReviews for Pod CREATE with a JSONPatch that adds istio-init and istio-proxy.",
    "Which namespaces are sent here is the MutatingWebhookConfiguration's namespaceSelector (istio-injection=enabled),",
    "as with Istio. The certificate and key are re-read when either file changes. With --ca-bundle, the",
    "configuration's caBundle is set to that CA at start, on every certificate change and every --ca-bundle-resync.",
    ...INJECT_XDS_HELP,
  ].join("\n"),
  flags: {
    address: { type: "string", arg: "HOST:PORT", default: "127.0.0.1:15017", help: "where to listen (0.0.0.0:15017 in a cluster)" },
    "tls-cert": { type: "string", arg: "FILE", help: "serving certificate chain (PEM); its SANs must name the webhook's service or IP" },
    "tls-key": { type: "string", arg: "FILE", help: "its private key (PEM)" },
    "ca-bundle": { type: "string", arg: "FILE", help: "CA (PEM) that signed --tls-cert: written into the webhook configuration's caBundle and kept there" },
    "webhook-config": {
      type: "string",
      arg: "NAME",
      default: "mini-pilot-sidecar-injector",
      help: "MutatingWebhookConfiguration whose caBundle is kept (with --ca-bundle)",
    },
    "ca-bundle-resync": { type: "string", arg: "SECONDS", default: "30", help: "how often the caBundle is checked again (someone may reset it)" },
    kubeconfig: { type: "string", arg: "PATH", help: "credentials for the caBundle updates (default: KUBECONFIG, in-cluster, ~/.kube/config)" },
    ...INJECT_SETTINGS_FLAGS,
  },
};

function readPem(file: string, flag: string, marker: RegExp): string {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new CliError(`--${flag} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!marker.test(text)) throw new CliError(`--${flag} ${file}: no PEM ${flag === "tls-key" ? "private key" : "certificate"} in it`);
  return text;
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags(spec, argv);
  if (!parsed) return 0;
  const { flags, positionals } = parsed;
  if (positionals.length) throw new CliError(`unexpected argument "${positionals[0]}"`);
  const certFile = flags["tls-cert"];
  const keyFile = flags["tls-key"];
  if (typeof certFile !== "string" || typeof keyFile !== "string")
    throw new CliError("--tls-cert and --tls-key are required (the API server only calls webhooks over HTTPS)");
  const certRe = /-----BEGIN CERTIFICATE-----/;
  const keyRe = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;
  const tls = { cert: readPem(certFile, "tls-cert", certRe), key: readPem(keyFile, "tls-key", keyRe) };
  const settings = settingsFromFlags(flags);
  const { host, port } = parseHostPort(String(flags.address), "address");
  const log = createLogger();
  let server;
  try {
    server = await startWebhook({ host, port, ...tls, settings, log });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === "EADDRINUSE" || err.code === "EACCES" || err.code === "EADDRNOTAVAIL")
      throw new CliError(`--address ${String(flags.address)}: ${err.code}`);
    if (/key|cert|PEM|asn1/i.test(err.message)) throw new CliError(`--tls-cert/--tls-key: ${err.message}`);
    throw e;
  }
  process.stdout.write(`injection webhook listening on https://${host.includes(":") ? `[${server.address}]` : server.address}:${server.port}/inject\n`);

  // A rotated certificate (a Secret volume update) is picked up without a restart; a half-written pair is retried on the next change.
  let timer: NodeJS.Timeout | undefined;
  const reload = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      try {
        server.reload({ cert: readPem(certFile, "tls-cert", certRe), key: readPem(keyFile, "tls-key", keyRe) });
        log.info("injection webhook: serving certificate reloaded");
      } catch (e) {
        log.warn(`injection webhook: certificate not reloaded, keeping the current one: ${(e as Error).message}`);
      }
    }, 200);
  };
  // Watch the folders, not the files: a Secret volume swaps a symlink, which a watch on the old file never sees.
  const caFile = typeof flags["ca-bundle"] === "string" ? flags["ca-bundle"] : undefined;
  const syncCa = caFile ? caBundleKeeper(caFile, String(flags["webhook-config"]), flags.kubeconfig as string | undefined, log) : undefined;
  const resync = Number(flags["ca-bundle-resync"]);
  if (!(resync > 0)) throw new CliError(`--ca-bundle-resync wants seconds > 0, got "${String(flags["ca-bundle-resync"])}"`);
  await syncCa?.();
  const resyncTimer = syncCa ? setInterval(() => void syncCa(), resync * 1000) : undefined;
  const onChange = (): void => {
    reload();
    setTimeout(() => void syncCa?.(), 300);
  };
  const dirs = new Set([path.dirname(certFile), path.dirname(keyFile), ...(caFile ? [path.dirname(caFile)] : [])]);
  const watchers = [...dirs].map((d) => fs.watch(d, onChange));

  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
  clearTimeout(timer);
  clearInterval(resyncTimer);
  for (const w of watchers) w.close();
  await server.close();
  return 0;
}

/** A KubeCall with the kubeconfig's (or the pod's) credentials, applied per request so a rotated token is used. */
function kubeCall(kubeconfig: string | undefined): KubeCall {
  let loaded;
  try {
    loaded = loadKubeConfig(kubeconfig ? { explicit: kubeconfig } : {});
  } catch (e) {
    if (e instanceof KubeConfigError) throw new CliError(`--ca-bundle needs Kubernetes credentials: ${e.message}`);
    throw e;
  }
  return kubeCallFor(loaded.kc, loaded.server);
}

/** The same for a loaded client config (serve's): `server` is the API server's URL. */
export function kubeCallFor(kc: KubeConfig, server: string): KubeCall {
  return async (method, urlPath, body, contentType) => {
    const url = new URL(server + urlPath);
    const options: https.RequestOptions = {
      method,
      headers: { accept: "application/json", ...(body !== undefined ? { "content-type": contentType ?? "application/json" } : {}) },
    };
    await kc.applyToHTTPSOptions(options);
    return new Promise((resolve, reject) => {
      const req = (url.protocol === "http:" ? http : https).request(url, { ...options, timeout: 10_000 }, (res) => {
        let data = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (data += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: data }));
        res.on("error", reject);
      });
      req.on("timeout", () => req.destroy(new Error(`no answer from ${server} in 10 s`)));
      req.on("error", reject);
      req.end(body);
    });
  };
}

/** Returns the sync step: read the CA file, write it into the configuration; logs, never throws. */
function caBundleKeeper(caFile: string, name: string, kubeconfig: string | undefined, log: Logger): () => Promise<void> {
  const call = kubeCall(kubeconfig);
  readPem(caFile, "ca-bundle", /-----BEGIN CERTIFICATE-----/);
  let lastError = "";
  return async () => {
    try {
      const ca = readPem(caFile, "ca-bundle", /-----BEGIN CERTIFICATE-----/);
      const r = await syncCaBundle(call, name, ca);
      if (!r.ok) {
        if (r.error !== lastError) log.error(`injection webhook: caBundle not updated: ${r.error}`);
        lastError = r.error;
        return;
      }
      lastError = "";
      if (r.changed) log.info(`injection webhook: caBundle of MutatingWebhookConfiguration ${name} updated (${r.changed} webhook(s))`);
    } catch (e) {
      const msg = (e as Error).message;
      if (msg !== lastError) log.error(`injection webhook: caBundle not updated: ${msg}`);
      lastError = msg;
    }
  };
}
