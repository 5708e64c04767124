/**
 * Sidecar listeners (LDS): the two capture listeners (virtualOutbound on
 * 15001, virtualInbound on 15006) and the outbound listeners virtualOutbound
 * hands connections to by original destination: `0.0.0.0_<port>` for HTTP
 * ports (RDS `<port>`, with a passthrough fallback for what is not HTTP),
 * `<address>_<port>` for TCP ports (tcp_proxy) and ports without a declared
 * protocol (HTTP detected, RDS `<host>:<port>`, else tcp_proxy; sniffing.ts),
 * and `0.0.0.0_<port>` with SNI chains for TLS ports of services without address.
 */
import { type Protocol, isHttpProtocol, isSniffedProtocol } from "../model/mesh-protocol";
import { byName, socketAddress } from "./common";
import type { FilterChain, Listener, RouteConfiguration } from "./envoy";
import {
  BLACKHOLE_CLUSTER,
  PASSTHROUGH_CLUSTER,
  PASSTHROUGH_FILTER_CHAIN,
  INBOUND_PASSTHROUGH_CLUSTER,
  VIRTUAL_INBOUND_BLACKHOLE_CHAIN,
  VIRTUAL_INBOUND_CATCHALL_HTTP_CHAIN,
  VIRTUAL_INBOUND_LISTENER,
  VIRTUAL_INBOUND_PORT,
  VIRTUAL_OUTBOUND_BLACKHOLE_CHAIN,
  VIRTUAL_OUTBOUND_CATCHALL_CHAIN,
  VIRTUAL_OUTBOUND_LISTENER,
  VIRTUAL_OUTBOUND_PORT,
  inboundClusterName,
  isCapturePort,
  inboundVirtualHostName,
  sidecarRouteName,
  sniffedRouteName,
  wildcardListenerName,
} from "./names";
import { httpConnectionManager, originalDstListenerFilter, tcpProxy, tlsInspectorListenerFilter } from "./network-filters";
import { outboundHttpFilters } from "./route-filters";
import { inboundRouteAction } from "./route-action";
import { type AddressBinding, addressBindings, httpPorts } from "./outbound-ports";
import { sniFilterChains, tcpProxyFor } from "./tcp-routes";
import { boundEgressListeners } from "./sidecar-egress-listeners";
import { authorizationFilters, type AuthorizationFilters } from "./rbac-filters";
import { TRANSPORT_SOCKET_CONNECT_TIMEOUT } from "./istio-defaults";
import { acceptLimit } from "./listener-limits";
import { inboundHcmProtocolFields, networkFilterStack, protocolHttpFilters, wildcardHttpPortProtocol } from "./protocol-filters";
import type { InboundPort } from "./instances";
import { type ProxyScope, scopeForView } from "./scope";
import { mergeByName, sharedUnit } from "./shared";
import { type InboundBodies, type InboundKind, type InboundMtls, inboundMtls } from "./inbound-mtls";
import {
  httpInspectorListenerFilter,
  inboundInspectionFields,
  inboundInspectors,
  outboundCatchAllFilters,
  outboundInspectionFields,
  outboundPassthroughChain,
  sniffedHttpMatch,
} from "./sniffing";

export function sidecarListeners(scope: ProxyScope, inbound: InboundPort[]): Listener[] {
  const outbound = sharedUnit(scope.mesh, scope.proxy, `outbound-listeners|${scope.shareKey}`, (view) => outboundListeners(scopeForView(scope, view)));
  const authz = authorizationFilters(scope.mesh, scope.proxy);
  return mergeByName(outbound, [virtualOutbound(scope), virtualInbound(scope, inbound, inboundMtls(scope.mesh, scope.proxy), authz)].sort(byName));
}

/** The outbound listeners, sorted by name: one list for every sidecar of the scope that answers their questions alike. */
function outboundListeners(scope: ProxyScope): Listener[] {
  // A Sidecar egress listener with its own address comes first (istiod locks its address:port for the rest).
  const bound = boundEgressListeners(scope, outboundFallbackCluster(scope));
  const boundNames = new Set(bound.map((l) => String(l.name)));
  const httpByName = new Map(
    httpPorts(scope)
      .map((port) => outboundHttpListener(scope, port))
      .filter((l) => !boundNames.has(String(l.name)))
      .map((l) => [String(l.name), l]),
  );
  const tcp = outboundTcpListeners(scope, httpByName, boundNames);
  return [...bound, ...httpByName.values(), ...tcp].map(withHandshakeBound).sort(byName);
}

/**
 * istiod's buildListenerFromEntry: every chain of an outbound listener bounds the TLS handshake, the service's
 * TCP chain of a sniffed port too (it is the default chain here); the passthrough fallback chain does not.
 */
function withHandshakeBound(l: Listener): Listener {
  const bound = (c: FilterChain): FilterChain => ({ ...c, transport_socket_connect_timeout: TRANSPORT_SOCKET_CONNECT_TIMEOUT });
  const out: Listener = { ...l, filter_chains: (l.filter_chains ?? []).map(bound) };
  if (l.default_filter_chain && l.default_filter_chain.name !== PASSTHROUGH_FILTER_CHAIN) out.default_filter_chain = bound(l.default_filter_chain);
  return out;
}

/** Where unmatched outbound traffic goes: on to its destination (or the Sidecar's egressProxy), or nowhere under REGISTRY_ONLY. */
function outboundFallbackCluster(scope: ProxyScope): string {
  return scope.outboundTrafficPolicy === "ALLOW_ANY" ? (scope.egressProxyCluster ?? PASSTHROUGH_CLUSTER) : BLACKHOLE_CLUSTER;
}

/**
 * virtualOutbound: `use_original_dst` hands each captured connection to the listener of its original
 * destination (Envoy adds the original_dst listener filter itself); what no listener takes goes through the
 * catch-all chain, as istiod writes it.
 */
function virtualOutbound(scope: ProxyScope): Listener {
  return {
    name: VIRTUAL_OUTBOUND_LISTENER,
    address: socketAddress("0.0.0.0", VIRTUAL_OUTBOUND_PORT),
    filter_chains: [
      // Traffic addressed to 15001 itself would loop forever: drop it.
      {
        filter_chain_match: { destination_port: VIRTUAL_OUTBOUND_PORT },
        filters: [tcpProxy(BLACKHOLE_CLUSTER, BLACKHOLE_CLUSTER)],
        name: VIRTUAL_OUTBOUND_BLACKHOLE_CHAIN,
      },
      { filters: outboundCatchAllFilters(outboundFallbackCluster(scope)), name: VIRTUAL_OUTBOUND_CATCHALL_CHAIN },
    ],
    use_original_dst: true,
    traffic_direction: "OUTBOUND",
    ...acceptLimit(),
  };
}

/**
 * `0.0.0.0_<port>` of an HTTP port: the HTTP chain takes what the HTTP inspector recognises as plaintext
 * HTTP; TLS or raw TCP to the same port (a destination no service declares, say) takes the passthrough
 * chain, as in Istio (BlackHoleCluster under REGISTRY_ONLY).
 */
function outboundHttpListener(scope: ProxyScope, port: number): Listener {
  const name = wildcardListenerName(port);
  const httpFilters = [...protocolHttpFilters(wildcardHttpPortProtocol(scope, port)), ...outboundHttpFilters()];
  const hcm = httpConnectionManager({ statPrefix: `outbound_${name}`, rds: sidecarRouteName(port), httpFilters });
  return {
    name,
    address: socketAddress("0.0.0.0", port),
    filter_chains: [{ filter_chain_match: sniffedHttpMatch(), filters: [hcm] }],
    default_filter_chain: outboundPassthroughChain(outboundFallbackCluster(scope)),
    listener_filters: [httpInspectorListenerFilter()],
    ...outboundInspectionFields(true, scope.mesh.options.protocolDetectionTimeoutMs),
    bind_to_port: false,
    traffic_direction: "OUTBOUND",
  };
}

/**
 * `<address>_<port>` of an auto-detected port: HTTP (recognised by the inspector) is routed by the service's
 * own route config `<host>:<port>`, everything else is proxied to the service as TCP (the default chain).
 */
function outboundSniffedListener(scope: ProxyScope, b: AddressBinding): Listener {
  const hcm = httpConnectionManager({
    statPrefix: `outbound_${b.name}`,
    rds: sniffedRouteName(b.service.host, b.port.port),
    httpFilters: outboundHttpFilters(),
  });
  return {
    name: b.name,
    address: socketAddress(b.address, b.port.port),
    filter_chains: [{ filter_chain_match: sniffedHttpMatch(), filters: [hcm] }],
    default_filter_chain: { filters: [tcpProxyFor(scope, b.service, b.port.port)] },
    listener_filters: [httpInspectorListenerFilter()],
    ...outboundInspectionFields(true, scope.mesh.options.protocolDetectionTimeoutMs),
    bind_to_port: false,
    traffic_direction: "OUTBOUND",
  };
}

/**
 * TCP-family ports: one listener per service address; TLS ports of services
 * without address share `0.0.0.0_<port>`, split by SNI. Plain TCP without an
 * address gets no listener (its traffic takes virtualOutbound's default chain).
 */
/**
 * TCP, TLS and sniffed outbound listeners on the names not `reserved` or taken by an HTTP listener. An HTTP
 * listener that shares a wildcard port with TLS services is replaced in `httpListeners` by a copy with their SNI chains.
 */
function outboundTcpListeners(scope: ProxyScope, httpListeners: Map<string, Listener>, reserved: ReadonlySet<string>): Listener[] {
  const out: Listener[] = [];
  const taken = new Set([...httpListeners.keys(), ...reserved]);
  for (const b of addressBindings(scope)) {
    if (taken.has(b.name)) continue;
    taken.add(b.name);
    if (isSniffedProtocol(b.port.protocol)) {
      out.push(outboundSniffedListener(scope, b));
      continue;
    }
    out.push({
      name: b.name,
      address: socketAddress(b.address, b.port.port),
      filter_chains: [{ filters: networkFilterStack(b.port.protocol, tcpProxyFor(scope, b.service, b.port.port)) }],
      ...outboundInspectionFields(false, scope.mesh.options.protocolDetectionTimeoutMs),
      bind_to_port: false,
      traffic_direction: "OUTBOUND",
    });
  }
  const sni = new Map<number, { chains: FilterChain[]; names: Set<string> }>();
  for (const svc of scope.listenerServices) {
    if (svc.addresses.length > 0) continue;
    for (const p of svc.ports) {
      if ((p.protocol !== "TLS" && p.protocol !== "HTTPS") || isCapturePort(p.port)) continue;
      const entry = sni.get(p.port) ?? { chains: [], names: new Set<string>() };
      entry.chains.push(...sniFilterChains(scope, svc, p.port, entry.names));
      sni.set(p.port, entry);
    }
  }
  for (const [port, { chains }] of [...sni].sort((a, b) => a[0] - b[0])) {
    const name = wildcardListenerName(port);
    if (chains.length === 0) continue;
    const shared = httpListeners.get(name);
    if (shared) {
      // An HTTP port shares the wildcard listener (istiod's TCPOverHTTP): the SNI chains join its HTTP chain, and
      // the TLS inspector runs before the HTTP inspector so they can match.
      // A copy: listeners may be shared with other views.
      httpListeners.set(name, {
        ...shared,
        filter_chains: [...(shared.filter_chains ?? []), ...chains],
        listener_filters: [tlsInspectorListenerFilter(), ...(shared.listener_filters ?? [])],
      });
      continue;
    }
    if (taken.has(name)) continue;
    out.push({
      name,
      address: socketAddress("0.0.0.0", port),
      filter_chains: chains,
      default_filter_chain: outboundPassthroughChain(outboundFallbackCluster(scope)),
      listener_filters: [tlsInspectorListenerFilter()],
      ...outboundInspectionFields(false, scope.mesh.options.protocolDetectionTimeoutMs),
      bind_to_port: false,
      traffic_direction: "OUTBOUND",
    });
  }
  return out;
}

/**
 * virtualInbound: chains per workload port (mTLS and/or plaintext as PeerAuthentication says, HTTP and/or
 * TCP as the port's protocol says: inbound-mtls.ts); the rest passes through to the app, its protocol
 * detected the same way (Istio's passthrough chains). No default chain: what no chain matches is closed.
 * AuthorizationPolicy RBAC filters (`authz`) go on every chain that reaches the app, the passthrough ones included.
 */
function virtualInbound(scope: ProxyScope, inbound: InboundPort[], mtls: InboundMtls, authz: AuthorizationFilters): Listener {
  const chains: FilterChain[] = [
    {
      filter_chain_match: { destination_port: VIRTUAL_INBOUND_PORT },
      filters: [tcpProxy(BLACKHOLE_CLUSTER, BLACKHOLE_CLUSTER)],
      name: VIRTUAL_INBOUND_BLACKHOLE_CHAIN,
    },
  ];
  const passthrough = {
    http: inboundHttpChain(
      {
        cluster: INBOUND_PASSTHROUGH_CLUSTER,
        name: VIRTUAL_INBOUND_CATCHALL_HTTP_CHAIN,
        statPrefix: INBOUND_PASSTHROUGH_CLUSTER,
        port: 0,
        operation: ":0/*",
        protocol: "AUTO",
      },
      authz,
    ),
    tcp: { filters: [...authz.network, tcpProxy(INBOUND_PASSTHROUGH_CLUSTER, INBOUND_PASSTHROUGH_CLUSTER)], name: VIRTUAL_INBOUND_LISTENER },
  };
  chains.push(...mtls.catchAll(new Set(inbound.map((ip) => ip.targetPort)), passthrough));
  for (const ip of inbound) {
    const kind: InboundKind = isHttpProtocol(ip.port.protocol) ? "http" : isSniffedProtocol(ip.port.protocol) ? "auto" : "tcp";
    const cluster = inboundClusterName(ip.targetPort);
    const name = wildcardListenerName(ip.targetPort);
    const bodies: InboundBodies = {};
    // The virtual host is named by the service port (Istio's inbound|http|<port>), the rest by the target port.
    if (kind !== "tcp")
      bodies.http = inboundHttpChain(
        { cluster, name, statPrefix: `inbound_${name}`, port: ip.port.port, operation: `${ip.service.host}:${ip.port.port}/*`, protocol: ip.port.protocol },
        authz,
      );
    if (kind !== "http") bodies.tcp = { filters: [...authz.network, ...networkFilterStack(ip.port.protocol, tcpProxy(cluster, cluster))], name };
    chains.push(...mtls.chains(ip.targetPort, kind, bodies));
  }
  return {
    name: VIRTUAL_INBOUND_LISTENER,
    address: socketAddress("0.0.0.0", VIRTUAL_INBOUND_PORT),
    filter_chains: chains,
    listener_filters: [originalDstListenerFilter(), ...inboundInspectors(chains)],
    ...inboundInspectionFields(scope.mesh.options.protocolDetectionTimeoutMs),
    traffic_direction: "INBOUND",
    ...acceptLimit(),
  };
}

/** What one inbound HTTP chain serves: its cluster, chain name, stat prefix, port, decorator operation and protocol. */
interface InboundHttpTarget {
  cluster: string;
  name: string;
  statPrefix: string;
  port: number;
  operation: string;
  /** gRPC routes get no retry policy (istiod's default inbound route). */
  protocol: Protocol;
}

/** An inbound HTTP chain without match: HCM with an inline route config sending everything to `cluster`. */
function inboundHttpChain(c: InboundHttpTarget, authz: AuthorizationFilters): FilterChain {
  const routeConfig: RouteConfiguration = {
    name: c.cluster,
    virtual_hosts: [
      {
        name: inboundVirtualHostName(c.port),
        domains: ["*"],
        routes: [{ name: "default", match: { prefix: "/" }, route: inboundRouteAction(c.cluster, c.protocol), decorator: { operation: c.operation } }],
      },
    ],
    validate_clusters: false,
  };
  // Inbound has the same fault and CORS filters as outbound (istiod adds them to every class), after RBAC and the port protocol's.
  const hcm = httpConnectionManager({
    statPrefix: c.statPrefix,
    routeConfig,
    httpFilters: [...authz.http, ...protocolHttpFilters(c.protocol), ...outboundHttpFilters()],
    listenerClass: "sidecar-inbound",
    extra: inboundHcmProtocolFields(c.protocol),
  });
  return { filters: [hcm], name: c.name };
}
