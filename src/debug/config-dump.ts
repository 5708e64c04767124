/**
 * `/debug/config_dump?proxy=ID` in Envoy's admin ConfigDump JSON shape
 * (envoy.admin.v3.ConfigDump: ClustersConfigDump, EndpointsConfigDump,
 * ListenersConfigDump, RoutesConfigDump, SecretsConfigDump), so what mini-pilot
 * would send a proxy can be put next to what that Envoy's /config_dump holds
 * and compared with the same tools (`mini-pilot proxy-status ID`, jq, diff).
 *
 * Every resource goes through the redaction seam (xds/redact.ts) first:
 * private keys and other sensitive fields show as "[redacted]", as in Envoy.
 */
import type { Snapshot, TypeSnapshot } from "../cache/snapshot";
import type { EncodedResource } from "../xds/resource";
import { decodeToJson } from "../xds/json";
import { typeForUrl } from "../xds/protos";
import { redactBytes } from "../xds/redact";
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET } from "../xds/types";

const ADMIN = "type.googleapis.com/envoy.admin.v3.";

type Json = Record<string, unknown>;

interface Section {
  typeUrl: string;
  dumpType: string;
  /** The repeated field of the dump message and how one resource sits in it. */
  field: string;
  entry(resource: Json, version: string, name: string): Json;
}

/** In the order Envoy lists them. */
export const SECTIONS: readonly Section[] = [
  {
    typeUrl: CLUSTER,
    dumpType: "ClustersConfigDump",
    field: "dynamic_active_clusters",
    entry: (cluster, version_info) => ({ version_info, cluster }),
  },
  {
    typeUrl: ENDPOINT,
    dumpType: "EndpointsConfigDump",
    field: "dynamic_endpoint_configs",
    entry: (endpoint_config, version_info) => ({ version_info, endpoint_config }),
  },
  {
    typeUrl: LISTENER,
    dumpType: "ListenersConfigDump",
    field: "dynamic_listeners",
    entry: (listener, version_info, name) => ({ name, active_state: { version_info, listener } }),
  },
  {
    typeUrl: ROUTE,
    dumpType: "RoutesConfigDump",
    field: "dynamic_route_configs",
    entry: (route_config, version_info) => ({ version_info, route_config }),
  },
  {
    typeUrl: SECRET,
    dumpType: "SecretsConfigDump",
    field: "dynamic_active_secrets",
    entry: (secret, version_info, name) => ({ name, version_info, secret }),
  },
];

/** A resource as Envoy shows it inside a dump: redacted, canonical JSON with its "@type". */
export function dumpResource(r: EncodedResource): Json {
  const type = typeForUrl(r.typeUrl)!;
  return { "@type": r.typeUrl, ...(decodeToJson(type, redactBytes(r.typeUrl, r.bytes)) as Json) };
}

/** The ConfigDump of a snapshot; types the snapshot does not have (SDS before it exists) are left out. */
export function envoyConfigDump(s: Snapshot): { configs: Json[] } {
  const types = s.types as unknown as Record<string, TypeSnapshot | undefined>;
  const configs: Json[] = [];
  for (const section of SECTIONS) {
    const ts = types[section.typeUrl];
    if (!ts) continue;
    const entries = [...ts.resources.values()].map((r) => section.entry(dumpResource(r), ts.version, r.name));
    configs.push({
      "@type": ADMIN + section.dumpType,
      ...(section.typeUrl === CLUSTER || section.typeUrl === LISTENER ? { version_info: ts.version } : {}),
      [section.field]: entries,
    });
  }
  return { configs };
}
