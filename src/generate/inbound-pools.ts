/**
 * The receiving side's connection pool from the DestinationRule of the
 * workload's own service (istiod's buildInboundCluster): when users raise
 * circuit-breaker limits for a service, its server-side proxy gets the same
 * limits (connect timeout, max connections, HTTP pool options), so it can take
 * the traffic the clients are now allowed to send. Only the connection pool
 * applies inbound (no load balancer, outlier detection or TLS), the
 * port-level settings of the service port first; a DestinationRule with a
 * workloadSelector never applies inbound (SidecarScope.DestinationRule); a
 * Sidecar's inbound connection pool replaces the rule's (sidecar-ingress.ts).
 */
import type { Mesh } from "../model/mesh";
import { destinationRuleFor } from "../model/mesh";
import type { InboundPort } from "./instances";
import { effectivePolicy } from "./traffic-policy";

export function withDestinationRulePools(mesh: Mesh, namespace: string, ports: InboundPort[]): InboundPort[] {
  // No labels: rules with a workloadSelector (istiod honours them for outbound only) are left out.
  const asSeenHere = { namespace, labels: {} };
  return ports.map((p) => {
    const pool = effectivePolicy(destinationRuleFor(mesh, asSeenHere, p.service), undefined, p.port.port).connectionPool;
    return pool ? { ...p, connectionPool: pool } : p;
  });
}
