/**
 * SDS over ADS: the Secret resources a proxy's listeners and clusters name
 * (`kubernetes://<credentialName>` and `kubernetes://<credentialName>-cacert`),
 * read from Secrets in the proxy's own namespace only (model/credentials.ts).
 *
 * The names come from the generated output itself (every SDS config with an
 * `ads` source), so whatever refers to a credential gets it, and nothing else
 * is sent. A credential that cannot be served is left out of the snapshot,
 * as istiod leaves it out of its SDS response: Envoy then keeps the listener
 * warming until its initial fetch timeout (15 s) and fails handshakes on that
 * server, while the listener's other servers and every other resource keep
 * working. A diagnostic names the Secret and the reason, never key bytes.
 */
import type { Mesh } from "../model/mesh";
import type { Diagnostic } from "../model/types";
import { CA_SUFFIX, caCredential, serverCredential, type CredentialLookup } from "../model/credentials";
import type { Cluster, Listener, Secret } from "./envoy";
import { KUBERNETES_SECRET_PREFIX } from "./gateway-tls";

/** What a proxy gets over SDS, and what is wrong with what it asks for. */
export interface Credentials {
  /** SDS names the proxy's config refers to, sorted. */
  names: string[];
  /** Sorted by name. */
  secrets: Secret[];
  diagnostics: Diagnostic[];
}

/** Names of every ADS-served SDS config in the listeners' and clusters' transport sockets, sorted. */
export function referencedSecretNames(listeners: readonly Listener[], clusters: readonly Cluster[]): string[] {
  const names = new Set<string>();
  for (const r of [...listeners, ...clusters]) for (const n of namesIn(r)) names.add(n);
  return [...names].sort();
}

/** Per resource object: resources are read-only and many are shared by every view (shared.ts), so each is walked once. */
const namesOf = new WeakMap<Listener | Cluster, readonly string[]>();
const NONE: readonly string[] = [];

function namesIn(r: Listener | Cluster): readonly string[] {
  let out = namesOf.get(r);
  if (out) return out;
  const sockets: unknown[] = [];
  if ("filter_chains" in r || "default_filter_chain" in r) {
    const l = r as Listener;
    for (const c of l.filter_chains ?? []) sockets.push(c.transport_socket);
    sockets.push(l.default_filter_chain?.transport_socket);
  }
  const c = r as Cluster;
  sockets.push(c.transport_socket);
  for (const m of c.transport_socket_matches ?? []) sockets.push(m.transport_socket);
  const found = new Set<string>();
  for (const s of sockets) collectAdsSdsNames((s as { typed_config?: unknown } | undefined)?.typed_config, found);
  out = found.size === 0 ? NONE : [...found];
  namesOf.set(r, out);
  return out;
}

/** SdsSecretConfig objects anywhere in a TLS context: `{ name, sds_config: { ads } }`. */
function collectAdsSdsNames(v: unknown, into: Set<string>): void {
  if (Array.isArray(v)) {
    for (const x of v) collectAdsSdsNames(x, into);
    return;
  }
  if (typeof v !== "object" || v === null) return;
  const o = v as Record<string, unknown>;
  const source = o.sds_config as { ads?: unknown } | undefined;
  if (typeof o.name === "string" && source?.ads !== undefined) into.add(o.name);
  for (const x of Object.values(o)) if (typeof x === "object") collectAdsSdsNames(x, into);
}

/** The Secret resources for `names` from the Secrets of `namespace`. */
export function credentialSecrets(mesh: Mesh, namespace: string, names: readonly string[], now = Date.now()): Credentials {
  const secrets: Secret[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const name of names) {
    if (!name.startsWith(KUBERNETES_SECRET_PREFIX)) continue;
    const ref = name.slice(KUBERNETES_SECRET_PREFIX.length);
    const isCa = ref.endsWith(CA_SUFFIX);
    const credentialName = isCa ? ref.slice(0, -CA_SUFFIX.length) : ref;
    const found = isCa ? caCredential(mesh.secrets, namespace, credentialName, now) : serverCredential(mesh.secrets, namespace, credentialName, now);
    const c = found.credential;
    if (!c.ok) {
      diagnostics.push(credentialDiagnostic(found, "error", `${c.reason}; ${consequence(credentialName, namespace, isCa)}`));
      continue;
    }
    if (c.warning) diagnostics.push(credentialDiagnostic(found, "warning", `${c.warning}; served anyway (as istiod does), but clients will refuse it`));
    secrets.push(
      c.kind === "certificate"
        ? { name, tls_certificate: { certificate_chain: { inline_bytes: c.certificateChain }, private_key: { inline_bytes: c.privateKey } } }
        : { name, validation_context: { trusted_ca: { inline_bytes: c.trustedCa } } },
    );
  }
  return { names: [...names], secrets, diagnostics };
}

function consequence(credentialName: string, namespace: string, isCa: boolean): string {
  const what = isCa ? "the client CA of" : "the certificate of";
  return `not served: ${what} credentialName "${credentialName}" for proxies in namespace ${namespace}; TLS handshakes on it fail until this is fixed`;
}

function credentialDiagnostic(found: CredentialLookup, severity: Diagnostic["severity"], message: string): Diagnostic {
  const slash = found.secret.indexOf("/");
  return { severity, kind: "Secret", namespace: found.secret.slice(0, slash), name: found.secret.slice(slash + 1), message };
}
