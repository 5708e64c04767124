/**
 * How many connections a listener accepts per socket event. istiod
 * (listener_builder.go maxConnectionsToAcceptPerSocketEvent, the
 * MAX_CONNECTIONS_PER_SOCKET_EVENT_LOOP default 1) writes 1 on the listeners
 * that own a socket: virtualOutbound, virtualInbound and gateway listeners
 * (and outbound listeners that bind their port, which a captured sidecar's do
 * not). With 1, a burst of new connections is spread over Envoy's worker
 * threads instead of all landing on the thread that woke first; Envoy's
 * default is no limit.
 */
import type { Listener } from "./envoy";

export const MAX_CONNECTIONS_PER_SOCKET_EVENT = 1;

export function acceptLimit(): Pick<Listener, "max_connections_to_accept_per_socket_event"> {
  return { max_connections_to_accept_per_socket_event: MAX_CONNECTIONS_PER_SOCKET_EVENT };
}
