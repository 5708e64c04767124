/**
 * Gateway spec: servers with hosts, ports and TLS. Follows Istio's
 * ValidateGateway / validateServer / validateTLSOptions.
 */
import type { GatewayPort, GatewayServer, GatewaySpec, ServerTLSSettings } from "../types";
import { isValidCipherSuite } from "./ciphers";
import { at, type Ctx, idx } from "./ctx";
import { checkPartialWildcard, checkPort, checkUnixAddress, checkWildcardDomain, isDNS1123Label, isIPAddress, isIstioLabel, protocolClass } from "./names";
import { serverTLSFields, type TLSCertificate } from "./server-tls";
import { checked, int, list, object, record, str, type Reader } from "./read";

// The number is checked with the bind (a unix socket takes 0); here only its type.
const gatewayPort = object<GatewayPort>({ number: int, protocol: str, name: str, targetPort: int });

type TLS = Partial<ServerTLSSettings> & { caCrl?: string };

function checkCiphers(t: TLS, path: string, ctx: Ctx): void {
  if ((t.minProtocolVersion === "TLSV1_0" || t.minProtocolVersion === "TLSV1_1") && !t.cipherSuites?.length) {
    ctx.warn(
      at(path, "minProtocolVersion"),
      "TLS version below TLSV1_2 require setting compatible ciphers as by default they no longer include compatible ciphers.",
    );
  }
  const invalid = new Set<string>();
  const valid = new Set<string>();
  const duplicate = new Set<string>();
  for (const cs of t.cipherSuites ?? []) {
    if (!isValidCipherSuite(cs)) invalid.add(cs);
    else if (valid.has(cs)) duplicate.add(cs);
    else valid.add(cs);
  }
  const p = at(path, "cipherSuites");
  if (invalid.size > 0) ctx.warn(p, `ignoring invalid cipher suites: [${[...invalid].sort().join(" ")}]`);
  if (duplicate.size > 0) ctx.warn(p, `ignoring duplicate cipher suites: [${[...duplicate].sort().join(" ")}]`);
}

// ISTIO_MUTUAL uses the workload's own certificates: no other source may be named.
function checkIstioMutual(t: TLS, path: string, ctx: Ctx): void {
  const sources: [keyof TLS, string][] = [
    ["serverCertificate", "server certificate"],
    ["privateKey", "private key"],
    ["caCertificates", "CA bundle"],
    ["tlsCertificates", "tlsCertificates"],
    ["credentialName", "credentialName"],
    ["credentialNames", "credentialNames"],
  ];
  for (const [field, what] of sources) {
    const v = t[field];
    if (Array.isArray(v) ? v.length > 0 : !!v) ctx.error(at(path, field), `ISTIO_MUTUAL TLS cannot have associated ${what}`);
  }
  ctx.error(at(path, "mode"), "ISTIO_MUTUAL is not supported on gateways by mini-pilot (the gateway does not get a workload certificate)");
}

function certificateSources(t: TLS): number {
  return [t.serverCertificate && t.privateKey, t.credentialName, t.credentialNames?.length, t.tlsCertificates?.length].filter(Boolean).length;
}

function checkServerTLS(t: TLS, path: string, ctx: Ctx): void {
  checkCiphers(t, path, ctx);
  if (t.mode === "ISTIO_MUTUAL") {
    checkIstioMutual(t, path, ctx);
    return;
  }
  // Istio's mode enum starts at PASSTHROUGH: an unset mode passes through.
  const mode = t.mode ?? "PASSTHROUGH";
  if (mode === "PASSTHROUGH" || mode === "AUTO_PASSTHROUGH") {
    if (t.caCrl || t.serverCertificate || t.privateKey || t.caCertificates || t.tlsCertificates?.length || t.credentialName || t.credentialNames?.length) {
      ctx.warn(path, `${mode} mode does not use certificates, they will be ignored`);
    }
  }
  if (certificateSources(t) > 1)
    ctx.error(path, "only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified");
  const terminates = mode === "SIMPLE" || mode === "MUTUAL" || mode === "OPTIONAL_MUTUAL";
  // With a credentialName the certificates come from a secret, not from files.
  if (terminates && (t.credentialName || t.credentialNames?.length)) return;
  if (terminates) {
    const prefix = mode === "SIMPLE" ? "SIMPLE TLS" : "MUTUAL TLS";
    if (mode !== "SIMPLE" && !t.caCertificates) ctx.error(at(path, "caCertificates"), `${prefix} requires a client CA bundle`);
    if (t.tlsCertificates?.length) {
      if (t.tlsCertificates.length > 2) ctx.warn(at(path, "tlsCertificates"), `${prefix} can support up to 2 server certificates`);
      t.tlsCertificates.forEach((c, i) => checkCertificatePair(c, prefix, idx(at(path, "tlsCertificates"), i), ctx));
    } else checkCertificatePair(t, prefix, path, ctx);
  }
  if (t.caCrl) {
    if (t.credentialName) ctx.error(at(path, "caCrl"), "CRL is not supported with credentialName. CRL has to be specified in the credential");
    if (mode === "SIMPLE") ctx.error(at(path, "caCrl"), "CRL is not supported with SIMPLE TLS");
  }
}

function checkCertificatePair(c: TLSCertificate, prefix: string, path: string, ctx: Ctx): void {
  if (!c.serverCertificate) ctx.error(at(path, "serverCertificate"), `${prefix} requires a server certificate`);
  if (!c.privateKey) ctx.error(at(path, "privateKey"), `${prefix} requires a private key`);
}

const NOT_PROGRAMMED = "field is not supported by mini-pilot; ignored";

const serverTLS = object<ServerTLSSettings & { caCrl?: string }>(
  {
    ...serverTLSFields,
    caCrl: checked(str, (_v, path, ctx) => ctx.warn(path, NOT_PROGRAMMED)),
  },
  { ignored: ["verifyCertificateSpki", "verifyCertificateHash"], check: checkServerTLS },
);

/** A server host: `host` or `namespace/host`; host a FQDN (wildcards allowed) or an IP, never a short name. */
function checkServerHost(host: string): string | undefined {
  const slash = host.indexOf("/");
  let name = host;
  if (slash >= 0) {
    const ns = host.slice(0, slash);
    name = host.slice(slash + 1);
    if (ns === "" || name === "") return "config namespace and dnsName in host entry cannot be empty";
    if (ns !== "*" && ns !== "." && !isIstioLabel(ns)) return `invalid namespace value "${ns}" in gateway`;
  }
  if (name !== "*" && !name.includes(".")) return "short names (non FQDN) are not allowed";
  const e = isIPAddress(name) ? undefined : checkWildcardDomain(name);
  return e ?? checkPartialWildcard(name);
}

const serverHosts: Reader<string[]> = checked(list(str), (hosts, path, ctx) => {
  hosts.forEach((h, i) => {
    const e = checkServerHost(h);
    if (e) ctx.error(idx(path, i), e);
  });
});

const UNIX = "unix://";

function checkServerPort(port: Partial<GatewayPort> | undefined, bind: string | undefined, path: string, ctx: Ctx): void {
  const p = at(path, "port");
  if (!port) {
    ctx.error(p, "port is required");
    return;
  }
  const unix = bind?.startsWith(UNIX) ?? false;
  const number = port.number ?? 0;
  // A unix socket has no port: 0 (or none) is required there, and allowed only there.
  if (unix && number !== 0) ctx.error(at(p, "number"), `port number must be 0 for unix domain socket: ${number}`);
  else if (!unix) {
    const e = checkPort(number);
    if (e) ctx.error(at(p, "number"), e);
  }
  if (!port.name) ctx.error(at(p, "name"), "port name must be set");
  if (port.targetPort) ctx.error(at(p, "targetPort"), "targetPort has no impact on Gateways");
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
    else if (!tls.mode && s.port?.protocol?.toUpperCase() === "HTTPS" && certificateSources(tls) === 0 && !tls.caCertificates) {
      // Not an error in Istio, but an HTTPS server meant to terminate TLS has usually just forgotten `mode`.
      ctx.warn(
        at(at(path, "tls"), "mode"),
        "tls.mode is unset, so this HTTPS server is PASSTHROUGH (TLS goes to the backend as is); set SIMPLE to terminate TLS",
      );
    }
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
  const e = b.startsWith(UNIX) ? checkUnixAddress(b.slice(UNIX.length)) : b !== "" && !isIPAddress(b) ? `${b} is not a valid IP` : undefined;
  if (e) ctx.error(path, e);
});

const server = object<GatewayServer>(
  { port: gatewayPort, bind, hosts: serverHosts, tls: serverTLS, name: str },
  {
    ignored: ["defaultEndpoint"],
    check: (s, path, ctx) => {
      // A unix socket server has no port number: it reads as 0.
      if (s.port && s.port.number === undefined) s.port.number = 0;
      if (!s.hosts || s.hosts.length === 0) ctx.error(at(path, "hosts"), "server config must contain at least one host");
      checkServerPort(s.port, s.bind, path, ctx);
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
