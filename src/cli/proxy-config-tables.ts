/**
 * The tables `mini-pilot proxy-config` prints, after istioctl's, from a
 * ConfigDump in Envoy's shape (serve's /debug/config_dump). Pure functions of
 * the dump, so each table is tested without a server.
 */
import { X509Certificate } from "node:crypto";
import { table } from "./table";

type J = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- walking Envoy JSON

export type ConfigKind = "clusters" | "listeners" | "routes" | "endpoints" | "secrets";

export const DUMP_OF: Record<ConfigKind, { dumpType: string; field: string; pick(e: J): J | undefined }> = {
  clusters: { dumpType: "ClustersConfigDump", field: "dynamic_active_clusters", pick: (e) => e.cluster },
  listeners: { dumpType: "ListenersConfigDump", field: "dynamic_listeners", pick: (e) => e.active_state?.listener ?? e.warming_state?.listener },
  routes: { dumpType: "RoutesConfigDump", field: "dynamic_route_configs", pick: (e) => e.route_config },
  endpoints: { dumpType: "EndpointsConfigDump", field: "dynamic_endpoint_configs", pick: (e) => e.endpoint_config },
  secrets: { dumpType: "SecretsConfigDump", field: "dynamic_active_secrets", pick: (e) => e.secret },
};

/** The dump's section for a kind (Envoy's own shape, for -o json|yaml). */
export function section(dump: unknown, kind: ConfigKind): J {
  const d = DUMP_OF[kind];
  const type = `type.googleapis.com/envoy.admin.v3.${d.dumpType}`;
  const found = (((dump as J | undefined)?.configs ?? []) as J[]).find((c) => c["@type"] === type);
  return found ?? { "@type": type, [d.field]: [] };
}

export function resources(dump: unknown, kind: ConfigKind): J[] {
  const d = DUMP_OF[kind];
  return ((section(dump, kind)[d.field] ?? []) as J[]).map((e) => d.pick(e)).filter((r): r is J => r !== undefined);
}

/** "/apis/networking.istio.io/v1/namespaces/NS/virtual-service/NAME" -> "NAME.NS". */
function istioConfigRef(metadata: J | undefined): string {
  const ref = metadata?.filter_metadata?.istio?.config as string | undefined;
  const m = ref ? /\/namespaces\/([^/]+)\/[^/]+\/([^/]+)$/.exec(ref) : null;
  return m ? `${m[2]}.${m[1]}` : "";
}

const dash = (s: string | number | undefined) => (s === undefined || s === "" ? "-" : String(s));

export function clustersTable(dump: unknown): string {
  const rows = resources(dump, "clusters").map((c) => {
    const parts = String(c.name).split("|");
    const type = c.type ?? c.cluster_type?.name ?? "EDS";
    const dr = istioConfigRef(c.metadata);
    if (parts.length === 4) return [parts[3]!, parts[1]!, dash(parts[2]), parts[0]!.toUpperCase(), type, dash(dr)];
    return [String(c.name), "-", "-", "-", type, dash(dr)];
  });
  rows.sort((a, b) => a[0]!.localeCompare(b[0]!) || Number(a[1]) - Number(b[1]) || a[2]!.localeCompare(b[2]!));
  return table(["SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE", "DESTINATION RULE"], rows);
}

export function listenersTable(dump: unknown): string {
  const rows: string[][] = [];
  for (const l of resources(dump, "listeners")) {
    const sa = l.address?.socket_address ?? {};
    const chains: J[] = [...(l.filter_chains ?? []), ...(l.default_filter_chain ? [l.default_filter_chain] : [])];
    for (const fc of chains) rows.push([dash(sa.address), dash(sa.port_value), chainMatch(fc.filter_chain_match), chainDestination(fc)]);
    if (chains.length === 0) rows.push([dash(sa.address), dash(sa.port_value), "ALL", "-"]);
  }
  return table(["ADDRESSES", "PORT", "MATCH", "DESTINATION"], rows);
}

function chainMatch(m: J | undefined): string {
  if (!m || Object.keys(m).length === 0) return "ALL";
  const parts: string[] = [];
  if (m.destination_port) parts.push(`Addr: *:${m.destination_port}`);
  for (const r of m.prefix_ranges ?? []) parts.push(`Addr: ${r.address_prefix}/${r.prefix_len ?? 32}`);
  if (m.transport_protocol) parts.push(`Trans: ${m.transport_protocol}`);
  if (m.application_protocols?.length) parts.push(`App: ${m.application_protocols.join(",")}`);
  if (m.server_names?.length) parts.push(`SNI: ${m.server_names.join(",")}`);
  return parts.join("; ") || "ALL";
}

function chainDestination(fc: J): string {
  for (const f of fc.filters ?? []) {
    const cfg = f.typed_config ?? {};
    if (cfg.rds?.route_config_name) return `Route: ${cfg.rds.route_config_name}`;
    if (cfg.route_config) return `Inline Route: ${cfg.route_config.name ?? ""}`.trim();
    if (cfg.cluster) return `Cluster: ${cfg.cluster}`;
    if (cfg.weighted_clusters) return `Clusters: ${(cfg.weighted_clusters.clusters ?? []).map((c: J) => c.name).join(",")}`;
  }
  return "Non-HTTP/Non-TCP";
}

export function routesTable(dump: unknown): string {
  const rows: string[][] = [];
  for (const rc of resources(dump, "routes")) {
    for (const vh of rc.virtual_hosts ?? []) {
      const domains: string[] = vh.domains ?? [];
      const shown = domains.length > 2 ? `${domains[0]} +${domains.length - 1} more...` : domains.join(", ");
      for (const r of vh.routes ?? []) rows.push([dash(rc.name), dash(vh.name), dash(shown), routeMatch(r.match ?? {}), dash(istioConfigRef(r.metadata))]);
    }
  }
  return table(["NAME", "VHOST NAME", "DOMAINS", "MATCH", "VIRTUAL SERVICE"], rows);
}

function routeMatch(m: J): string {
  const path =
    m.prefix !== undefined
      ? `${m.prefix}*`
      : m.path !== undefined
        ? m.path
        : m.safe_regex
          ? m.safe_regex.regex
          : m.path_separated_prefix
            ? `${m.path_separated_prefix}/*`
            : "/*";
  const extra = (m.headers ?? []).map((h: J) => `${h.name}=${h.string_match?.exact ?? h.string_match?.prefix ?? h.string_match?.regex ?? "*"}`);
  return [path, ...extra].join(" ");
}

export function endpointsTable(dump: unknown): string {
  const rows: string[][] = [];
  for (const cla of resources(dump, "endpoints")) {
    for (const loc of cla.endpoints ?? []) {
      for (const lb of loc.lb_endpoints ?? []) {
        const sa = lb.endpoint?.address?.socket_address;
        const pipe = lb.endpoint?.address?.pipe;
        const where = sa ? `${sa.address}:${sa.port_value}` : pipe ? `unix://${pipe.path}` : "-";
        rows.push([where, lb.health_status ?? "HEALTHY", "OK", String(cla.cluster_name)]);
      }
    }
  }
  rows.sort((a, b) => a[3]!.localeCompare(b[3]!) || a[0]!.localeCompare(b[0]!));
  return table(["ENDPOINT", "STATUS", "OUTLIER CHECK", "CLUSTER"], rows);
}

export function secretsTable(dump: unknown): string {
  const rows: string[][] = [];
  for (const s of resources(dump, "secrets")) {
    const chain = s.tls_certificate?.certificate_chain;
    const ca = s.validation_context?.trusted_ca;
    const [type, source] = chain ? ["Cert Chain", chain] : ca ? ["CA", ca] : ["Other", undefined];
    const cert = source ? certOf(source) : undefined;
    rows.push([String(s.name), type, "ACTIVE", cert ? String(cert.valid) : "-", cert?.serial ?? "-", cert?.notAfter ?? "-", cert?.notBefore ?? "-"]);
  }
  return table(["RESOURCE NAME", "TYPE", "STATUS", "VALID CERT", "SERIAL NUMBER", "NOT AFTER", "NOT BEFORE"], rows);
}

/** The first certificate of an inline DataSource (certificates are not secret; keys are redacted before this). */
function certOf(ds: J): { valid: boolean; serial: string; notAfter: string; notBefore: string } | undefined {
  const pem = ds.inline_string ?? (ds.inline_bytes ? Buffer.from(String(ds.inline_bytes), "base64").toString("utf8") : undefined);
  if (typeof pem !== "string" || !pem.includes("BEGIN CERTIFICATE")) return undefined;
  try {
    const c = new X509Certificate(pem);
    const now = Date.now();
    const notBefore = new Date(c.validFrom);
    const notAfter = new Date(c.validTo);
    return {
      valid: now >= notBefore.getTime() && now <= notAfter.getTime(),
      serial: c.serialNumber.toLowerCase(),
      notAfter: notAfter.toISOString(),
      notBefore: notBefore.toISOString(),
    };
  } catch {
    return undefined;
  }
}

export const TABLES: Record<ConfigKind, (dump: unknown) => string> = {
  clusters: clustersTable,
  listeners: listenersTable,
  routes: routesTable,
  endpoints: endpointsTable,
  secrets: secretsTable,
};
