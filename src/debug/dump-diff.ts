/**
 * Compare two Envoy ConfigDumps: what mini-pilot would send a proxy
 * (`/debug/config_dump?proxy=`) and what the Envoy holds (admin
 * `/config_dump?include_eds`). Only dynamic (xDS) resources count; static
 * bootstrap ones are Envoy's own. Both sides are canonicalised through the
 * protos first, so a difference is a difference in config, not in how JSON
 * was printed. Envoy rebuilds its endpoint dump from its host sets (adding
 * defaults such as `overprovisioning_factor: 140`), so endpoints are compared
 * with those defaults removed on both sides.
 */
import { fromJson, toJson } from "../xds/json";
import { typeForUrl } from "../xds/protos";

type J = Record<string, unknown>;

interface DumpType {
  /** The word `proxy-status` prints ("Clusters Match"). */
  title: string;
  dumpType: string;
  field: string;
  resourceType: string;
  pick(entry: J): { resource?: J; error?: string; updated?: string };
}

const TYPES: readonly DumpType[] = [
  {
    title: "Clusters",
    dumpType: "ClustersConfigDump",
    field: "dynamic_active_clusters",
    resourceType: "envoy.config.cluster.v3.Cluster",
    pick: (e) => ({ resource: e.cluster as J, updated: e.last_updated as string | undefined }),
  },
  {
    title: "Listeners",
    dumpType: "ListenersConfigDump",
    field: "dynamic_listeners",
    resourceType: "envoy.config.listener.v3.Listener",
    pick: (e) => {
      const active = e.active_state as J | undefined;
      const warming = e.warming_state as J | undefined;
      const error = e.error_state as J | undefined;
      return {
        resource: (active ?? warming)?.listener as J | undefined,
        updated: (active?.last_updated ?? warming?.last_updated) as string | undefined,
        ...(error ? { error: `rejected: ${String(error.details ?? JSON.stringify(error))}` } : !active && warming ? { error: "warming" } : {}),
      };
    },
  },
  {
    title: "Routes",
    dumpType: "RoutesConfigDump",
    field: "dynamic_route_configs",
    resourceType: "envoy.config.route.v3.RouteConfiguration",
    pick: (e) => ({ resource: e.route_config as J, updated: e.last_updated as string | undefined }),
  },
  {
    title: "Endpoints",
    dumpType: "EndpointsConfigDump",
    field: "dynamic_endpoint_configs",
    resourceType: "envoy.config.endpoint.v3.ClusterLoadAssignment",
    pick: (e) => ({ resource: e.endpoint_config as J, updated: e.last_updated as string | undefined }),
  },
  {
    title: "Secrets",
    dumpType: "SecretsConfigDump",
    field: "dynamic_active_secrets",
    resourceType: "envoy.extensions.transport_sockets.tls.v3.Secret",
    pick: (e) => ({ resource: e.secret as J, updated: e.last_updated as string | undefined }),
  },
];

export interface TypeComparison {
  title: string;
  match: boolean;
  /** The latest last_updated Envoy reports for this type. */
  lastLoaded?: string;
  onlyServer: string[];
  onlyEnvoy: string[];
  /** Resources held by both but different: a unified diff each. */
  differ: { name: string; diff: string }[];
  /** Envoy says it rejected or still warms these. */
  problems: { name: string; problem: string }[];
}

interface Resources {
  present: boolean;
  byName: Map<string, J>;
  updated?: string;
  problems: { name: string; problem: string }[];
}

function resourcesOf(dump: unknown, t: DumpType): Resources {
  const out: Resources = { present: false, byName: new Map(), problems: [] };
  for (const c of ((dump as J | undefined)?.configs ?? []) as J[]) {
    if (c["@type"] !== `type.googleapis.com/envoy.admin.v3.${t.dumpType}`) continue;
    out.present = true;
    for (const e of (c[t.field] ?? []) as J[]) {
      const p = t.pick(e);
      const name = String(p.resource?.name ?? p.resource?.cluster_name ?? e.name ?? "");
      if (p.error) out.problems.push({ name, problem: p.error });
      if (p.resource) out.byName.set(name, canonical(t, p.resource));
      if (p.updated && (!out.updated || p.updated > out.updated)) out.updated = p.updated;
    }
  }
  return out;
}

/** Through the proto and back: one spelling for equal config. Unknown types stay as printed. */
function canonical(t: DumpType, resource: J): J {
  const { "@type": _type, ...body } = resource;
  let json: J = body;
  const type = typeForUrl(`type.googleapis.com/${t.resourceType}`);
  if (type) {
    try {
      json = toJson(type, fromJson(type, body)) as J;
    } catch {
      // Something this build's protos do not know: compare it as Envoy printed it.
    }
  }
  return t.title === "Endpoints" ? withoutEndpointDefaults(json) : json;
}

/** What Envoy adds when it rebuilds an assignment from its host sets. */
function withoutEndpointDefaults(cla: J): J {
  const out: J = { ...cla };
  const policy = out.policy as J | undefined;
  if (policy && Object.keys(policy).length === 1 && Number(policy.overprovisioning_factor) === 140) delete out.policy;
  out.endpoints = ((out.endpoints ?? []) as J[]).map((l) => ({
    ...l,
    lb_endpoints: ((l.lb_endpoints ?? []) as J[])
      .map((lb) => {
        const ep = { ...((lb.endpoint ?? {}) as J) };
        if (ep.health_check_config && Object.keys(ep.health_check_config as J).length === 0) delete ep.health_check_config;
        return { ...lb, endpoint: ep };
      })
      .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
  }));
  if ((out.endpoints as J[]).length === 0) delete out.endpoints;
  return out;
}

/**
 * Per type, what differs. Envoy-only endpoint assignments of clusters the
 * server does not send (static clusters) are not differences.
 */
export function compareDumps(server: unknown, envoy: unknown): TypeComparison[] {
  const out: TypeComparison[] = [];
  for (const t of TYPES) {
    const ours = resourcesOf(server, t);
    const theirs = resourcesOf(envoy, t);
    if (!ours.present && theirs.byName.size === 0) continue;
    // Secrets are listed only when a side has one (most proxies have none; istioctl does not list them).
    if (t.title === "Secrets" && ours.byName.size === 0 && theirs.byName.size === 0) continue;
    const onlyServer = [...ours.byName.keys()].filter((n) => !theirs.byName.has(n)).sort();
    let onlyEnvoy = [...theirs.byName.keys()].filter((n) => !ours.byName.has(n)).sort();
    if (t.title === "Endpoints") onlyEnvoy = [];
    const differ: { name: string; diff: string }[] = [];
    for (const [name, r] of ours.byName) {
      const held = theirs.byName.get(name);
      if (!held) continue;
      const a = JSON.stringify(r, null, 2);
      const b = JSON.stringify(held, null, 2);
      if (a !== b) differ.push({ name, diff: unifiedDiff(a, b, `mini-pilot ${name}`, `envoy ${name}`) });
    }
    differ.sort((a, b) => a.name.localeCompare(b.name));
    const problems = theirs.problems.filter((p) => ours.byName.has(p.name));
    out.push({
      title: t.title,
      match: onlyServer.length === 0 && onlyEnvoy.length === 0 && differ.length === 0 && problems.length === 0,
      ...(theirs.updated ? { lastLoaded: theirs.updated } : {}),
      onlyServer,
      onlyEnvoy,
      differ,
      problems,
    });
  }
  return out;
}

/** istioctl's wording: "Clusters Match", "Listeners Don't Match", then what differs. */
export function formatComparison(cs: TypeComparison[]): string {
  const lines: string[] = [];
  for (const c of cs) {
    const when = c.title === "Routes" && c.lastLoaded ? ` (RDS last loaded at ${c.lastLoaded})` : "";
    lines.push(`${c.title} ${c.match ? "Match" : "Don't Match"}${when}`);
    for (const n of c.onlyServer) lines.push(`  ${n}: sent by mini-pilot, not held by Envoy`);
    for (const n of c.onlyEnvoy) lines.push(`  ${n}: held by Envoy, not sent by mini-pilot`);
    for (const p of c.problems) lines.push(`  ${p.name}: Envoy reports it ${p.problem}`);
    for (const d of c.differ) lines.push(d.diff.replace(/^/gm, "  "));
  }
  return lines.join("\n") + "\n";
}

/** A unified diff of two texts by line (LCS; resources are small), three lines of context. */
export function unifiedDiff(a: string, b: string, nameA: string, nameB: string, context = 3): string {
  const x = a.split("\n");
  const y = b.split("\n");
  const n = x.length;
  const m = y.length;
  // lcs[i][j]: longest common subsequence of x[i..] and y[j..].
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--) lcs[i]![j] = x[i] === y[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const ops: { op: " " | "-" | "+"; line: string }[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) {
      ops.push({ op: " ", line: x[i++]! });
      j++;
    } else if (i < n && (j >= m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) ops.push({ op: "-", line: x[i++]! });
    else ops.push({ op: "+", line: y[j++]! });
  }
  const out = [`--- ${nameA}`, `+++ ${nameB}`];
  const changed = ops.map((o, k) => (o.op !== " " ? k : -1)).filter((k) => k >= 0);
  let k = 0;
  while (k < changed.length) {
    const start = Math.max(0, changed[k]! - context);
    let end = Math.min(ops.length, changed[k]! + context + 1);
    while (k + 1 < changed.length && changed[k + 1]! - context <= end) end = Math.min(ops.length, changed[++k]! + context + 1);
    k++;
    out.push("@@");
    for (let q = start; q < end; q++) out.push(`${ops[q]!.op}${ops[q]!.line}`);
  }
  return out.join("\n");
}
