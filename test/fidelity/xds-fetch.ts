/**
 * Fetch a proxy's whole config from an ADS server (istiod) the way Envoy asks
 * for it: CDS and LDS wildcard, then EDS for the EDS clusters and RDS for the
 * route configs the listeners name. Returns each type's resources as canonical
 * JSON (the same decoding the golden files use), keyed by name.
 */
import * as grpc from "@grpc/grpc-js";
import { TestSotwStream, type SotwResponse } from "../support/ads-client";
import { CLUSTER, ENDPOINT, LISTENER, ROUTE } from "../../src/xds/types";

export type Json = Record<string, unknown>;

export interface XdsConfig {
  listeners: Map<string, Json>;
  routes: Map<string, Json>;
  clusters: Map<string, Json>;
  endpoints: Map<string, Json>;
}

/** Every `route_config_name` (HCM `rds`) anywhere in the listeners. */
export function routeNames(listeners: Iterable<Json>): string[] {
  const names = new Set<string>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") {
      for (const [k, x] of Object.entries(v as Json)) {
        if (k === "route_config_name" && typeof x === "string") names.add(x);
        else walk(x);
      }
    }
  };
  for (const l of listeners) walk(l);
  return [...names].sort();
}

/** The EDS service names of the EDS clusters. */
export function edsNames(clusters: Iterable<Json>): string[] {
  const names = new Set<string>();
  for (const c of clusters) {
    if (c.type !== "EDS") continue;
    const eds = c.eds_cluster_config as { service_name?: string } | undefined;
    names.add(eds?.service_name || String(c.name));
  }
  return [...names].sort();
}

const byName = (resources: Json[], key: string): Map<string, Json> => new Map(resources.map((r) => [String(r[key] ?? ""), r]));

/**
 * One ADS stream to `address` as `nodeId` with `metadata`; resolves with the
 * four types once each has answered what was asked. Every response is ACKed.
 */
export async function fetchXds(address: string, nodeId: string, metadata: Json, nodeCluster: string, timeoutMs = 15_000): Promise<XdsConfig> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const stream = new TestSotwStream(client, nodeId, metadata, undefined, nodeCluster);
  const latest = new Map<string, SotwResponse>();
  const asked = new Map<string, string[]>();
  const ask = (typeUrl: string, names: string[]): void => {
    asked.set(typeUrl, names);
    stream.send({ typeUrl, names });
  };
  // EDS and RDS are not wildcard types: like Envoy, keep each resource until a response replaces it
  // (istiod answers a grown subscription with the new names only).
  const kept = new Map<string, Map<string, Json>>([
    [ENDPOINT, new Map()],
    [ROUTE, new Map()],
  ]);
  const have = (typeUrl: string): string[] => (kept.has(typeUrl) ? [...kept.get(typeUrl)!.keys()] : (latest.get(typeUrl)?.names ?? []));
  const answered = (typeUrl: string): boolean => {
    const want = asked.get(typeUrl);
    if (!latest.has(typeUrl) || !want) return false;
    return want.every((n) => have(typeUrl).includes(n));
  };
  try {
    ask(CLUSTER, []);
    ask(LISTENER, []);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await stream.next(Math.max(1, deadline - Date.now())).catch((e: Error) => {
        const missing = [...asked]
          .filter(([t]) => !answered(t))
          .map(([t, n]) => `${t.split(".").pop()} ${n.filter((x) => !have(t).includes(x)).join(",") || "(wildcard)"}`);
        throw new Error(`${e.message}; not answered: ${missing.join("; ")}`);
      });
      latest.set(r.typeUrl, r);
      r.resources.forEach((body, i) => kept.get(r.typeUrl)?.set(r.names[i]!, body));
      stream.ack(r, asked.get(r.typeUrl) ?? []);
      // EDS and RDS follow what CDS and LDS name (an empty list: nothing to ask).
      const follow = (type: string, names: string[]): void => {
        if (names.length > 0 && names.join() !== (asked.get(type) ?? []).join()) ask(type, names);
        if (names.length === 0) asked.delete(type);
      };
      if (r.typeUrl === CLUSTER) follow(ENDPOINT, edsNames(r.resources));
      if (r.typeUrl === LISTENER) follow(ROUTE, routeNames(r.resources));
      const followDone = (t: string): boolean => (asked.has(t) ? answered(t) : latest.has(t === ENDPOINT ? CLUSTER : LISTENER));
      if (answered(CLUSTER) && answered(LISTENER) && followDone(ENDPOINT) && followDone(ROUTE)) break;
    }
    const res = (t: string) => latest.get(t)?.resources ?? [];
    const subscribed = (t: string) => new Map([...kept.get(t)!].filter(([n]) => asked.get(t)?.includes(n)));
    return {
      listeners: byName(res(LISTENER), "name"),
      routes: subscribed(ROUTE),
      clusters: byName(res(CLUSTER), "name"),
      endpoints: subscribed(ENDPOINT),
    };
  } finally {
    stream.close();
    client.close();
  }
}

/** Every cluster a route config's routes name (`cluster`, `weighted_clusters`, mirror policies): what a gRPC client asks CDS for. */
export function routeClusterNames(routes: Iterable<Json>): string[] {
  const names = new Set<string>();
  const walk = (v: unknown, key = ""): void => {
    if (Array.isArray(v)) v.forEach((x) => walk(x, key));
    else if (v && typeof v === "object") {
      const o = v as Json;
      if (key === "clusters" && typeof o.name === "string") names.add(o.name);
      for (const [k, x] of Object.entries(o)) {
        if (k === "cluster" && typeof x === "string") names.add(x);
        else walk(x, k);
      }
    }
  };
  for (const r of routes) walk(r);
  return [...names].sort();
}

/**
 * Fetch a proxyless gRPC client's config the way gRPC asks for it (no
 * wildcard anywhere): LDS for the names it dials (`listenerNames`), RDS for
 * the route configs those listeners name, CDS for the clusters the routes
 * name, EDS for the EDS clusters. Names the server does not have are left
 * out of its answer; the fetch ends once every type asked has answered its
 * latest request.
 */
export async function fetchGrpcXds(
  address: string,
  nodeId: string,
  metadata: Json,
  nodeCluster: string,
  listenerNames: string[],
  timeoutMs = 15_000,
): Promise<XdsConfig> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const stream = new TestSotwStream(client, nodeId, metadata, undefined, nodeCluster);
  const asked = new Map<string, string[]>();
  const pending = new Set<string>();
  const kept = new Map<string, Map<string, Json>>([LISTENER, ROUTE, CLUSTER, ENDPOINT].map((t) => [t, new Map()]));
  const ask = (typeUrl: string, names: string[]): void => {
    if (names.length === 0 || names.join() === (asked.get(typeUrl) ?? []).join()) return;
    asked.set(typeUrl, names);
    pending.add(typeUrl);
    stream.send({ typeUrl, names });
  };
  try {
    ask(LISTENER, [...listenerNames].sort());
    const deadline = Date.now() + timeoutMs;
    while (pending.size > 0) {
      const r = await stream.next(Math.max(1, deadline - Date.now())).catch((e: Error) => {
        throw new Error(`${e.message}; not answered: ${[...pending].map((t) => t.split(".").pop()).join(", ")}`);
      });
      r.resources.forEach((body, i) => kept.get(r.typeUrl)?.set(r.names[i]!, body));
      stream.ack(r, asked.get(r.typeUrl) ?? []);
      pending.delete(r.typeUrl);
      const subscribed = (t: string) => [...kept.get(t)!].filter(([n]) => asked.get(t)?.includes(n)).map(([, body]) => body);
      if (r.typeUrl === LISTENER) ask(ROUTE, routeNames(subscribed(LISTENER)));
      if (r.typeUrl === ROUTE) ask(CLUSTER, routeClusterNames(subscribed(ROUTE)));
      if (r.typeUrl === CLUSTER) ask(ENDPOINT, edsNames(subscribed(CLUSTER)));
    }
    const subscribedMap = (t: string) => new Map([...kept.get(t)!].filter(([n]) => asked.get(t)?.includes(n)));
    return { listeners: subscribedMap(LISTENER), routes: subscribedMap(ROUTE), clusters: subscribedMap(CLUSTER), endpoints: subscribedMap(ENDPOINT) };
  } finally {
    stream.close();
    client.close();
  }
}

/** `config` narrowed to what a gRPC client dialling `listenerNames` would ask for (the same walk as fetchGrpcXds). */
export function grpcClientView(config: XdsConfig, listenerNames: string[]): XdsConfig {
  const pick = (m: Map<string, Json>, names: string[]) => new Map([...m].filter(([n]) => names.includes(n)));
  const listeners = pick(config.listeners, listenerNames);
  const routes = pick(config.routes, routeNames(listeners.values()));
  const clusters = pick(config.clusters, routeClusterNames(routes.values()));
  const endpoints = pick(config.endpoints, edsNames(clusters.values()));
  return { listeners, routes, clusters, endpoints };
}
