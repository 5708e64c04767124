/**
 * The CA kept in a Kubernetes Secret, as istiod keeps its self-signed CA in
 * `istio-ca-secret` in its own namespace: every replica and every restart
 * signs with the same root. The Secret holds the cacerts layout's four keys
 * (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem), so a plugged-in
 * CA is a Secret with those keys.
 *
 * First start: no Secret, so a self-signed root is made and the Secret
 * created; should another replica create it first (409), theirs is read and
 * used. A Secret that is there but broken is an error, never replaced.
 *
 * RBAC: secrets get and create (src/install/rbac.ts SECURITY_RULES).
 */
import type { KubeConfig, V1Secret } from "@kubernetes/client-node";
import { CertificateAuthority, selfSignedCaTexts } from "./ca";
import { CA_FILES, type CaTexts } from "./ca-folder";
import { CaFolderError } from "./errors";

export const CA_SECRET = "istio-ca-secret";

function textsOf(secret: V1Secret): CaTexts {
  const out: CaTexts = {};
  for (const [part, key] of Object.entries(CA_FILES) as [keyof typeof CA_FILES, string][]) {
    const b64 = secret.data?.[key];
    if (b64 !== undefined) out[part] = Buffer.from(b64, "base64").toString("utf8");
  }
  return out;
}

function apiError(e: unknown): { code?: number; message: string } {
  const code = (e as { code?: number }).code;
  const body = (e as { body?: unknown }).body;
  const message = body && typeof body === "object" && "message" in body ? String((body as { message: unknown }).message) : (e as Error).message;
  return { ...(code !== undefined ? { code } : {}), message: message.split("\n")[0]!.slice(0, 300) };
}

export async function openOrCreateCaSecret(
  kc: KubeConfig,
  namespace: string,
  opts: { trustDomain: string; maxTtlMs?: number },
): Promise<{ ca: CertificateAuthority; created: boolean; where: string }> {
  const { CoreV1Api } = await import("@kubernetes/client-node");
  const api = kc.makeApiClient(CoreV1Api);
  const where = `Secret ${namespace}/${CA_SECRET}`;
  const load = (s: V1Secret) => {
    const texts = textsOf(s);
    const missing = Object.entries(CA_FILES)
      .filter(([part]) => texts[part as keyof typeof CA_FILES] === undefined)
      .map(([, key]) => key);
    if (missing.length)
      throw new CaFolderError(where, [`has no key ${missing.join(", ")}; refusing to replace it (fix the Secret, or delete it to make a new root)`]);
    return CertificateAuthority.fromTexts(texts, where, { trustDomain: opts.trustDomain, ...(opts.maxTtlMs !== undefined ? { maxTtlMs: opts.maxTtlMs } : {}) });
  };
  const read = async (): Promise<V1Secret | undefined> => {
    try {
      return await api.readNamespacedSecret({ name: CA_SECRET, namespace });
    } catch (e) {
      const err = apiError(e);
      if (err.code === 404) return undefined;
      throw new Error(`cannot read ${where}: ${err.code === 403 ? "forbidden (RBAC: secrets get)" : err.message}`);
    }
  };
  const existing = await read();
  if (existing) return { ca: await load(existing), created: false, where };
  const texts = await selfSignedCaTexts(opts.trustDomain);
  const data: Record<string, string> = {};
  for (const [part, key] of Object.entries(CA_FILES) as [keyof typeof CA_FILES, string][]) data[key] = Buffer.from(texts[part]).toString("base64");
  try {
    await api.createNamespacedSecret({
      namespace,
      body: { apiVersion: "v1", kind: "Secret", type: "istio.io/ca-root", metadata: { name: CA_SECRET, namespace }, data },
    });
  } catch (e) {
    const err = apiError(e);
    if (err.code === 404) throw new Error(`cannot create ${where}: namespace "${namespace}" does not exist (create it, or pass --root-namespace or --ca-dir)`);
    if (err.code !== 409) throw new Error(`cannot create ${where}: ${err.code === 403 ? "forbidden (RBAC: secrets create)" : err.message}`);
    const theirs = await read(); // another replica was first: use its root
    if (!theirs) throw new Error(`${where} was created by someone else and then vanished; restart to try again`);
    return { ca: await load(theirs), created: false, where };
  }
  return { ca: await load({ data }), created: true, where };
}
