/**
 * The sidecar injection webhook inside `mini-pilot serve`, as istiod serves
 * it next to xDS: HTTPS with a certificate from serve's CA for the Service's
 * DNS names (issued again at half life, like the secure xDS port's), and the
 * MutatingWebhookConfiguration's caBundle kept equal to the CA root, so the
 * API server trusts that certificate without anyone copying PEM around.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { CliError, FlagSpec, ParsedFlags, parseHostPort } from "./args";
import { kubeCallFor } from "./inject-webhook";
import type { SecurityPlan } from "./serve-security";
import type { Logger } from "../log";
import { startWebhook, type WebhookServer } from "../inject/webhook-server";
import { syncCaBundle } from "../inject/ca-bundle";
import { DEFAULT_WEBHOOK_CONFIG_NAME } from "../inject/webhook-config";
import { DEFAULT_SETTINGS, type InjectSettings } from "../inject/settings";
import { ServerCertRotator } from "../security/server-cert";

/** The Service the install puts in front of serve (src/install). */
const SERVICE = "mini-pilot";
/** How often the caBundle is checked again: a `kubectl apply` of the configuration resets it. */
const CA_BUNDLE_RESYNC_MS = 30_000;

export const WEBHOOK_FLAGS: Record<string, FlagSpec> = {
  "inject-webhook-address": {
    type: "string",
    arg: "HOST:PORT|off",
    default: "off",
    help: "serve the sidecar injection webhook (POST /inject) over TLS here; the install uses 0.0.0.0:15017",
  },
  "inject-image": { type: "string", arg: "IMAGE", default: DEFAULT_SETTINGS.image, help: "image of the injected istio-init and istio-proxy containers" },
};

export interface WebhookPlan {
  address: { host: string; port: number };
  /** Issue the certificate, bind, write the caBundle; resolves to the bound port. */
  listen(): Promise<number>;
  stop(): Promise<void>;
}

/** The namespace serve runs in: POD_NAMESPACE from the downward API (the install sets it), else Istio's. */
export function ownNamespace(env: NodeJS.ProcessEnv = process.env): string {
  return env.POD_NAMESPACE || "istio-system";
}

/** What injected pods get: the proxies talk to this install's Service. */
function injectSettings(f: ParsedFlags, namespace: string): InjectSettings {
  const image = String(f["inject-image"]);
  if (image.trim() === "" || /\s/.test(image)) throw new CliError(`--inject-image wants an image reference, got "${image}"`);
  return {
    ...DEFAULT_SETTINGS,
    image,
    // No discovery address: injected sidecars fetch config from the CA address over TLS (secure by default).
    caAddress: `${SERVICE}.${namespace}.svc:15012`,
    trustDomain: String(f["trust-domain"] ?? DEFAULT_SETTINGS.trustDomain),
  };
}

/** Undefined with --inject-webhook-address off (the default). */
export function prepareWebhook(
  f: ParsedFlags,
  ctx: { log: Logger; security?: SecurityPlan; kube?: KubeConfig },
  env: NodeJS.ProcessEnv = process.env,
): WebhookPlan | undefined {
  const raw = String(f["inject-webhook-address"] ?? "off");
  if (raw === "off") return undefined;
  const address = parseHostPort(raw, "inject-webhook-address");
  const security = ctx.security;
  if (!security) throw new CliError("--inject-webhook-address needs serve's CA for its certificate; it is off with --secure-xds-address off");
  const namespace = ownNamespace(env);
  const settings = injectSettings(f, namespace);
  // The names the API server checks (service.<ns>.svc), then the secure port's (--tls-dns-names).
  const dnsNames = [...new Set([`${SERVICE}.${namespace}.svc`, `${SERVICE}.${namespace}.svc.cluster.local`, ...security.dnsNames])];
  const { log } = ctx;
  let server: WebhookServer | undefined;
  let resync: NodeJS.Timeout | undefined;
  let lastError = "";
  const call = ctx.kube ? kubeCallFor(ctx.kube, ctx.kube.getCurrentCluster()?.server ?? "") : undefined;
  const keepCaBundle = async (): Promise<void> => {
    if (!call) return;
    let error: string;
    try {
      const r = await syncCaBundle(call, DEFAULT_WEBHOOK_CONFIG_NAME, security.ca().rootBundlePem());
      if (r.ok) {
        lastError = "";
        if (r.changed)
          log.info({ webhooks: r.changed }, `injection webhook: caBundle of MutatingWebhookConfiguration ${DEFAULT_WEBHOOK_CONFIG_NAME} set to the CA root`);
        return;
      }
      error = r.error;
    } catch (e) {
      error = (e as Error).message;
    }
    // Once per distinct problem, not every resync.
    if (error !== lastError) log.error({}, `injection webhook: caBundle not updated: ${error}`);
    lastError = error;
  };
  let first: { cert: string; key: string } | undefined;
  const rotator = new ServerCertRotator(security.ca, {
    dnsNames,
    ttlMs: security.serverTtlMs,
    purpose: "injection webhook certificate",
    log,
    onIssued: (c) => {
      const tls = { cert: c.certChainPem, key: c.keyPem };
      if (!server) first = tls;
      else {
        server.reload(tls);
        void keepCaBundle();
      }
    },
  });
  return {
    address,
    listen: async () => {
      await rotator.start();
      server = await startWebhook({ host: address.host, port: address.port, cert: first!.cert, key: first!.key, settings, log });
      if (call) {
        await keepCaBundle();
        resync = setInterval(() => void keepCaBundle(), CA_BUNDLE_RESYNC_MS);
        resync.unref();
      } else {
        log.warn({}, "injection webhook: no cluster (folder mode), so no MutatingWebhookConfiguration caBundle is kept; use the CA root as caBundle");
      }
      log.info({ dnsNames, image: settings.image, discoveryAddress: settings.discoveryAddress }, "injection webhook serving POST /inject over TLS");
      return server.port;
    },
    stop: async () => {
      rotator.stop();
      clearInterval(resync);
      await server?.close();
    },
  };
}
