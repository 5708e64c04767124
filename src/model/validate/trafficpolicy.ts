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
import { at, type Ctx } from "./ctx";
import { duration } from "./duration";
import { intPercent, portSelector } from "./common";
import { bool, checked, enumOf, int, list, object, str, type Reader } from "./read";
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

const httpCookie = object<Cookie>(
  { name: str, path: str, ttl: duration({ allowZero: true }) },
  {
    ignored: ["attributes"],
    check: (c, path, ctx) => {
      if (!c.name) ctx.error(at(path, "name"), "name required for HttpCookie");
    },
  },
);

// Envoy requires a prime Maglev table size below 5000011.
function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let f = 2; f * f <= n; f++) if (n % f === 0) return false;
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

function checkConsistentHash(h: Partial<ConsistentHashLB>, path: string, ctx: Ctx): void {
  const keys = [
    h.httpHeaderName !== undefined && "httpHeaderName",
    h.httpCookie !== undefined && "httpCookie",
    h.useSourceIp === true && "useSourceIp",
    h.httpQueryParameterName !== undefined && "httpQueryParameterName",
  ].filter((k): k is string => k !== false);
  if (keys.length !== 1) {
    const found = keys.length > 1 ? ` (found ${keys.join(" and ")})` : "";
    ctx.error(path, `exactly one of httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName must be set${found}`);
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

const loadBalancer = object<LoadBalancerSettings>(
  {
    simple: enumOf("UNSPECIFIED", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST"),
    consistentHash,
    localityLbSetting,
    warmupDurationSecs: duration(),
  },
  {
    ignored: ["warmup"],
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

function checkClientTLS(t: Partial<ClientTLSSettings>, path: string, ctx: Ctx): void {
  if (t.mode === "ISTIO_MUTUAL") {
    // The certificates are the workload's own (SDS `default` and `ROOTCA` from the agent).
    if (t.clientCertificate || t.caCertificates || t.privateKey || t.credentialName) {
      ctx.error(path, "cannot specify client certificates or CA certificate or CredentialName If TLS mode is ISTIO_MUTUAL");
    }
    return;
  }
  const fileCerts = t.clientCertificate || t.caCertificates || t.privateKey;
  if (t.insecureSkipVerify && t.mode === "SIMPLE" && (t.caCertificates || t.credentialName || t.subjectAltNames)) {
    ctx.error(path, "cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true");
  }
  if (t.insecureSkipVerify && t.mode === "MUTUAL" && (t.caCertificates || t.subjectAltNames)) {
    ctx.error(path, "cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true");
  }
  if ((t.mode === "SIMPLE" || t.mode === "MUTUAL") && t.credentialName) {
    if (fileCerts) ctx.error(path, "cannot specify client certificates or CA certificate If credentialName is set");
    return;
  }
  if (t.mode === "MUTUAL") {
    if (!t.clientCertificate) ctx.error(at(path, "clientCertificate"), "client certificate required for mutual tls");
    if (!t.privateKey) ctx.error(at(path, "privateKey"), "private key required for mutual tls");
  }
}

const clientTLS = object<ClientTLSSettings>(
  {
    mode: enumOf("DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"),
    clientCertificate: str,
    privateKey: str,
    caCertificates: str,
    credentialName: str,
    subjectAltNames: list(str),
    sni: str,
    insecureSkipVerify: bool,
  },
  { ignored: ["caCrl"], check: checkClientTLS },
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

export const trafficPolicy = object<TrafficPolicy>(
  { loadBalancer, connectionPool, outlierDetection, tls: clientTLS, portLevelSettings: list(portTrafficPolicy) },
  {
    ignored: ["tunnel", "proxyProtocol", "retryBudget"],
    check: (t, path, ctx) => {
      if (!t.loadBalancer && !t.connectionPool && !t.outlierDetection && !t.tls && !t.portLevelSettings) {
        ctx.error(path, "traffic policy must have at least one field");
      }
      checkFailoverNeedsOutlier(t.loadBalancer?.localityLbSetting, t.outlierDetection !== undefined, at(path, "loadBalancer"), ctx);
    },
  },
);
