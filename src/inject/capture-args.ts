/**
 * CaptureSettings to and from the istio-iptables flags that `mini-pilot
 * iptables` takes (the injected init container's arguments), so the injector
 * and the command agree by construction.
 */
import { CaptureSettings, CaptureSettingsError, DEFAULT_CAPTURE, parseCidrList, parsePortList, parsePortsOrAll, parseRangesOrAll } from "./iptables-rules";

/** Raw flag values by long name, as `mini-pilot iptables` receives them. */
export type CaptureFlags = Partial<Record<(typeof CAPTURE_FLAG_NAMES)[number], string>>;

export const CAPTURE_FLAG_NAMES = [
  "envoy-port",
  "inbound-capture-port",
  "proxy-uid",
  "proxy-gid",
  "istio-inbound-ports",
  "istio-local-exclude-ports",
  "istio-service-cidr",
  "istio-service-exclude-cidr",
  "istio-local-outbound-ports-exclude",
  "istio-include-outbound-ports",
] as const;

function onePort(text: string, what: string): number {
  const ports = parsePortList(text, what);
  if (ports.length !== 1) throw new CaptureSettingsError(`${what}: want one port, got "${text}"`);
  return ports[0]!;
}

function ids(text: string, what: string): number[] {
  const out: number[] = [];
  for (const part of text.split(",")) {
    const p = part.trim();
    if (p === "") continue;
    if (!/^\d+$/.test(p) || Number(p) > 4294967294) throw new CaptureSettingsError(`${what}: "${p}" is not a numeric user or group id`);
    if (!out.includes(Number(p))) out.push(Number(p));
  }
  return out;
}

/** Flags → settings; unset flags take Istio's defaults. `warnings` collects IPv6 ranges left out. */
export function settingsFromFlags(flags: CaptureFlags, warnings: string[] = []): CaptureSettings {
  const s: CaptureSettings = { ...DEFAULT_CAPTURE };
  const f = (name: keyof CaptureFlags): string | undefined => flags[name];
  const v6 = (what: string, list: string[]): void => {
    if (list.length) warnings.push(`${what}: IPv6 ranges ${list.join(",")} ignored (only IPv4 is programmed)`);
  };
  if (f("envoy-port") !== undefined) s.envoyPort = onePort(f("envoy-port")!, "--envoy-port");
  if (f("inbound-capture-port") !== undefined) s.inboundCapturePort = onePort(f("inbound-capture-port")!, "--inbound-capture-port");
  if (f("proxy-uid") !== undefined) s.proxyUids = ids(f("proxy-uid")!, "--proxy-uid");
  if (f("proxy-gid") !== undefined) s.proxyGids = ids(f("proxy-gid")!, "--proxy-gid");
  if (f("istio-inbound-ports") !== undefined) s.inboundPorts = parsePortsOrAll(f("istio-inbound-ports")!, "--istio-inbound-ports");
  if (f("istio-local-exclude-ports") !== undefined) s.excludeInboundPorts = parsePortList(f("istio-local-exclude-ports")!, "--istio-local-exclude-ports");
  if (f("istio-service-cidr") !== undefined) {
    const r = parseRangesOrAll(f("istio-service-cidr")!, "--istio-service-cidr");
    s.outboundIpRanges = r.ranges;
    v6("--istio-service-cidr", r.v6);
  }
  if (f("istio-service-exclude-cidr") !== undefined) {
    const r = parseCidrList(f("istio-service-exclude-cidr")!, "--istio-service-exclude-cidr");
    s.excludeOutboundIpRanges = r.v4;
    v6("--istio-service-exclude-cidr", r.v6);
  }
  if (f("istio-local-outbound-ports-exclude") !== undefined) {
    s.excludeOutboundPorts = parsePortList(f("istio-local-outbound-ports-exclude")!, "--istio-local-outbound-ports-exclude");
  }
  if (f("istio-include-outbound-ports") !== undefined) {
    s.includeOutboundPorts = parsePortList(f("istio-include-outbound-ports")!, "--istio-include-outbound-ports");
  }
  if (s.proxyUids.length === 0 && s.proxyGids.length === 0) {
    throw new CaptureSettingsError("--proxy-uid and --proxy-gid are both empty: the proxy's own traffic would be captured in a loop");
  }
  return s;
}
