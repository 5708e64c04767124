/**
 * The traffic-capture rules istio-iptables installs in a pod (REDIRECT mode,
 * IPv4, nat table), as iptables-restore input. Pure: the same settings always
 * give the same text, so `mini-pilot iptables --dry-run` and the tests see
 * exactly what is applied.
 *
 * Chains and their order follow Istio's capture package:
 *   PREROUTING -p tcp → ISTIO_INBOUND → ISTIO_IN_REDIRECT (REDIRECT 15006)
 *   OUTPUT → ISTIO_OUTPUT → ISTIO_REDIRECT (REDIRECT 15001)
 * ISTIO_OUTPUT exempts the proxy's own traffic by owner UID and GID (1337), but
 * sends the proxy's connections to a non-127.0.0.1 address on lo (a pod calling
 * itself by its IP) back in through ISTIO_IN_REDIRECT, and returns other
 * loopback traffic untouched; 127.0.0.6 is where Envoy's inbound passthrough
 * originates from, also exempt.
 *
 * Not here (yet): IPv6 (ip6tables), TPROXY mode, DNS capture (15053), the
 * HBONE 15008 tunnel beyond its exemptions, kube-virt interfaces.
 */
import * as net from "node:net";

export interface CaptureSettings {
  /** Outbound capture port (Envoy's virtualOutbound), istio-iptables -p. */
  envoyPort: number;
  /** Inbound capture port (virtualInbound), -z. */
  inboundCapturePort: number;
  /** UIDs whose traffic is not captured (the proxy's), -u. */
  proxyUids: number[];
  /** GIDs whose traffic is not captured, -g. */
  proxyGids: number[];
  /** "*" (all), or the inbound ports to capture ([] captures no inbound), -b. */
  inboundPorts: "*" | number[];
  /** Inbound ports never captured when inboundPorts is "*", -d. */
  excludeInboundPorts: number[];
  /** "*" (all), or the IPv4 CIDRs whose outbound traffic is captured, -i. */
  outboundIpRanges: "*" | string[];
  /** IPv4 CIDRs never captured outbound, -x. */
  excludeOutboundIpRanges: string[];
  /** Outbound ports never captured, -o. */
  excludeOutboundPorts: number[];
  /** Outbound ports captured even when their destination is outside outboundIpRanges, -q. */
  includeOutboundPorts: number[];
}

/** Istio's defaults: 15001/15006, UID and GID 1337, capture everything. */
export const DEFAULT_CAPTURE: CaptureSettings = {
  envoyPort: 15001,
  inboundCapturePort: 15006,
  proxyUids: [1337],
  proxyGids: [1337],
  inboundPorts: "*",
  excludeInboundPorts: [],
  outboundIpRanges: "*",
  excludeOutboundIpRanges: [],
  excludeOutboundPorts: [],
  includeOutboundPorts: [],
};

/** Istio's tunnel port: never redirected inbound, nor looped back into it. */
const HBONE_PORT = 15008;
/** Envoy's inbound passthrough clusters bind this source address. */
const INBOUND_PASSTHROUGH_SOURCE = "127.0.0.6/32";
/** `-m multiport` takes at most 15 ports. */
const MULTIPORT_MAX = 15;

export const CHAINS = ["ISTIO_INBOUND", "ISTIO_REDIRECT", "ISTIO_IN_REDIRECT", "ISTIO_OUTPUT"] as const;

export class CaptureSettingsError extends Error {}

/** A comma-separated port list ("" is none); `what` names the flag or annotation in the error. */
export function parsePortList(text: string, what: string): number[] {
  const out: number[] = [];
  for (const part of text.split(",")) {
    const p = part.trim();
    if (p === "") continue;
    const n = Number(p);
    if (!/^\d+$/.test(p) || n < 1 || n > 65535) throw new CaptureSettingsError(`${what}: "${p}" is not a port (1-65535)`);
    if (!out.includes(n)) out.push(n);
  }
  return out;
}

/** "*" or a port list. */
export function parsePortsOrAll(text: string, what: string): "*" | number[] {
  return text.trim() === "*" ? "*" : parsePortList(text, what);
}

/**
 * A comma-separated CIDR list. IPv6 ranges are returned apart: this command
 * programs IPv4 only, and the caller says so instead of failing the pod.
 */
export function parseCidrList(text: string, what: string): { v4: string[]; v6: string[] } {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const part of text.split(",")) {
    const c = part.trim();
    if (c === "") continue;
    const slash = c.indexOf("/");
    const ip = slash < 0 ? c : c.slice(0, slash);
    const family = net.isIP(ip);
    const bits = slash < 0 ? (family === 6 ? 128 : 32) : Number(c.slice(slash + 1));
    const max = family === 6 ? 128 : 32;
    if (family === 0 || !Number.isInteger(bits) || bits < 0 || bits > max || (slash >= 0 && !/^\d+$/.test(c.slice(slash + 1)))) {
      throw new CaptureSettingsError(`${what}: "${c}" is not an IP range in CIDR form (e.g. 10.0.0.0/8)`);
    }
    (family === 4 ? v4 : v6).push(`${ip}/${bits}`);
  }
  return { v4, v6 };
}

/** "*" or a CIDR list; the IPv6 part is returned for a warning. */
export function parseRangesOrAll(text: string, what: string): { ranges: "*" | string[]; v6: string[] } {
  if (text.trim() === "*") return { ranges: "*", v6: [] };
  const { v4, v6 } = parseCidrList(text, what);
  return { ranges: v4, v6 };
}

function portMatch(ports: number[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < ports.length; i += MULTIPORT_MAX) {
    const chunk = ports.slice(i, i + MULTIPORT_MAX);
    out.push(chunk.length === 1 ? `--dport ${chunk[0]}` : `-m multiport --dports ${chunk.join(",")}`);
  }
  return out;
}

/** The `-A` rules, in Istio's order. */
export function captureRules(s: CaptureSettings): string[] {
  const rules: string[] = [
    `-A ISTIO_INBOUND -p tcp --dport ${HBONE_PORT} -j RETURN`,
    `-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports ${s.envoyPort}`,
    `-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports ${s.inboundCapturePort}`,
  ];
  if (s.inboundPorts === "*" || s.inboundPorts.length > 0) {
    rules.push(`-A PREROUTING -p tcp -j ISTIO_INBOUND`);
    if (s.inboundPorts === "*") {
      for (const m of portMatch(s.excludeInboundPorts)) rules.push(`-A ISTIO_INBOUND -p tcp ${m} -j RETURN`);
      rules.push(`-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT`);
    } else {
      for (const p of s.inboundPorts) rules.push(`-A ISTIO_INBOUND -p tcp --dport ${p} -j ISTIO_IN_REDIRECT`);
    }
  }
  rules.push(`-A OUTPUT -j ISTIO_OUTPUT`);
  for (const m of portMatch(s.excludeOutboundPorts)) {
    rules.push(`-A ISTIO_OUTPUT -p tcp ${m} -j RETURN`, `-A ISTIO_OUTPUT -p udp ${m} -j RETURN`);
  }
  rules.push(`-A ISTIO_OUTPUT -o lo -s ${INBOUND_PASSTHROUGH_SOURCE} -j RETURN`);
  const owners: [string, number][] = [
    ...s.proxyUids.map((u): [string, number] => ["--uid-owner", u]),
    ...s.proxyGids.map((g): [string, number] => ["--gid-owner", g]),
  ];
  for (const [match, id] of owners) {
    // The proxy calling its own pod IP over lo: treat it as inbound, so the app gets it through 15006.
    rules.push(`-A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp ! --dport ${HBONE_PORT} -m owner ${match} ${id} -j ISTIO_IN_REDIRECT`);
    // The app talking to itself over lo: left alone.
    rules.push(`-A ISTIO_OUTPUT -o lo -m owner ! ${match} ${id} -j RETURN`);
    rules.push(`-A ISTIO_OUTPUT -m owner ${match} ${id} -j RETURN`);
  }
  rules.push(`-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN`);
  for (const cidr of s.excludeOutboundIpRanges) rules.push(`-A ISTIO_OUTPUT -d ${cidr} -j RETURN`);
  for (const p of s.includeOutboundPorts) rules.push(`-A ISTIO_OUTPUT -p tcp --dport ${p} -j ISTIO_REDIRECT`);
  if (s.outboundIpRanges === "*") rules.push(`-A ISTIO_OUTPUT -j ISTIO_REDIRECT`);
  else for (const cidr of s.outboundIpRanges) rules.push(`-A ISTIO_OUTPUT -d ${cidr} -j ISTIO_REDIRECT`);
  return rules;
}

/**
 * The jumps into our chains already present in `iptables-save -t nat` output:
 * a second run must delete them before adding its own, or they would double.
 */
export function existingJumps(saved: string): string[] {
  const out: string[] = [];
  for (const line of saved.split("\n")) {
    const m = /^-A (PREROUTING|OUTPUT) (.*-j (ISTIO_INBOUND|ISTIO_OUTPUT))\s*$/.exec(line.trim());
    if (m) out.push(`-D ${m[1]} ${m[2]}`);
  }
  return out;
}

/**
 * iptables-restore input (for `iptables-restore --noflush`). Chains are
 * declared with `:NAME - [0:0]`, which creates them or empties them when a
 * previous run left them, so applying twice gives the same table; `saved`
 * (the current `iptables-save -t nat`) lets the old jumps be deleted first.
 */
export function restoreInput(s: CaptureSettings, saved = ""): string {
  const lines = ["* nat", ...CHAINS.map((c) => `:${c} - [0:0]`), ...existingJumps(saved), ...captureRules(s), "COMMIT", ""];
  return lines.join("\n");
}
