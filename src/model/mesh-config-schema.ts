/**
 * The shape of Istio's MeshConfig (mesh/v1alpha1) as far as mini-pilot reads
 * it, as a table the checker walks. Three kinds of field:
 *  - read: typed and checked (a bad value is refused with its path);
 *  - known: a real MeshConfig/ProxyConfig field mini-pilot does not use; accepted
 *    with a warning, so a mesh config copied from an Istio install still loads;
 *  - anything else: refused as an unknown field (a typo must not pass silently).
 */

export type FieldSpec =
  | { t: "string" | "bool" | "duration" | "port" | "stringList" | "stringMap" }
  | { t: "number"; min: number; max: number }
  | { t: "enum"; values: readonly string[] }
  | { t: "object"; fields: Record<string, FieldSpec>; known?: readonly string[] }
  | { t: "list"; item: FieldSpec }
  /** An object that is one of several (ExtensionProvider: name + exactly one provider). */
  | { t: "oneOf"; common: Record<string, FieldSpec>; choices: Record<string, FieldSpec>; knownChoices: readonly string[] }
  /** Accepted as it is, not looked into (a known field of a known-but-unused provider). */
  | { t: "any" };

const HTTP_HEADERS: FieldSpec = { t: "list", item: { t: "object", fields: { name: { t: "string" }, value: { t: "string" }, envName: { t: "string" } } } };

const ZIPKIN_PROVIDER: FieldSpec = {
  t: "object",
  fields: {
    service: { t: "string" },
    port: { t: "port" },
    maxTagLength: { t: "number", min: 0, max: 2 ** 32 - 1 },
    enable64bitTraceId: { t: "bool" },
    path: { t: "string" },
    timeout: { t: "duration" },
    headers: HTTP_HEADERS,
  },
  known: ["traceContextOption"],
};

const OTEL_PROVIDER: FieldSpec = {
  t: "object",
  fields: {
    service: { t: "string" },
    port: { t: "port" },
    maxTagLength: { t: "number", min: 0, max: 2 ** 32 - 1 },
    http: { t: "object", fields: { path: { t: "string" }, timeout: { t: "duration" }, headers: HTTP_HEADERS } },
    grpc: { t: "object", fields: { timeout: { t: "duration" }, initialMetadata: HTTP_HEADERS } },
  },
  known: ["resourceDetectors", "dynatraceSampler"],
};

const PROXY_TRACING: FieldSpec = {
  t: "object",
  fields: {
    sampling: { t: "number", min: 0, max: 100 },
    zipkin: { t: "object", fields: { address: { t: "string" } } },
    maxPathTagLength: { t: "number", min: 0, max: 2 ** 32 - 1 },
    enableIstioTags: { t: "bool" },
  },
  known: ["lightstep", "datadog", "stackdriver", "openCensusAgent", "customTags", "tlsSettings"],
};

/** ProxyConfig: what istiod hands each proxy (pilot-agent reads most of it). */
const PROXY_CONFIG: FieldSpec = {
  t: "object",
  fields: {
    discoveryAddress: { t: "string" },
    proxyMetadata: { t: "stringMap" },
    tracing: PROXY_TRACING,
    gatewayTopology: {
      t: "object",
      fields: {
        numTrustedProxies: { t: "number", min: 0, max: 2 ** 32 - 1 },
        forwardClientCertDetails: { t: "enum", values: ["UNDEFINED", "SANITIZE", "FORWARD_ONLY", "APPEND_FORWARD", "SANITIZE_SET", "ALWAYS_FORWARD_ONLY"] },
      },
      known: ["proxyProtocol"],
    },
  },
  known: [
    "configPath",
    "binaryPath",
    "serviceCluster",
    "drainDuration",
    "parentShutdownDuration",
    "discoveryRefreshDelay",
    "zipkinAddress",
    "statsdUdpAddress",
    "proxyAdminPort",
    "controlPlaneAuthPolicy",
    "customConfigFile",
    "statNameLength",
    "concurrency",
    "proxyBootstrapTemplatePath",
    "interceptionMode",
    "sds",
    "envoyAccessLogService",
    "envoyMetricsService",
    "runtimeValues",
    "statusPort",
    "extraStatTags",
    "terminationDrainDuration",
    "meshId",
    "readinessProbe",
    "proxyStatsMatcher",
    "holdApplicationUntilProxyStarts",
    "caCertificatesPem",
    "image",
    "privateKeyProvider",
    "proxyHeaders",
    "fileFlushInterval",
    "fileFlushMinSizeKb",
    "availabilityZone",
    "tracingServiceName",
  ],
};

const EXPORT_TO: FieldSpec = { t: "stringList" };

export const MESH_CONFIG_SCHEMA: FieldSpec = {
  t: "object",
  fields: {
    outboundTrafficPolicy: { t: "object", fields: { mode: { t: "enum", values: ["ALLOW_ANY", "REGISTRY_ONLY"] } }, known: ["egressProxy"] },
    rootNamespace: { t: "string" },
    trustDomain: { t: "string" },
    defaultConfig: PROXY_CONFIG,
    enableTracing: { t: "bool" },
    accessLogFile: { t: "string" },
    accessLogEncoding: { t: "enum", values: ["TEXT", "JSON"] },
    defaultDestinationRuleExportTo: EXPORT_TO,
    defaultVirtualServiceExportTo: EXPORT_TO,
    connectTimeout: { t: "duration" },
    protocolDetectionTimeout: { t: "duration" },
    enableAutoMtls: { t: "bool" },
    // Checked with the DestinationRule field's reader (validate/locality-lb.ts) in checkMeshConfig.
    localityLbSetting: { t: "any" },
    extensionProviders: {
      t: "list",
      item: {
        t: "oneOf",
        common: { name: { t: "string" } },
        choices: { zipkin: ZIPKIN_PROVIDER, opentelemetry: OTEL_PROVIDER },
        knownChoices: [
          "envoyExtAuthzHttp",
          "envoyExtAuthzGrpc",
          "lightstep",
          "datadog",
          "stackdriver",
          "opencensus",
          "skywalking",
          "prometheus",
          "envoyFileAccessLog",
          "envoyHttpAls",
          "envoyTcpAls",
          "envoyOtelAls",
          "sds",
        ],
      },
    },
    defaultProviders: { t: "object", fields: { tracing: { t: "stringList" } }, known: ["metrics", "accessLogging"] },
    pathNormalization: {
      t: "object",
      fields: { normalization: { t: "enum", values: ["DEFAULT", "NONE", "BASE", "MERGE_SLASHES", "DECODE_AND_MERGE_SLASHES"] } },
    },
    // Unknown curves and cipher names are dropped with a warning in checkMeshConfig (mesh-tls-defaults.ts).
    tlsDefaults: {
      t: "object",
      fields: {
        ecdhCurves: { t: "stringList" },
        cipherSuites: { t: "stringList" },
        minProtocolVersion: { t: "enum", values: ["TLS_AUTO", "TLSV1_2", "TLSV1_3"] },
      },
    },
    defaultHttpRetryPolicy: {
      t: "object",
      fields: {
        attempts: { t: "number", min: 0, max: 2 ** 31 - 1 },
        perTryTimeout: { t: "duration" },
        retryOn: { t: "string" },
        retryRemoteLocalities: { t: "bool" },
        retryIgnorePreviousHosts: { t: "bool" },
        backoff: { t: "duration" },
      },
    },
  },
  known: [
    "defaultServiceExportTo",
    "proxyListenPort",
    "proxyInboundListenPort",
    "proxyHttpPort",
    "tcpKeepalive",
    "ingressClass",
    "ingressService",
    "ingressControllerMode",
    "ingressSelector",
    "accessLogFormat",
    "enableEnvoyAccessLogService",
    "disableEnvoyListenerLog",
    "inboundTrafficPolicy",
    "configSources",
    "trustDomainAliases",
    "caCertificates",
    "dnsRefreshRate",
    "h2UpgradePolicy",
    "inboundClusterStatName",
    "outboundClusterStatName",
    "certificates",
    "serviceSettings",
    "enablePrometheusMerge",
    "verifyCertificateAtClient",
    "ca",
    "discoverySelectors",
    "meshMTLS",
    "serviceScopeConfigs",
    "sdsUdsPath",
    "thriftConfig",
  ],
};
