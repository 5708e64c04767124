/**
 * Gateway spec: servers with hosts, ports and TLS. Follows Istio's
 * ValidateGateway / validateServer / validateTLSOptions.
 */
import type { GatewayPort, GatewayServer, GatewaySpec, ServerTLSSettings } from "../types";
import { at, type Ctx, idx } from "./ctx";
import { portNumber } from "./common";
import { checkWildcardDomain, isDNS1123Label, isIPAddress, protocolClass } from "./names";
import { bool, checked, enumOf, int, list, object, record, str, type Reader } from "./read";

const gatewayPort = object<GatewayPort>({ number: portNumber, protocol: str, name: str, targetPort: int });

const tlsVersion = enumOf("TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3");

function checkServerTLS(t: Partial<ServerTLSSettings>, path: string, ctx: Ctx): void {
  const fileCerts = t.serverCertificate !== undefined && t.privateKey !== undefined;
  if ((t.minProtocolVersion === "TLSV1_0" || t.minProtocolVersion === "TLSV1_1") && !t.cipherSuites?.length) {
    ctx.warn(
      at(path, "minProtocolVersion"),
      "TLS version below TLSV1_2 require setting compatible ciphers as by default they no longer include compatible ciphers.",
    );
  }
  if (t.mode === "ISTIO_MUTUAL") {
    ctx.error(at(path, "mode"), "ISTIO_MUTUAL is not supported by mini-pilot (it needs a CA and SDS)");
    return;
  }
  if (t.mode === "PASSTHROUGH" || t.mode === "AUTO_PASSTHROUGH") {
    if (t.serverCertificate || t.privateKey || t.caCertificates || t.credentialName || t.credentialNames) {
      ctx.warn(path, `${t.mode} mode does not use certificates, they will be ignored`);
    }
    return;
  }
  if (fileCerts && t.credentialName) ctx.error(path, "only one of credentialName or serverCertificate/privateKey should be specified");
  if (t.credentialNames) {
    if (t.credentialName) ctx.error(path, "only one of credentialName or credentialNames can be set");
    if (fileCerts) ctx.error(path, "only one of credentialNames or serverCertificate/privateKey should be specified");
    if (t.credentialNames.length > 2) ctx.error(at(path, "credentialNames"), "at most 2 credentialNames can be set (one RSA and one ECDSA certificate)");
    t.credentialNames.forEach((n, i) => n === "" && ctx.error(idx(at(path, "credentialNames"), i), "credential name cannot be empty"));
  }
  if (t.mode !== "SIMPLE" && t.mode !== "MUTUAL" && t.mode !== "OPTIONAL_MUTUAL") return;
  // With a credentialName the certificates come from a secret, not from files.
  if (t.credentialName || t.credentialNames?.length) return;
  const prefix = t.mode === "SIMPLE" ? "SIMPLE TLS" : "MUTUAL TLS";
  if (t.mode !== "SIMPLE" && !t.caCertificates) ctx.error(at(path, "caCertificates"), `${prefix} requires a client CA bundle`);
  if (!t.serverCertificate) ctx.error(at(path, "serverCertificate"), `${prefix} requires a server certificate`);
  if (!t.privateKey) ctx.error(at(path, "privateKey"), `${prefix} requires a private key`);
}

const serverTLS = object<ServerTLSSettings>(
  {
    httpsRedirect: bool,
    mode: enumOf("PASSTHROUGH", "SIMPLE", "MUTUAL", "AUTO_PASSTHROUGH", "ISTIO_MUTUAL", "OPTIONAL_MUTUAL"),
    serverCertificate: str,
    privateKey: str,
    caCertificates: str,
    credentialName: str,
    credentialNames: list(str),
    subjectAltNames: list(str),
    minProtocolVersion: tlsVersion,
    maxProtocolVersion: tlsVersion,
    cipherSuites: list(str),
  },
  { ignored: ["caCrl", "tlsCertificates", "verifyCertificateSpki", "verifyCertificateHash"], check: checkServerTLS },
);

/** A server host: `host` or `namespace/host`; host a FQDN (wildcards allowed) or an IP, never a short name. */
function checkServerHost(host: string): string | undefined {
  const slash = host.indexOf("/");
  let name = host;
  if (slash >= 0) {
    const ns = host.slice(0, slash);
    name = host.slice(slash + 1);
    if (ns === "" || name === "") return "config namespace and dnsName in host entry cannot be empty";
    if (ns !== "*" && ns !== "." && !isDNS1123Label(ns)) return `invalid namespace value "${ns}" in gateway`;
  }
  if (isIPAddress(name)) return undefined;
  if (name !== "*" && !name.includes(".")) return "short names (non FQDN) are not allowed";
  return checkWildcardDomain(name);
}

const serverHosts: Reader<string[]> = checked(list(str), (hosts, path, ctx) => {
  hosts.forEach((h, i) => {
    const e = checkServerHost(h);
    if (e) ctx.error(idx(path, i), e);
  });
});

function checkServerPort(port: Partial<GatewayPort> | undefined, path: string, ctx: Ctx): void {
  const p = at(path, "port");
  if (!port) {
    ctx.error(p, "port is required");
    return;
  }
  if (port.number === undefined) ctx.error(at(p, "number"), "port number is required");
  if (!port.name) ctx.error(at(p, "name"), "port name must be set");
  if (port.targetPort !== undefined) ctx.error(at(p, "targetPort"), "targetPort has no impact on Gateways");
  if (port.protocol === undefined || protocolClass(port.protocol) === undefined) {
    ctx.error(
      at(p, "protocol"),
      `invalid protocol "${port.protocol ?? ""}", supported protocols are HTTP, HTTPS, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP, TLS`,
    );
  }
}

/** TLS settings must fit the port's protocol. */
function checkServerProtocolTLS(s: Partial<GatewayServer>, path: string, ctx: Ctx): void {
  const cls = s.port?.protocol === undefined ? undefined : protocolClass(s.port.protocol);
  const tls = s.tls;
  if (cls === "tls") {
    if (!tls) ctx.error(at(path, "tls"), "server must have TLS settings for HTTPS/TLS protocols");
    else if (!tls.mode && s.port?.protocol?.toUpperCase() === "HTTPS") ctx.error(at(at(path, "tls"), "mode"), "an HTTPS server needs tls.mode (e.g. SIMPLE)");
  } else if (cls === "http" && tls) {
    // Only a redirect to HTTPS makes sense on a plain-text HTTP port.
    const passthrough = !tls.mode || tls.mode === "PASSTHROUGH" || tls.mode === "AUTO_PASSTHROUGH";
    if (!passthrough || tls.caCertificates || tls.privateKey || tls.serverCertificate) {
      ctx.error(at(path, "tls"), "server cannot have TLS settings for plain text HTTP ports");
    }
  } else if (cls === "other" && tls) {
    ctx.error(at(path, "tls"), "server cannot have TLS settings for non HTTPS/TLS ports");
  }
}

const bind: Reader<string> = checked(str, (b, path, ctx) => {
  if (b.startsWith("unix://") ? b.length <= "unix://".length : !isIPAddress(b)) ctx.error(path, `${b} is not a valid IP or unix:// address`);
});

const server = object<GatewayServer>(
  { port: gatewayPort, bind, hosts: serverHosts, tls: serverTLS, name: str },
  {
    ignored: ["defaultEndpoint"],
    check: (s, path, ctx) => {
      if (!s.hosts || s.hosts.length === 0) ctx.error(at(path, "hosts"), "server config must contain at least one host");
      checkServerPort(s.port, path, ctx);
      checkServerProtocolTLS(s, path, ctx);
    },
  },
);

function checkGateway(spec: Partial<GatewaySpec>, path: string, ctx: Ctx): void {
  const name = ctx.subject.name;
  if (name && !isDNS1123Label(name)) ctx.error("metadata.name", `invalid gateway name: "${name}"`);
  if (!spec.servers || spec.servers.length === 0) {
    ctx.error(at(path, "servers"), "gateway must have at least one server");
    return;
  }
  const names = new Set<string>();
  spec.servers.forEach((s, i) => {
    const p = idx(at(path, "servers"), i);
    const portName = s.port?.name;
    if (portName && names.has(portName)) ctx.error(at(at(p, "port"), "name"), `port names in servers must be unique: duplicate name ${portName}`);
    if (portName) names.add(portName);
    if (s.tls?.httpsRedirect && s.port?.protocol && protocolClass(s.port.protocol) !== "http") {
      ctx.warn(at(at(p, "tls"), "httpsRedirect"), "tls.httpsRedirect should only be used with http servers");
    }
  });
}

export const gatewaySpec = object<GatewaySpec>({ servers: list(server), selector: record(str) }, { check: checkGateway });
