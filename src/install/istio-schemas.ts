/**
 * Structural schemas of the Istio networking kinds mini-pilot serves, written
 * from the fields mini-pilot reads (src/model/types.ts and its validation),
 * not copied from Istio. Types are checked by the API server; the rules that
 * need context (host forms, weights adding up, one action per route) stay in
 * mini-pilot's validation, which reports them with the field path.
 *
 * Istio fields mini-pilot does not implement are kept (not pruned), so a
 * user's Istio YAML applies unchanged and mini-pilot warns that the field is
 * ignored, as it does for a file. The lists match the `ignored` lists of
 * src/model/validate.
 */
import { AUTHORIZATION_OPERATION_FIELDS, AUTHORIZATION_SOURCE_FIELDS } from "../model/validate";
import { bool, duration, int32, list, map, num, obj, oneOfStrings, str, uint32, withIgnored, type Schema } from "./schema";

// ------------------------------------------------------------ shared

const stringMatch = obj({ exact: str, prefix: str, regex: str }, { description: "exactly one of exact, prefix or regex" });
const labels = map(str);
const portSelector = obj({ number: uint32 });
const destination = obj({ host: str, subset: str, port: portSelector }, { required: ["host"] });
const percent = obj({ value: num });
const headerOperations = obj({ set: map(str), add: map(str), remove: list(str) });
const headers = obj({ request: headerOperations, response: headerOperations });
const exportTo = list(str);

// ------------------------------------------------------------ VirtualService

const httpMatch = withIgnored(
  obj({
    name: str,
    uri: stringMatch,
    scheme: stringMatch,
    method: stringMatch,
    authority: stringMatch,
    headers: map(stringMatch),
    withoutHeaders: map(stringMatch),
    queryParams: map(stringMatch),
    port: uint32,
    sourceLabels: labels,
    sourceNamespace: str,
    gateways: list(str),
    ignoreUriCase: bool,
  }),
  ["statPrefix"],
);

const httpRoute = withIgnored(
  obj({
    name: str,
    match: list(httpMatch),
    route: list(obj({ destination, weight: int32, headers }, { required: ["destination"] })),
    redirect: obj({
      uri: str,
      authority: str,
      port: uint32,
      derivePort: oneOfStrings("FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT"),
      scheme: str,
      redirectCode: uint32,
      prefixRewrite: str,
    }),
    directResponse: obj({ status: uint32, body: obj({ string: str, bytes: str }) }, { required: ["status"] }),
    delegate: obj({ name: str, namespace: str }),
    rewrite: obj({ uri: str, authority: str, uriRegexRewrite: obj({ match: str, rewrite: str }) }),
    timeout: duration,
    retries: withIgnored(obj({ attempts: int32, perTryTimeout: duration, retryOn: str, retryRemoteLocalities: bool, backoff: duration }), [
      "retryIgnorePreviousHosts",
    ]),
    // exponentialDelay and http2Error are Istio API fields Istio's validation refuses; kept so that refusal names them.
    fault: obj({
      delay: obj({ fixedDelay: duration, percentage: percent, percent: int32, exponentialDelay: duration }),
      abort: obj({ httpStatus: int32, grpcStatus: str, percentage: percent, http2Error: str }),
    }),
    mirror: destination,
    mirrorPercentage: percent,
    mirrorPercent: uint32,
    mirrors: list(obj({ destination, percentage: percent }, { required: ["destination"] })),
    corsPolicy: withIgnored(
      obj({
        allowOrigins: list(stringMatch),
        allowMethods: list(str),
        allowHeaders: list(str),
        exposeHeaders: list(str),
        maxAge: duration,
        allowCredentials: bool,
      }),
      ["allowOrigin", "unmatchedPreflights"],
    ),
    headers,
  }),
  [],
);

const l4Match = { destinationSubnets: list(str), port: uint32, sourceLabels: labels, sourceNamespace: str, gateways: list(str) };
const routeDestination = obj({ destination, weight: int32 }, { required: ["destination"] });

export const VIRTUAL_SERVICE_SPEC: Schema = obj(
  {
    hosts: list(str),
    gateways: list(str),
    http: list(httpRoute),
    tcp: list(obj({ match: list(obj(l4Match)), route: list(routeDestination) })),
    tls: list(obj({ match: list(obj({ ...l4Match, sniHosts: list(str) }, { required: ["sniHosts"] })), route: list(routeDestination) })),
    exportTo,
  },
  { description: "Routing rules for traffic to the hosts (networking.istio.io VirtualService), as mini-pilot reads them." },
);

// ------------------------------------------------------------ DestinationRule

const loadBalancer = withIgnored(
  obj({
    simple: oneOfStrings("UNSPECIFIED", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST"),
    consistentHash: obj({
      httpHeaderName: str,
      httpCookie: obj({ name: str, path: str, ttl: duration, attributes: list(obj({ name: str, value: str })) }, { required: ["name"] }),
      useSourceIp: bool,
      httpQueryParameterName: str,
      ringHash: obj({ minimumRingSize: uint32 }),
      maglev: obj({ tableSize: uint32 }),
      minimumRingSize: uint32,
    }),
    // The structure only; weights, regions and overlaps are checked by the validator (model/validate/locality-lb.ts).
    localityLbSetting: obj({
      distribute: list(obj({ from: str, to: map(uint32) })),
      failover: list(obj({ from: str, to: str })),
      failoverPriority: list(str),
      enabled: bool,
    }),
    // Read (and warned about as not programmed) like warmup; typed because it is a plain duration.
    warmupDurationSecs: duration,
  }),
  ["warmup"],
);

const connectionPool = obj({
  tcp: obj({
    maxConnections: int32,
    connectTimeout: duration,
    tcpKeepalive: obj({ probes: uint32, time: duration, interval: duration }),
    maxConnectionDuration: duration,
    idleTimeout: duration,
  }),
  http: withIgnored(
    obj({
      http1MaxPendingRequests: int32,
      http2MaxRequests: int32,
      maxRequestsPerConnection: int32,
      maxRetries: int32,
      idleTimeout: duration,
      h2UpgradePolicy: oneOfStrings("DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"),
      useClientProtocol: bool,
      maxConcurrentStreams: int32,
      http2KeepAlive: obj({ interval: duration, timeout: duration }),
    }),
    [],
  ),
});

const outlierDetection = obj({
  consecutiveErrors: int32,
  consecutive5xxErrors: uint32,
  consecutiveGatewayErrors: uint32,
  consecutiveLocalOriginFailures: uint32,
  splitExternalLocalOriginErrors: bool,
  interval: duration,
  baseEjectionTime: duration,
  maxEjectionPercent: int32,
  minHealthPercent: int32,
});

const clientTLS = withIgnored(
  obj({
    mode: oneOfStrings("DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"),
    clientCertificate: str,
    privateKey: str,
    caCertificates: str,
    credentialName: str,
    subjectAltNames: list(str),
    sni: str,
    insecureSkipVerify: bool,
  }),
  ["caCrl"],
);

const portPolicy = { loadBalancer, connectionPool, outlierDetection, tls: clientTLS };
const trafficPolicy = withIgnored(obj({ ...portPolicy, portLevelSettings: list(obj({ port: portSelector, ...portPolicy })) }), [
  "tunnel",
  "proxyProtocol",
  "retryBudget",
]);

export const DESTINATION_RULE_SPEC: Schema = obj(
  {
    host: str,
    trafficPolicy,
    subsets: list(obj({ name: str, labels, trafficPolicy }, { required: ["name"] })),
    exportTo,
    workloadSelector: obj({ matchLabels: labels }),
  },
  { required: ["host"], description: "Policies for traffic to a host after routing (networking.istio.io DestinationRule), as mini-pilot reads them." },
);

// ------------------------------------------------------------ Gateway

const tlsVersion = oneOfStrings("TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3");

const serverTLS = withIgnored(
  obj({
    httpsRedirect: bool,
    mode: oneOfStrings("PASSTHROUGH", "SIMPLE", "MUTUAL", "AUTO_PASSTHROUGH", "ISTIO_MUTUAL", "OPTIONAL_MUTUAL"),
    serverCertificate: str,
    privateKey: str,
    caCertificates: str,
    credentialName: str,
    credentialNames: list(str),
    tlsCertificates: list(obj({ serverCertificate: str, privateKey: str, caCertificates: str })),
    subjectAltNames: list(str),
    minProtocolVersion: tlsVersion,
    maxProtocolVersion: tlsVersion,
    cipherSuites: list(str),
  }),
  ["caCrl", "verifyCertificateSpki", "verifyCertificateHash"],
);

const gatewayServer = withIgnored(
  obj(
    {
      port: obj({ number: uint32, protocol: str, name: str, targetPort: uint32 }, { required: ["number", "protocol", "name"] }),
      bind: str,
      hosts: list(str),
      tls: serverTLS,
      name: str,
    },
    { required: ["port", "hosts"] },
  ),
  ["defaultEndpoint"],
);

export const GATEWAY_SPEC: Schema = obj(
  { servers: list(gatewayServer), selector: labels },
  { description: "A load balancer at the edge of the mesh (networking.istio.io Gateway), as mini-pilot reads it." },
);

// ------------------------------------------------------------ ServiceEntry

export const SERVICE_ENTRY_SPEC: Schema = obj(
  {
    hosts: list(str),
    addresses: list(str),
    ports: list(obj({ number: uint32, protocol: str, name: str, targetPort: uint32 }, { required: ["number", "name"] })),
    location: oneOfStrings("MESH_EXTERNAL", "MESH_INTERNAL"),
    resolution: oneOfStrings("NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS"),
    endpoints: list(obj({ address: str, ports: map(uint32), labels, network: str, locality: str, weight: uint32, serviceAccount: str })),
    workloadSelector: obj({ labels }),
    exportTo,
    subjectAltNames: list(str),
  },
  { required: ["hosts"], description: "A service outside the platform's registry (networking.istio.io ServiceEntry), as mini-pilot reads it." },
);

// ------------------------------------------------------------ Sidecar

const sidecarPort = obj({ number: uint32, protocol: str, name: str, targetPort: uint32 });
const captureMode = oneOfStrings("DEFAULT", "IPTABLES", "NONE");

export const SIDECAR_SPEC: Schema = obj(
  {
    workloadSelector: obj({ labels }),
    ingress: list(
      obj(
        {
          port: sidecarPort,
          bind: str,
          captureMode,
          defaultEndpoint: str,
          tls: obj({
            mode: str,
            serverCertificate: str,
            privateKey: str,
            caCertificates: str,
            minProtocolVersion: str,
            maxProtocolVersion: str,
            cipherSuites: list(str),
          }),
          connectionPool,
        },
        { required: ["port"] },
      ),
    ),
    egress: list(obj({ port: sidecarPort, bind: str, captureMode, hosts: list(str) }, { required: ["hosts"] })),
    outboundTrafficPolicy: obj({ mode: oneOfStrings("ALLOW_ANY", "REGISTRY_ONLY"), egressProxy: destination }),
    inboundConnectionPool: connectionPool,
  },
  { description: "What a workload's sidecar proxy sees and receives (networking.istio.io Sidecar), as mini-pilot reads it." },
);

// ------------------------------------------------------------ PeerAuthentication

const peerMtls = obj({ mode: oneOfStrings("UNSET", "DISABLE", "PERMISSIVE", "STRICT") });

export const PEER_AUTHENTICATION_SPEC: Schema = obj(
  { selector: obj({ matchLabels: labels }), mtls: peerMtls, portLevelMtls: map(peerMtls) },
  { description: "The mutual TLS a workload accepts (security.istio.io PeerAuthentication), as mini-pilot reads it." },
);

// ------------------------------------------------------------ AuthorizationPolicy (security.istio.io)

const policyTargetRef = obj({ group: str, kind: str, name: str, namespace: str }, { required: ["kind", "name"] });

export const AUTHORIZATION_POLICY_SPEC: Schema = obj(
  {
    selector: obj({ matchLabels: labels }),
    targetRef: policyTargetRef,
    targetRefs: list(policyTargetRef),
    action: oneOfStrings("ALLOW", "DENY", "AUDIT", "CUSTOM"),
    provider: obj({ name: str }),
    rules: list(
      obj({
        from: list(
          obj({
            source: obj(Object.fromEntries(AUTHORIZATION_SOURCE_FIELDS.map((f) => [f, list(str)]))),
          }),
        ),
        to: list(
          obj({
            operation: obj(Object.fromEntries(AUTHORIZATION_OPERATION_FIELDS.map((f) => [f, list(str)]))),
          }),
        ),
        when: list(obj({ key: str, values: list(str), notValues: list(str) }, { required: ["key"] })),
      }),
    ),
  },
  { description: "Access control for workloads and gateways (security.istio.io AuthorizationPolicy), as mini-pilot reads it." },
);
