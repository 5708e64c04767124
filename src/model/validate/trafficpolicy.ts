/**
 * DestinationRule traffic policies: load balancing, connection pool, outlier
 * detection, client TLS and their per-port overrides. Follows Istio's
 * validateTrafficPolicy; every block that is present must set something.
 */
import type {
  ClientTLSSettings,
  ConnectionPoolSettings,
  ConsistentHashLB,
  LoadBalancerSettings,
  OutlierDetection,
  PortTrafficPolicy,
  TrafficPolicy,
} from "../types";
import { at, type Ctx, idx } from "./ctx";
import { duration } from "./duration";
import { intPercent, portSelector } from "./common";
import { checkFQDN, checkPort, isIPAddress } from "./names";
import { bool, checked, enumOf, int, list, num, object, str, type Reader } from "./read";
import { checkFailoverNeedsOutlier, localityLbSetting } from "./locality-lb";

/** A count that must not be negative; `what` names it in Istio's words. */
/** Istio declares these counters int32; the uint32 ones (wrapped counts, keepalive probes) pass `UINT32_MAX`. */
const INT32_MAX = 2 ** 31 - 1;
const UINT32_MAX = 2 ** 32 - 1;

function count(what: string, max = INT32_MAX): Reader<number> {
  return checked(int, (n, path, ctx) => {
    if (n < 0) ctx.error(path, `${what} must be non-negative`);
    // Istio refuses such a value when it reads the YAML; Envoy's field could not hold it either.
    else if (n > max) ctx.error(path, `${what} must be at most ${max}`);
  });
}

type Cookie = NonNullable<ConsistentHashLB["httpCookie"]>;
type CookieAttribute = NonNullable<Cookie["attributes"]>[number];

const cookieAttributes: Reader<CookieAttribute[]> = checked(list(object<CookieAttribute>({ name: str, value: str })), (attrs, path, ctx) => {
  const seen = new Set<string>();
  attrs.forEach((a, i) => {
    const p = at(idx(path, i), "name");
    if (!a.name) ctx.error(p, "cookie attribute name cannot be empty");
    else if (seen.has(a.name)) ctx.error(p, `duplicate cookie attribute name: ${a.name}`);
    else seen.add(a.name);
  });
});

const httpCookie = object<Cookie>(
  { name: str, path: str, ttl: duration({ allowZero: true }), attributes: cookieAttributes },
  {
    check: (c, path, ctx) => {
      if (!c.name) ctx.error(at(path, "name"), "name required for HttpCookie");
    },
  },
);

// Envoy requires a prime Maglev table size below 5000011 (Envoy's own primality test: 1 counts).
function isPrime(n: number): boolean {
  if (n > 0 && n < 4) return true;
  if (n % 2 === 0) return false;
  for (let f = 3; f * f <= n; f += 2) if (n % f === 0) return false;
  return true;
}

const maglev = object<NonNullable<ConsistentHashLB["maglev"]>>(
  { tableSize: int },
  {
    check: (m, path, ctx) => {
      const p = at(path, "tableSize");
      if (!m.tableSize) ctx.error(p, "tableSize must be set for maglev");
      else if (m.tableSize >= 5000011) ctx.error(p, "tableSize must be less than 5000011 for maglev");
      else if (!isPrime(m.tableSize)) ctx.error(p, "tableSize must be a prime number for maglev");
    },
  },
);

// Envoy caps ring sizes at 8M entries.
const ringSize: Reader<number> = checked(count("minimumRingSize"), (n, path, ctx) => {
  if (n > 8_388_608) ctx.error(path, "minimumRingSize must be at most 8388608");
});

// No hash key at all is valid (Istio accepts it: the ring hash then has no hash policy).
function checkConsistentHash(h: Partial<ConsistentHashLB>, path: string, ctx: Ctx): void {
  const keys = [
    h.httpHeaderName !== undefined && "httpHeaderName",
    h.httpCookie !== undefined && "httpCookie",
    h.useSourceIp === true && "useSourceIp",
    h.httpQueryParameterName !== undefined && "httpQueryParameterName",
  ].filter((k): k is string => k !== false);
  if (keys.length > 1) {
    ctx.error(path, `only one of httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName may be set (found ${keys.join(" and ")})`);
  }
  if (h.ringHash && h.maglev) ctx.error(path, "only one of ringHash or maglev may be set");
  if (h.minimumRingSize !== undefined) {
    ctx.warn(at(path, "minimumRingSize"), "consistent hash MinimumRingSize is deprecated, use ConsistentHashLB's RingHash configuration instead");
    if (h.ringHash || h.maglev) ctx.error(at(path, "minimumRingSize"), "only one of MinimumRingSize or Maglev/Ringhash can be specified");
  }
}

const consistentHash = object<ConsistentHashLB>(
  {
    httpHeaderName: str,
    httpCookie,
    useSourceIp: bool,
    httpQueryParameterName: str,
    ringHash: object<NonNullable<ConsistentHashLB["ringHash"]>>({ minimumRingSize: ringSize }),
    maglev,
    minimumRingSize: ringSize,
  },
  { check: checkConsistentHash },
);

const NOT_PROGRAMMED = "field is not supported by mini-pilot; ignored";

/** Checked as Istio does, then reported as not programmed (mini-pilot builds no slow start). */
const warmup: Reader<true> = (v, path, ctx) => {
  const w = object<{ duration: string; minimumPercent: number; aggression: number }>({ duration: duration(), minimumPercent: num, aggression: num })(
    v,
    path,
    ctx,
  );
  if (!w) return undefined;
  if (w.duration === undefined) ctx.error(at(path, "duration"), "duration is required");
  if ((w.minimumPercent ?? 0) > 100) ctx.error(at(path, "minimumPercent"), "minimumPercent value should be less than or equal to 100");
  if (w.aggression !== undefined && w.aggression <= 0) ctx.error(at(path, "aggression"), "aggression should be greater than 0");
  ctx.warn(path, NOT_PROGRAMMED);
  return true;
};

// Istio does not check warmupDurationSecs (the deprecated form of warmup.duration).
const warmupDurationSecs: Reader<string> = checked(str, (_v, path, ctx) => ctx.warn(path, NOT_PROGRAMMED));

const loadBalancer = object<LoadBalancerSettings & { warmup?: true }>(
  {
    simple: enumOf("UNSPECIFIED", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST"),
    consistentHash,
    localityLbSetting,
    warmupDurationSecs,
    warmup,
  },
  {
    check: (lb, path, ctx) => {
      if (lb.simple !== undefined && lb.consistentHash !== undefined) ctx.error(path, "only one of simple or consistentHash may be set");
    },
  },
);

type TCPPool = NonNullable<ConnectionPoolSettings["tcp"]>;
type HTTPPool = NonNullable<ConnectionPoolSettings["http"]>;

const tcpPool = object<TCPPool>({
  maxConnections: count("max connections"),
  connectTimeout: duration(),
  tcpKeepalive: object<NonNullable<TCPPool["tcpKeepalive"]>>({ probes: count("keepalive probes", UINT32_MAX), time: duration(), interval: duration() }),
  maxConnectionDuration: duration(),
  // 0s turns the idle timeout off.
  idleTimeout: duration({ allowZero: true }),
});

/** HTTP/2 keepalive pings: both interval and timeout. */
const http2KeepAlive = object<NonNullable<HTTPPool["http2KeepAlive"]>>(
  { interval: duration(), timeout: duration() },
  {
    check: (k, path, ctx) => {
      if (k.interval === undefined) ctx.error(at(path, "interval"), "http2 keepalive interval is required");
      if (k.timeout === undefined) ctx.error(at(path, "timeout"), "http2 keepalive timeout is required");
    },
  },
);

const httpPool = object<HTTPPool>(
  {
    http1MaxPendingRequests: count("http1 max pending requests"),
    http2MaxRequests: count("http2 max requests"),
    maxRequestsPerConnection: count("max requests per connection"),
    maxRetries: count("max retries"),
    idleTimeout: duration(),
    h2UpgradePolicy: enumOf("DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"),
    useClientProtocol: bool,
    maxConcurrentStreams: count("max concurrent streams"),
    http2KeepAlive,
  },
  {
    check: (h, path, ctx) => {
      if (h.h2UpgradePolicy === "UPGRADE" && h.useClientProtocol) {
        ctx.error(path, "use client protocol must not be true when H2UpgradePolicy is UPGRADE");
      }
    },
  },
);

export const connectionPool = object<ConnectionPoolSettings>(
  { tcp: tcpPool, http: httpPool },
  {
    check: (c, path, ctx) => {
      if (!c.tcp && !c.http) ctx.error(path, "connection pool must have at least one field");
    },
  },
);

const outlierDetection = object<OutlierDetection>(
  {
    consecutiveErrors: count("consecutive errors"),
    consecutive5xxErrors: count("consecutive 5xx errors", UINT32_MAX),
    consecutiveGatewayErrors: count("consecutive gateway errors", UINT32_MAX),
    consecutiveLocalOriginFailures: count("consecutive local origin failures"),
    splitExternalLocalOriginErrors: bool,
    interval: duration(),
    baseEjectionTime: duration(),
    maxEjectionPercent: intPercent,
    minHealthPercent: intPercent,
  },
  {
    check: (o, path, ctx) => {
      if (o.consecutiveErrors !== undefined) {
        ctx.warn(
          at(path, "consecutiveErrors"),
          "outlier detection consecutive errors is deprecated, use consecutiveGatewayErrors or consecutive5xxErrors instead",
        );
      }
      if ((o.consecutiveLocalOriginFailures ?? 0) > 0 && !o.splitExternalLocalOriginErrors) {
        ctx.error(
          at(path, "consecutiveLocalOriginFailures"),
          "outlier detection consecutive local origin failures is specified, but split external local origin errors is set to false",
        );
      }
    },
  },
);

const CONFIGMAP = "configmap://";

// configmap://[namespace/]name: a CA bundle from a ConfigMap, only in the rule's own namespace.
function checkConfigMapCredential(name: string, path: string, ctx: Ctx): void {
  const ref = name.slice(CONFIGMAP.length);
  const parts = ref.split("/");
  const own = ctx.subject.namespace ?? "";
  if (ref === "" || parts.length > 2 || parts.some((p) => p === "")) ctx.error(path, `invalid configmap:// credentialName: ${name}`);
  else if (parts.length === 2 && parts[0] !== own)
    ctx.error(path, `invalid configmap:// credentialName: namespace must match the configuration namespace "${own}"`);
}

type ClientTLS = ClientTLSSettings & { caCrl?: string };

// ISTIO_MUTUAL ignores the file and credential fields: the certificates are the workload's own (SDS).
function checkClientTLS(t: Partial<ClientTLS>, path: string, ctx: Ctx): void {
  if (t.credentialName?.startsWith(CONFIGMAP)) checkConfigMapCredential(t.credentialName, at(path, "credentialName"), ctx);
  if (t.mode === "ISTIO_MUTUAL") return;
  const fileCerts = t.clientCertificate || t.caCertificates || t.privateKey || t.caCrl;
  if (t.insecureSkipVerify && t.mode === "SIMPLE" && (t.caCertificates || t.credentialName || t.subjectAltNames)) {
    ctx.error(path, "cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true");
  }
  if (t.insecureSkipVerify && t.mode === "MUTUAL" && (t.caCertificates || t.subjectAltNames)) {
    ctx.error(path, "cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true");
  }
  if ((t.mode === "SIMPLE" || t.mode === "MUTUAL") && t.credentialName) {
    if (fileCerts) ctx.error(path, "cannot specify client certificates or CA certificate or CA CRL If credentialName is set");
    return;
  }
  if (t.mode === "MUTUAL") {
    if (!t.clientCertificate) ctx.error(at(path, "clientCertificate"), "client certificate required for mutual tls");
    if (!t.privateKey) ctx.error(at(path, "privateKey"), "private key required for mutual tls");
  }
}

const clientTLS = object<ClientTLS>(
  {
    mode: enumOf("DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"),
    clientCertificate: str,
    privateKey: str,
    caCertificates: str,
    credentialName: str,
    subjectAltNames: list(str),
    sni: str,
    insecureSkipVerify: bool,
    caCrl: checked(str, (_v, path, ctx) => ctx.warn(path, NOT_PROGRAMMED)),
  },
  { check: checkClientTLS },
);

const portTrafficPolicy = object<PortTrafficPolicy>(
  { port: portSelector, loadBalancer, connectionPool, outlierDetection, tls: clientTLS },
  {
    check: (p, path, ctx) => {
      if (p.port?.number === undefined) ctx.error(at(path, "port"), "portTrafficPolicy must have valid port");
      checkFailoverNeedsOutlier(p.loadBalancer?.localityLbSetting, p.outlierDetection !== undefined, at(path, "loadBalancer"), ctx);
      if (!p.loadBalancer && !p.connectionPool && !p.outlierDetection && !p.tls) {
        ctx.error(path, "port traffic policy must have at least one field");
      }
    },
  },
);

type Tunnel = { protocol: string; targetHost: string; targetPort: number };

/** Tunnel settings: checked as Istio does, reported as not programmed. */
const tunnel: Reader<true> = (v, path, ctx) => {
  const t = object<Tunnel>({ protocol: str, targetHost: str, targetPort: int })(v, path, ctx);
  if (!t) return undefined;
  if (t.protocol !== undefined && t.protocol !== "" && t.protocol !== "CONNECT" && t.protocol !== "POST") {
    ctx.error(at(path, "protocol"), 'tunnel protocol must be "CONNECT" or "POST"');
  }
  const host = t.targetHost ?? "";
  if (!isIPAddress(host) && checkFQDN(host)) ctx.error(at(path, "targetHost"), `tunnel target host must be valid FQDN or IP address: ${checkFQDN(host)}`);
  const portError = checkPort(t.targetPort ?? 0);
  if (portError) ctx.error(at(path, "targetPort"), `tunnel target port is invalid: ${portError}`);
  ctx.warn(path, NOT_PROGRAMMED);
  return true;
};

const notProgrammed: Reader<true> = (v, path, ctx) => {
  if (v === undefined || v === null) return undefined;
  ctx.warn(path, NOT_PROGRAMMED);
  return true;
};

export const trafficPolicy = object<TrafficPolicy & { tunnel?: true; proxyProtocol?: true; retryBudget?: true }>(
  {
    loadBalancer,
    connectionPool,
    outlierDetection,
    tls: clientTLS,
    portLevelSettings: list(portTrafficPolicy),
    tunnel,
    proxyProtocol: (v, path, ctx) => (object<{ version: string }>({ version: enumOf("V1", "V2") })(v, path, ctx) ? notProgrammed(v, path, ctx) : undefined),
    retryBudget: notProgrammed,
  },
  {
    check: (t, path, ctx) => {
      if (Object.keys(t).length === 0) ctx.error(path, "traffic policy must have at least one field");
      if (t.tunnel && t.proxyProtocol) ctx.error(path, "tunnel and proxyProtocol must not be set together");
      checkFailoverNeedsOutlier(t.loadBalancer?.localityLbSetting, t.outlierDetection !== undefined, at(path, "loadBalancer"), ctx);
    },
  },
);
