/**
 * Reads mini-pilot's /debug/config_dump (Envoy's ConfigDump shape) back into
 * resources by type and name, "@type" dropped, as tests compare them.
 */
type J = Record<string, unknown>;

const FIELDS: Record<string, { field: string; pick(e: J): J | undefined; short: string; versioned?: boolean }> = {
  "type.googleapis.com/envoy.admin.v3.ClustersConfigDump": { field: "dynamic_active_clusters", pick: (e) => e.cluster as J, short: "clusters" },
  "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump": { field: "dynamic_endpoint_configs", pick: (e) => e.endpoint_config as J, short: "endpoints" },
  "type.googleapis.com/envoy.admin.v3.ListenersConfigDump": {
    field: "dynamic_listeners",
    pick: (e) => (e.active_state as J | undefined)?.listener as J | undefined,
    short: "listeners",
  },
  "type.googleapis.com/envoy.admin.v3.RoutesConfigDump": { field: "dynamic_route_configs", pick: (e) => e.route_config as J, short: "routes" },
  "type.googleapis.com/envoy.admin.v3.SecretsConfigDump": { field: "dynamic_active_secrets", pick: (e) => e.secret as J, short: "secrets" },
};

export interface DumpByType {
  /** Short type name -> resource name -> resource without "@type". */
  types: Record<string, Map<string, J>>;
  /** Short type name -> the type's version_info (first entry's for types whose dump has none at the top). */
  versions: Record<string, string>;
}

export function readConfigDump(dump: unknown): DumpByType {
  const types: Record<string, Map<string, J>> = { listeners: new Map(), routes: new Map(), clusters: new Map(), endpoints: new Map(), secrets: new Map() };
  const versions: Record<string, string> = {};
  for (const c of ((dump as J | undefined)?.configs ?? []) as J[]) {
    const f = FIELDS[String(c["@type"])];
    if (!f) continue;
    const map = (types[f.short] ??= new Map());
    const entries = (c[f.field] ?? []) as J[];
    versions[f.short] = String(c.version_info ?? (entries[0]?.version_info as string | undefined) ?? "");
    for (const e of entries) {
      const r = f.pick(e);
      if (!r) continue;
      const { "@type": _t, ...rest } = r;
      map.set(String(rest.name ?? rest.cluster_name), rest);
    }
  }
  return { types, versions };
}
