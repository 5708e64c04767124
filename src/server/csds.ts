/**
 * CSDS: `envoy.service.status.v3.ClientStatusDiscoveryService` on the xDS
 * port, so standard tooling reads per-client status from the server that
 * holds it. For every connected node: its Node, and per resource a
 * GenericXdsConfig with the resource (unless `exclude_resource_contents`),
 * the version sent, when it was last updated, `config_status` (the server's
 * view: SYNCED / NOT_SENT / STALE / ERROR) and `client_status` (what the
 * client said: ACKED / NACKED / REQUESTED / DOES_NOT_EXIST), with the NACK in
 * `error_state`.
 *
 * mini-pilot tracks acknowledgements per type and stream (as SotW does), so
 * every resource of a type carries its type's status; the resources listed are
 * what the latest snapshot gives the subscription. Sensitive fields (private
 * keys) are redacted (xds/redact.ts) before they leave.
 */
import * as grpc from "@grpc/grpc-js";
import { messageType } from "../xds/protos";
import { fromJson } from "../xds/json";
import { redactBytes } from "../xds/redact";
import { PUSH_ORDER, XdsTypeUrl } from "../xds/types";
import type { NodeInfo } from "../cache/snapshot-cache";
import type { XdsStream } from "./stream";
import type { SyncStatus, TypeSync } from "./sync-state";

const SERVICE = "envoy.service.status.v3.ClientStatusDiscoveryService";

/** envoy.service.status.v3.ConfigStatus */
const CONFIG_STATUS: Record<SyncStatus, number> = { SYNCED: 1, NOT_SENT: 2, STALE: 3, ERROR: 4 };
/** envoy.admin.v3.ClientResourceStatus */
const CLIENT_STATUS = { REQUESTED: 1, DOES_NOT_EXIST: 2, ACKED: 3, NACKED: 4 } as const;

type Wire = Record<string, unknown>;

/** A node_matchers entry, reduced to what mini-pilot matches on: the node id. */
type IdMatcher = (id: string) => boolean;

/**
 * `refuse(peer)` says why a caller may not read client status (undefined: it
 * may): CSDS shows every proxy's config, so a listener that authenticates
 * callers and limits them to their own namespace must not answer it.
 */
export function addCsdsService(server: grpc.Server, streams: () => Iterable<XdsStream>, refuse: (peer: string) => string | undefined = () => undefined): void {
  const request = messageType("envoy.service.status.v3.ClientStatusRequest");
  const response = messageType("envoy.service.status.v3.ClientStatusResponse");
  const answer = (bytes: Buffer): Buffer => {
    const req = request.decode(bytes) as unknown as Wire;
    const match = nodeMatcher((req.node_matchers as Wire[] | undefined) ?? []);
    const wire = clientStatus([...streams()], match, Boolean(req.exclude_resource_contents));
    return Buffer.from(response.encode(wire).finish());
  };
  const identity = (b: Buffer) => b;
  const method = (name: string, stream: boolean): grpc.MethodDefinition<Buffer, Buffer> => ({
    path: `/${SERVICE}/${name}`,
    requestStream: stream,
    responseStream: stream,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  });
  const fail = (e: unknown) => ({ code: e instanceof MatcherError ? grpc.status.INVALID_ARGUMENT : grpc.status.INTERNAL, details: (e as Error).message });
  server.addService(
    { FetchClientStatus: method("FetchClientStatus", false), StreamClientStatus: method("StreamClientStatus", true) } as grpc.ServiceDefinition,
    {
      FetchClientStatus: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        const why = refuse(call.getPeer());
        if (why) return callback({ code: grpc.status.PERMISSION_DENIED, details: why });
        try {
          callback(null, answer(call.request));
        } catch (e) {
          callback(fail(e));
        }
      },
      StreamClientStatus: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        const why = refuse(call.getPeer());
        if (why) return call.emit("error", { code: grpc.status.PERMISSION_DENIED, details: why });
        call.on("data", (bytes: Buffer) => {
          try {
            call.write(answer(bytes));
          } catch (e) {
            call.emit("error", fail(e));
          }
        });
        call.on("end", () => call.end());
      },
    },
  );
}

class MatcherError extends Error {}

/**
 * Any of the matchers (none: every node). Each matches `node_id` with
 * exact / prefix / suffix / contains; node_metadatas and regex are refused
 * rather than ignored, so a filter never silently widens.
 */
function nodeMatcher(matchers: Wire[]): IdMatcher {
  if (matchers.length === 0) return () => true;
  const each = matchers.map((m): IdMatcher => {
    if ((m.node_metadatas as unknown[] | undefined)?.length) throw new MatcherError("node_matchers[].node_metadatas is not supported; match on node_id");
    const s = m.node_id as Wire | undefined;
    if (!s) return () => true;
    const fold = (x: string) => (s.ignore_case ? x.toLowerCase() : x);
    const want = (v: unknown) => fold(String(v));
    // Decoded messages keep unset fields on the prototype: only own properties were sent.
    const has = (k: string) => Object.prototype.hasOwnProperty.call(s, k);
    if (has("exact")) return (id) => fold(id) === want(s.exact);
    if (has("prefix")) return (id) => fold(id).startsWith(want(s.prefix));
    if (has("suffix")) return (id) => fold(id).endsWith(want(s.suffix));
    if (has("contains")) return (id) => fold(id).includes(want(s.contains));
    throw new MatcherError("node_matchers[].node_id: only exact, prefix, suffix and contains are supported");
  });
  return (id) => each.some((m) => m(id));
}

/** One ClientConfig per connected node id (its streams merged), sorted by id. */
function clientStatus(streams: XdsStream[], match: IdMatcher, exclude: boolean): Wire {
  const byNode = new Map<string, { node: NodeInfo; streams: XdsStream[] }>();
  for (const s of streams) {
    const node = s.nodeInfo;
    if (!node || !match(node.id)) continue;
    const entry = byNode.get(node.id);
    if (entry) entry.streams.push(s);
    else byNode.set(node.id, { node, streams: [s] });
  }
  const configs = [...byNode.keys()].sort().map((id) => {
    const { node, streams: ss } = byNode.get(id)!;
    return { node: nodeWire(node), generic_xds_configs: ss.flatMap((s) => streamConfigs(s, exclude)) };
  });
  return { config: configs };
}

function nodeWire(node: NodeInfo): Wire {
  return fromJson(messageType("envoy.config.core.v3.Node"), {
    id: node.id,
    cluster: node.cluster,
    metadata: node.metadata,
    ...(node.locality ? { locality: node.locality } : {}),
    ...(node.userAgent ? { user_agent_name: node.userAgent } : {}),
  });
}

function streamConfigs(s: XdsStream, exclude: boolean): Wire[] {
  const out: Wire[] = [];
  const states = new Map(s.syncState().map((t) => [t.typeUrl, t]));
  for (const t of PUSH_ORDER) {
    const state = states.get(t);
    if (!state) continue;
    const resources = s.selected(t);
    const status = clientStatusOf(state.status, state.sync);
    const base = typeFields(t, state.status, state.sync);
    for (const r of resources) {
      out.push({
        ...base,
        name: r.name,
        client_status: status,
        ...(exclude ? {} : { xds_config: { type_url: t, value: redactBytes(t, r.bytes) } }),
      });
    }
    // Names asked for that the server does not have: the client learns they do not exist.
    if (!state.subscription.wildcard) {
      const have = new Set(resources.map((r) => r.name));
      for (const n of state.subscription.names) {
        if (!have.has(n)) out.push({ type_url: t, name: n, config_status: CONFIG_STATUS.NOT_SENT, client_status: CLIENT_STATUS.DOES_NOT_EXIST });
      }
    }
  }
  return out;
}

function typeFields(t: XdsTypeUrl, status: SyncStatus, sync: TypeSync): Wire {
  const updated = sync.ackedAt ?? sync.sentAt;
  return {
    type_url: t,
    version_info: (status === "SYNCED" ? sync.ackedVersion : sync.sentVersion) ?? "",
    config_status: CONFIG_STATUS[status],
    ...(updated !== undefined ? { last_updated: timestamp(updated) } : {}),
    ...(status === "ERROR" && sync.nack
      ? { error_state: { details: sync.nack.message, version_info: sync.nack.version, last_update_attempt: timestamp(sync.nack.at) } }
      : {}),
  };
}

function clientStatusOf(status: SyncStatus, sync: TypeSync): number {
  if (status === "ERROR") return CLIENT_STATUS.NACKED;
  if (status === "SYNCED" || sync.ackedNonce) return CLIENT_STATUS.ACKED;
  return CLIENT_STATUS.REQUESTED;
}

function timestamp(ms: number): Wire {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}
