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

export function isDNS1123Subdomain(s: string): boolean {
  return s.length <= 253 && DNS1123_SUBDOMAIN.test(s);
}

function isWildcardLabel(s: string): boolean {
  return s === "*" || (s.startsWith("*") ? isDNS1123Label(`a${s.slice(1)}`) : isDNS1123Label(s));
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
    if (!isDNS1123Label(label)) return `domain name "${domain}" invalid (label "${label}" invalid)`;
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

export function checkHeaderValue(value: string): string | undefined {
  return BAD_HEADER_VALUE.test(value) ? `header value ${JSON.stringify(value)} contains control characters` : undefined;
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
