/**
 * The Istio names the injector honours, and the init container's capture
 * arguments built from a pod's traffic annotations (validated with the same
 * parsers `mini-pilot iptables` uses, so a value the init container would
 * refuse is refused at injection time, naming the annotation).
 */
import { CaptureSettingsError, parseCidrList, parsePortList, parsePortsOrAll, parseRangesOrAll } from "./iptables-rules";

export const INJECT = "sidecar.istio.io/inject";
export const STATUS = "sidecar.istio.io/status";
export const NAMESPACE_LABEL = "istio-injection";
export const INCLUDE_OUTBOUND_IP_RANGES = "traffic.sidecar.istio.io/includeOutboundIPRanges";
export const EXCLUDE_OUTBOUND_IP_RANGES = "traffic.sidecar.istio.io/excludeOutboundIPRanges";
export const INCLUDE_INBOUND_PORTS = "traffic.sidecar.istio.io/includeInboundPorts";
export const EXCLUDE_INBOUND_PORTS = "traffic.sidecar.istio.io/excludeInboundPorts";
export const EXCLUDE_OUTBOUND_PORTS = "traffic.sidecar.istio.io/excludeOutboundPorts";
export const INCLUDE_OUTBOUND_PORTS = "traffic.sidecar.istio.io/includeOutboundPorts";

/** Envoy's Prometheus port, the readiness port and pilot-agent's status port: never captured inbound (Istio's injector does the same). */
export const STATUS_PORTS = [15090, 15021, 15020];

export class AnnotationError extends Error {}

export interface CaptureDefaults {
  proxyUid: number;
  proxyGid: number;
  includeOutboundIpRanges: string;
  excludeOutboundIpRanges: string;
  includeInboundPorts: string;
  excludeInboundPorts: string;
}

function checked<T>(name: string, value: string, parse: (text: string, what: string) => T): string {
  try {
    parse(value, `annotation ${name}`);
  } catch (e) {
    if (e instanceof CaptureSettingsError) throw new AnnotationError(e.message);
    throw e;
  }
  return value.trim();
}

/** `mini-pilot iptables` arguments for a pod with these annotations. */
export function captureArgs(annotations: Record<string, string>, d: CaptureDefaults): string[] {
  const value = (name: string, fallback: string): string => annotations[name] ?? fallback;
  const inboundPorts = checked(INCLUDE_INBOUND_PORTS, value(INCLUDE_INBOUND_PORTS, d.includeInboundPorts), parsePortsOrAll);
  const extraExcluded = checked(EXCLUDE_INBOUND_PORTS, value(EXCLUDE_INBOUND_PORTS, d.excludeInboundPorts), parsePortList);
  const excludedInbound = [...STATUS_PORTS.map(String), ...extraExcluded.split(",").map((p) => p.trim())].filter((p) => p !== "");
  const args = [
    "iptables",
    "--envoy-port",
    "15001",
    "--inbound-capture-port",
    "15006",
    "--proxy-uid",
    String(d.proxyUid),
    "--proxy-gid",
    String(d.proxyGid),
    "--istio-inbound-interception-mode",
    "REDIRECT",
    "--istio-service-cidr",
    checked(INCLUDE_OUTBOUND_IP_RANGES, value(INCLUDE_OUTBOUND_IP_RANGES, d.includeOutboundIpRanges), parseRangesOrAll),
    "--istio-service-exclude-cidr",
    checked(EXCLUDE_OUTBOUND_IP_RANGES, value(EXCLUDE_OUTBOUND_IP_RANGES, d.excludeOutboundIpRanges), parseCidrList),
    "--istio-inbound-ports",
    inboundPorts,
    "--istio-local-exclude-ports",
    [...new Set(excludedInbound)].join(","),
  ];
  if (annotations[EXCLUDE_OUTBOUND_PORTS] !== undefined) {
    args.push("--istio-local-outbound-ports-exclude", checked(EXCLUDE_OUTBOUND_PORTS, annotations[EXCLUDE_OUTBOUND_PORTS], parsePortList));
  }
  if (annotations[INCLUDE_OUTBOUND_PORTS] !== undefined) {
    args.push("--istio-include-outbound-ports", checked(INCLUDE_OUTBOUND_PORTS, annotations[INCLUDE_OUTBOUND_PORTS], parsePortList));
  }
  return args;
}
