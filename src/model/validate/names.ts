/**
 * Name rules shared by every kind: DNS labels and domains, hosts with
 * wildcards, IP addresses and CIDRs, label keys and values, header names,
 * port numbers. Each returns an error message, or undefined when valid, so
 * callers decide the field path and severity.
 */
import { isIP } from "node:net";

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function isDNS1123Label(s: string): boolean {
  return s.length <= 63 && DNS1123_LABEL.test(s);
}

const ISTIO_LABEL = /^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/;

/**
 * Istio's DNS label (pkg/config/labels): like RFC 1123 but case-insensitive.
 * Istio uses it for hosts, subset, port and gateway names and exportTo
 * namespaces; Kubernetes object names keep the lowercase rule.
 */
export function isIstioLabel(s: string): boolean {
  return s.length <= 63 && ISTIO_LABEL.test(s);
}

export function isDNS1123Subdomain(s: string): boolean {
  return s.length <= 253 && DNS1123_SUBDOMAIN.test(s);
}

function isWildcardLabel(s: string): boolean {
  return s === "*" || (s.startsWith("*") ? isIstioLabel(`a${s.slice(1)}`) : isIstioLabel(s));
}

function checkLength(name: string): string | undefined {
  if (name.length > 255) return `domain name "${name}" too long (max 255)`;
  if (name.length === 0) return "empty domain name not allowed";
  return undefined;
}

function checkLabels(domain: string, labels: string[]): string | undefined {
  const top = labels[labels.length - 1] ?? "";
  if (/^\d+$/.test(top)) return `domain name "${domain}" invalid (top level domain "${top}" cannot be all-numeric)`;
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i] ?? "";
    // A trailing dot ("istio.io.") is an unambiguous absolute name.
    if (i === labels.length - 1 && label === "") return undefined;
    if (!isIstioLabel(label)) return `domain name "${domain}" invalid (label "${label}" invalid)`;
  }
  return undefined;
}

/** A fully-qualified (or short) domain name without wildcards. */
export function checkFQDN(name: string): string | undefined {
  return checkLength(name) ?? checkLabels(name, name.split("."));
}

/** A domain that may start with a wildcard label: `*`, `*.example.com`, `reviews`, `reviews.ns.svc.cluster.local`. */
export function checkWildcardDomain(name: string): string | undefined {
  const pre = checkLength(name);
  if (pre) return pre;
  const [first = "", ...rest] = name.split(".");
  if (!isWildcardLabel(first)) return `domain name "${name}" invalid (label "${first}" invalid)`;
  return rest.length > 0 ? checkLabels(name, [first.replace(/\*/g, "a"), ...rest]) : undefined;
}

/** Only a whole first label may be a wildcard: `*` or `*.example.com`, not `*foo.example.com`. */
export function checkPartialWildcard(host: string): string | undefined {
  return host.includes("*") && host !== "*" && !host.startsWith("*.") ? `partial wildcard "${host}" not allowed` : undefined;
}

/** A unix domain socket path (after `unix://`): absolute and naming a file, or `@abstract`. */
export function checkUnixAddress(path: string): string | undefined {
  if (path === "") return "unix address must not be empty";
  if (path.startsWith("@")) return undefined;
  return path.startsWith("/") && !path.endsWith("/") ? undefined : `${path} is not an absolute path to a file`;
}

export function isIPAddress(s: string): boolean {
  return isIP(s) !== 0;
}

/** An IP address or a CIDR block. */
export function checkIPOrCIDR(s: string): string | undefined {
  const slash = s.indexOf("/");
  if (slash < 0) return isIPAddress(s) ? undefined : `${s} is not a valid IP`;
  const ip = s.slice(0, slash);
  const bits = s.slice(slash + 1);
  const max = isIP(ip) === 4 ? 32 : isIP(ip) === 6 ? 128 : -1;
  if (max < 0 || !/^\d{1,3}$/.test(bits) || Number(bits) > max) return `${s} is not a valid CIDR block`;
  return undefined;
}

export function checkPort(n: number): string | undefined {
  return n >= 1 && n <= 65535 ? undefined : `port number ${n} must be in the range 1..65535`;
}

const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

/** Kubernetes label key: `[prefix/]name`, prefix a DNS subdomain, name at most 63 characters. */
export function checkLabelKey(key: string): string | undefined {
  const slash = key.lastIndexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  const ok = (prefix === undefined || isDNS1123Subdomain(prefix)) && name.length <= 63 && LABEL_NAME.test(name);
  return ok ? undefined : `invalid label key "${key}"`;
}

export function checkLabelValue(value: string): string | undefined {
  const ok = value === "" || (value.length <= 63 && LABEL_NAME.test(value));
  return ok ? undefined : `invalid label value "${value}"`;
}

/** RFC 7230 token characters; pseudo-headers (":authority") are checked by the caller. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function checkHeaderName(name: string): string | undefined {
  if (name === "") return "header name cannot be empty";
  return HEADER_NAME.test(name) ? undefined : `header name ${name} is not a valid header name`;
}

const PSEUDO_HEADERS = new Set([":method", ":scheme", ":authority", ":path", ":status"]);

/** Header names in a match: real header names or the HTTP/2 pseudo-headers. */
export function checkMatchHeaderName(name: string): string | undefined {
  return PSEUDO_HEADERS.has(name) ? undefined : checkHeaderName(name);
}

// Control characters (other than tab) make Envoy reject a header value.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const BAD_HEADER_VALUE = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/**
 * A header value Envoy will accept: no control characters, and `%` only as
 * `%%` or around a command (`%HOSTNAME%`, `%START_TIME(%s)%`,
 * `%REQ(["x-a","x-b"])%`). Envoy's header parser NACKs anything else; this
 * walks the value the way that parser does (Istio ports it too).
 */
export function checkHeaderValue(value: string): string | undefined {
  if (BAD_HEADER_VALUE.test(value)) return `header value configuration ${JSON.stringify(value)} is invalid: it contains control characters`;
  const e = headerFormatError(value);
  return e ? `header value configuration: invalid header configuration. ${e}` : undefined;
}

type FormatState = "literal" | "name" | "array?" | "string?" | "string" | "delimiter" | "args-end" | "end";

function headerFormatError(value: string): string | undefined {
  let state: FormatState = "literal";
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    switch (state) {
      case "literal":
        if (ch !== "%") break;
        if (i + 1 >= value.length) return "Un-escaped %";
        if (value[i + 1] === "%") i++;
        else state = "name";
        break;
      case "name":
        if (ch === "%") state = "literal";
        else if (ch === "(") state = "array?";
        break;
      case "array?":
        if (ch === "[") state = "string?";
        else if (ch !== " ") state = "string";
        break;
      case "delimiter":
        if (ch === ",") state = "string?";
        else if (ch === "]") state = "args-end";
        else if (ch !== " ") return "Expecting ',', ']', or whitespace";
        break;
      case "string?":
        if (ch === '"') state = "string";
        else if (ch !== " ") return "Expecting '\"'";
        break;
      case "string":
        if (ch === "\\") {
          if (i + 1 >= value.length) return "Un-terminated backslash in JSON string";
          i++;
        } else if (ch === ")") state = "end";
        else if (ch === '"') state = "delimiter";
        break;
      case "args-end":
        if (ch === ")") state = "end";
        else if (ch !== " ") return "Expecting ')' or whitespace after the arguments";
        break;
      case "end":
        if (ch === "%") state = "literal";
        else if (ch !== " ") return "Expecting '%' or whitespace after the arguments";
        break;
    }
  }
  return state === "literal" ? undefined : `Un-terminated variable expression '${value}'`;
}

const HTTP_PROTOCOLS = new Set(["HTTP", "HTTP2", "GRPC", "GRPC-WEB", "HTTP_PROXY"]);
const TLS_PROTOCOLS = new Set(["HTTPS", "TLS"]);
const OTHER_PROTOCOLS = new Set(["TCP", "UDP", "MONGO", "REDIS", "MYSQL"]);

/** Istio's protocol names, case-insensitive. */
export function protocolClass(protocol: string): "http" | "tls" | "other" | undefined {
  const p = protocol.toUpperCase();
  if (HTTP_PROTOCOLS.has(p)) return "http";
  if (TLS_PROTOCOLS.has(p)) return "tls";
  if (OTHER_PROTOCOLS.has(p)) return "other";
  return undefined;
}
