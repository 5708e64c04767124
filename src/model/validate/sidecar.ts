/**
 * Sidecar spec (networking.istio.io): which hosts a workload's proxy sees
 * (egress), which ports it receives on (ingress) and what it does with
 * unknown destinations. Follows Istio's ValidateSidecar,
 * validateSidecarEgressPortBindAndCaptureMode, validateSidecarIngressPortAndBind,
 * validateSidecarOutboundTrafficPolicy and ValidateNamespaceSlashWildcardHostname,
 * message for message where Istio has one.
 */
import type { CaptureMode, ServerTLSSettings, SidecarEgressListener, SidecarIngressListener, SidecarPort, SidecarSpec } from "../types";
import { at, type Ctx, idx } from "./ctx";
import { destination } from "./common";
import { checkFQDN, checkPort, checkWildcardDomain, isDNS1123Label, isIPAddress, protocolClass } from "./names";
import { enumOf, int, list, object, record, str } from "./read";
import { serverTLSFields } from "./server-tls";
import { connectionPool } from "./trafficpolicy";

const UNIX = "unix://";

const sidecarPort = object<SidecarPort>({ number: int, protocol: str, name: str, targetPort: int });
const captureMode = enumOf<CaptureMode>("DEFAULT", "IPTABLES", "NONE");

const ingressTLS = object<ServerTLSSettings>(serverTLSFields, { ignored: ["caCrl", "verifyCertificateSpki", "verifyCertificateHash"] });

const egressListener = object<SidecarEgressListener>({ port: sidecarPort, bind: str, captureMode, hosts: list(str) });
const ingressListener = object<SidecarIngressListener>({
  port: sidecarPort,
  bind: str,
  captureMode,
  defaultEndpoint: str,
  tls: ingressTLS,
  connectionPool,
});

const outboundTrafficPolicy = object<NonNullable<SidecarSpec["outboundTrafficPolicy"]>>({
  mode: enumOf("ALLOW_ANY", "REGISTRY_ONLY"),
  egressProxy: destination,
});

function checkUnixAddress(addr: string, path: string, ctx: Ctx): void {
  if (addr === "") ctx.error(path, "unix address must not be empty");
  else if (!addr.startsWith("@") && (!addr.startsWith("/") || addr.endsWith("/"))) ctx.error(path, `${addr} is not an absolute path to a file`);
}

function checkPortNameAndProtocol(port: Partial<SidecarPort>, path: string, ctx: Ctx): void {
  if (port.name && !isDNS1123Label(port.name)) ctx.error(at(path, "name"), `invalid port name: ${port.name}`);
  // An empty protocol asks for sniffing; anything else must be a protocol Istio knows.
  if (port.protocol && protocolClass(port.protocol) === undefined) ctx.error(at(path, "protocol"), `unsupported protocol: ${port.protocol}`);
  if (port.targetPort !== undefined && port.targetPort > 0) ctx.error(at(path, "targetPort"), "targetPort has no impact on Sidecars");
}

/** `namespace/dnsName`: namespace `*`, `.`, a DNS label, optionally `~`-prefixed; dnsName a FQDN, `*` or `*.suffix`. */
export function checkEgressHost(host: string): string[] {
  const slash = host.indexOf("/");
  if (slash < 0) return ["host must be of form namespace/dnsName"];
  const errs: string[] = [];
  const ns = host.slice(0, slash);
  const name = host.slice(slash + 1);
  if (ns === "" || name === "") errs.push("config namespace and dnsName in host entry cannot be empty");
  const bare = ns.startsWith("~") ? ns.slice(1) : ns;
  if (bare !== "" && bare !== "*" && bare !== "." && !isDNS1123Label(bare)) errs.push(`invalid namespace value "${ns}" in sidecar`);
  if (name !== "*" && !name.includes(".")) errs.push("short names (non FQDN) are not allowed");
  const domain = checkWildcardDomain(name);
  if (domain) errs.push(domain);
  if (name.includes("*") && name.length !== 1 && !name.startsWith("*.")) errs.push(`partial wildcard "${name}" not allowed`);
  return errs;
}

function checkEgressHosts(hosts: string[], ownNamespace: string, path: string, ctx: Ctx): void {
  const byNamespace = new Map<string, Set<string>>();
  hosts.forEach((h, i) => {
    const p = idx(path, i);
    const slash = h.indexOf("/");
    if (slash >= 0 && !h.startsWith("~")) {
      const ns = h.slice(0, slash) === "." ? ownNamespace : h.slice(0, slash);
      const name = h.slice(slash + 1);
      const seen = byNamespace.get(ns) ?? new Set<string>();
      if (name !== "*" ? seen.has(name) || seen.has("*") : seen.size > 0) ctx.warn(p, `duplicated egress host: ${h}`);
      seen.add(name);
      byNamespace.set(ns, seen);
    }
    for (const e of checkEgressHost(h)) ctx.error(p, e);
  });
  if (byNamespace.get("*")?.has("*") && byNamespace.size !== 1) ctx.warn(path, "`*/*` host select all resources, no other hosts can be added");
}

function checkEgress(egress: Partial<SidecarEgressListener>[], ownNamespace: string, path: string, ctx: Ctx): void {
  const ports = new Set<number>();
  const sockets = new Set<string>();
  let catchAll = false;
  egress.forEach((e, i) => {
    const p = idx(path, i);
    if (!e.port) {
      // The one listener without a port catches everything else: it must come last, and only once.
      if (catchAll) {
        ctx.error(p, "sidecar: egress can have only one listener with empty port");
        return;
      }
      if (i === egress.length - 1) catchAll = true;
      else ctx.error(p, "sidecar: the egress listener with empty port should be the last listener in the list");
    } else {
      const port = e.port;
      const pp = at(p, "port");
      checkPortNameAndProtocol(port, pp, ctx);
      const bind = e.bind ?? "";
      if (port.number === undefined || port.number === 0) {
        if (!bind.startsWith(UNIX)) ctx.error(at(p, "bind"), "sidecar: ports with 0 value must have a unix domain socket bind address");
        else checkUnixAddress(bind.slice(UNIX.length), at(p, "bind"), ctx);
        if (e.captureMode && e.captureMode !== "DEFAULT" && e.captureMode !== "NONE") {
          ctx.error(at(p, "captureMode"), "sidecar: captureMode must be DEFAULT/NONE for unix domain socket listeners");
        }
        if (sockets.has(bind)) ctx.error(at(p, "bind"), "sidecar: unix domain socket values for listeners must be unique");
        sockets.add(bind);
      } else {
        const pe = checkPort(port.number);
        if (pe) ctx.error(at(pp, "number"), pe);
        if (bind !== "" && !isIPAddress(bind)) ctx.error(at(p, "bind"), `${bind} is not a valid IP`);
        if (ports.has(port.number)) ctx.error(at(pp, "number"), "sidecar: ports on IP bound listeners must be unique");
        ports.add(port.number);
      }
    }
    if (!e.hosts || e.hosts.length === 0) ctx.error(at(p, "hosts"), "sidecar: egress listener must contain at least one host");
    else checkEgressHosts(e.hosts, ownNamespace, at(p, "hosts"), ctx);
  });
}

function checkDefaultEndpoint(ep: string, path: string, ctx: Ctx): void {
  if (ep.startsWith(UNIX)) {
    checkUnixAddress(ep.slice(UNIX.length), path, ctx);
    return;
  }
  // 127.0.0.1:port, 0.0.0.0:port, [::1]:port, [::]:port or :port.
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):([^:]*)$/.exec(ep);
  if (!m) {
    ctx.error(path, `address ${ep}: missing port in address`);
    return;
  }
  const host = m[1] ?? m[2] ?? "";
  if (host !== "" && !["127.0.0.1", "0.0.0.0", "::1", "::"].includes(host)) {
    ctx.error(path, "sidecar: defaultEndpoint must be of form 127.0.0.1:<port>,0.0.0.0:<port>,[::1]:port,[::]:port,unix://filepath or unset");
  }
  const portText = m[3] ?? "";
  if (!/^[+-]?[0-9]+$/.test(portText)) ctx.error(path, `sidecar: defaultEndpoint port (${portText}) is not a number`);
  else {
    const pe = checkPort(Number(portText));
    if (pe) ctx.error(path, pe);
  }
}

function checkIngressTLS(tls: Partial<ServerTLSSettings>, protocol: string | undefined, path: string, ctx: Ctx): void {
  if (tls.subjectAltNames?.length) ctx.error(at(path, "subjectAltNames"), "sidecar: subjectAltNames is not supported in ingress tls");
  if (tls.httpsRedirect) ctx.error(at(path, "httpsRedirect"), "sidecar: httpsRedirect is not supported");
  if (tls.credentialName) ctx.error(at(path, "credentialName"), "sidecar: credentialName is not currently supported");
  if (tls.credentialNames?.length) ctx.error(at(path, "credentialNames"), "sidecar: credentialNames is not currently supported");
  if (tls.tlsCertificates?.length) ctx.error(at(path, "tlsCertificates"), "sidecar: tls_certificates is not currently supported");
  if (tls.mode === "ISTIO_MUTUAL" || tls.mode === "AUTO_PASSTHROUGH") {
    ctx.error(at(path, "mode"), `configuration is invalid: cannot set mode to ${tls.mode} in sidecar ingress tls`);
  }
  if (protocolClass(protocol ?? "") !== "tls") ctx.error(path, "server cannot have TLS settings for non HTTPS/TLS ports");
  // Istio's validateTLSOptions: SIMPLE/MUTUAL need file certificates here (credentialName is refused above).
  if (tls.mode === "SIMPLE" || tls.mode === "MUTUAL" || tls.mode === "OPTIONAL_MUTUAL") {
    const prefix = tls.mode === "SIMPLE" ? "SIMPLE TLS" : "MUTUAL TLS";
    if (!tls.serverCertificate) ctx.error(at(path, "serverCertificate"), `${prefix} requires a server certificate`);
    if (!tls.privateKey) ctx.error(at(path, "privateKey"), `${prefix} requires a private key`);
    if (tls.mode !== "SIMPLE" && !tls.caCertificates) ctx.error(at(path, "caCertificates"), `${prefix} requires a client CA bundle`);
  }
}

function checkIngress(ingress: Partial<SidecarIngressListener>[], path: string, ctx: Ctx): void {
  const ports = new Set<number>();
  ingress.forEach((l, i) => {
    const p = idx(path, i);
    if (!l.port) {
      ctx.error(at(p, "port"), "sidecar: port is required for ingress listeners");
      return;
    }
    const pp = at(p, "port");
    checkPortNameAndProtocol(l.port, pp, ctx);
    const pe = checkPort(l.port.number ?? 0);
    if (pe) ctx.error(at(pp, "number"), pe);
    if (l.bind && !isIPAddress(l.bind)) ctx.error(at(p, "bind"), `${l.bind} is not a valid IP`);
    if (l.port.number !== undefined && ports.has(l.port.number)) ctx.error(at(pp, "number"), "sidecar: ports on IP bound listeners must be unique");
    if (l.port.number !== undefined) ports.add(l.port.number);
    if (l.defaultEndpoint) checkDefaultEndpoint(l.defaultEndpoint, at(p, "defaultEndpoint"), ctx);
    if (l.tls) checkIngressTLS(l.tls, l.port.protocol, at(p, "tls"), ctx);
    if (l.connectionPool?.http && protocolClass(l.port.protocol ?? "") !== "http") {
      ctx.warn(
        at(p, "connectionPool"),
        `sidecar: HTTP connection pool settings are configured for port ${l.port.number ?? 0} ("${l.port.name ?? ""}") but its protocol is not HTTP (${l.port.protocol ?? ""}); only TCP settings will apply`,
      );
    }
  });
}

function checkOutboundTrafficPolicy(tp: NonNullable<SidecarSpec["outboundTrafficPolicy"]>, path: string, ctx: Ctx): void {
  if (!tp.egressProxy) return;
  // The Sidecar API's default mode is REGISTRY_ONLY (enum value 0).
  if ((tp.mode ?? "REGISTRY_ONLY") !== "ALLOW_ANY") {
    ctx.error(at(path, "egressProxy"), "sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode");
    return;
  }
  const e = tp.egressProxy.host.includes("*") ? `invalid FQDN: ${tp.egressProxy.host}` : checkFQDN(tp.egressProxy.host);
  if (e) ctx.error(at(at(path, "egressProxy"), "host"), e);
  if (!tp.egressProxy.port) ctx.error(at(at(path, "egressProxy"), "port"), "sidecar: egress_proxy port must be non-nil");
}

function checkSidecar(spec: Partial<SidecarSpec>, path: string, ctx: Ctx): void {
  const sel = spec.workloadSelector;
  if (sel) {
    for (const [k, v] of Object.entries(sel.labels ?? {})) {
      if (k === "") ctx.error(at(path, "workloadSelector"), `empty key is not supported in selector: "${k}=${v}"`);
      if (k.includes("*") || v.includes("*"))
        ctx.error(at(at(at(path, "workloadSelector"), "labels"), k), `wildcard is not supported in selector: "${k}=${v}"`);
    }
    if (!sel.labels || Object.keys(sel.labels).length === 0) {
      ctx.warn(at(path, "workloadSelector"), "sidecar: workload selector specified without labels, will be applied to all services in namespace");
    }
  }
  if (!spec.egress?.length && !spec.ingress?.length && !spec.outboundTrafficPolicy && !spec.inboundConnectionPool) {
    ctx.error(path, "sidecar: empty configuration provided");
    return;
  }
  if (spec.ingress) checkIngress(spec.ingress, at(path, "ingress"), ctx);
  if (spec.egress) checkEgress(spec.egress, ctx.subject.namespace ?? "", at(path, "egress"), ctx);
  if (spec.outboundTrafficPolicy) checkOutboundTrafficPolicy(spec.outboundTrafficPolicy, at(path, "outboundTrafficPolicy"), ctx);
}

export const sidecarSpec = object<SidecarSpec>(
  {
    workloadSelector: object<NonNullable<SidecarSpec["workloadSelector"]>>({ labels: record(str) }),
    ingress: list(ingressListener),
    egress: list(egressListener),
    outboundTrafficPolicy,
    inboundConnectionPool: connectionPool,
  },
  { check: checkSidecar },
);
