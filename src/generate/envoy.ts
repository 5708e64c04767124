/**
 * Short names for the Envoy messages the generators build, in proto3 JSON
 * form. The types themselves are generated from Envoy's protos at build time
 * (scripts/gen-envoy-types.js -> src/xds/envoy-types.generated.ts), so a
 * field or enum value the proto does not have fails to compile.
 */
import type * as E from "../xds/envoy-types.generated";

export type { Any, AnyMessageName, AnyOf, Duration, EnvoyMessages, JsonValue } from "../xds/envoy-types.generated";

// LDS
export type Listener = E.envoy_config_listener_v3_Listener;
export type FilterChain = E.envoy_config_listener_v3_FilterChain;
export type NetworkFilter = E.envoy_config_listener_v3_Filter;
export type ListenerFilter = E.envoy_config_listener_v3_ListenerFilter;
export type HttpConnectionManager = E.envoy_extensions_filters_network_http_connection_manager_v3_HttpConnectionManager;
export type HttpFilter = E.envoy_extensions_filters_network_http_connection_manager_v3_HttpFilter;
export type TcpProxy = E.envoy_extensions_filters_network_tcp_proxy_v3_TcpProxy;
export type TcpProxyClusterWeight = E.envoy_extensions_filters_network_tcp_proxy_v3_TcpProxy_WeightedCluster_ClusterWeight;
export type DownstreamTlsContext = E.envoy_extensions_transport_sockets_tls_v3_DownstreamTlsContext;

// RDS
export type RouteConfiguration = E.envoy_config_route_v3_RouteConfiguration;
export type VirtualHost = E.envoy_config_route_v3_VirtualHost;
export type Route = E.envoy_config_route_v3_Route;
export type RouteMatch = E.envoy_config_route_v3_RouteMatch;
export type RouteAction = E.envoy_config_route_v3_RouteAction;
export type RetryPolicy = E.envoy_config_route_v3_RetryPolicy;
export type HashPolicy = E.envoy_config_route_v3_RouteAction_HashPolicy;
export type HashPolicyCookie = E.envoy_config_route_v3_RouteAction_HashPolicy_Cookie;
export type HeaderMatcher = E.envoy_config_route_v3_HeaderMatcher;
export type QueryParameterMatcher = E.envoy_config_route_v3_QueryParameterMatcher;
export type RedirectAction = E.envoy_config_route_v3_RedirectAction;
export type DirectResponseAction = E.envoy_config_route_v3_DirectResponseAction;
export type ClusterWeight = E.envoy_config_route_v3_WeightedCluster_ClusterWeight;
export type HeaderValueOption = E.envoy_config_core_v3_HeaderValueOption;
export type HTTPFault = E.envoy_extensions_filters_http_fault_v3_HTTPFault;
export type FaultAbort = E.envoy_extensions_filters_http_fault_v3_FaultAbort;
export type CorsPolicy = E.envoy_extensions_filters_http_cors_v3_CorsPolicy;
export type StringMatcher = E.envoy_type_matcher_v3_StringMatcher;

// RBAC (AuthorizationPolicy)
export type RbacPolicy = E.envoy_config_rbac_v3_Policy;
export type RbacRules = E.envoy_config_rbac_v3_RBAC;
export type RbacPermission = E.envoy_config_rbac_v3_Permission;
export type RbacPrincipal = E.envoy_config_rbac_v3_Principal;
export type HttpRbac = E.envoy_extensions_filters_http_rbac_v3_RBAC;
export type NetworkRbac = E.envoy_extensions_filters_network_rbac_v3_RBAC;
export type CidrRange = E.envoy_config_core_v3_CidrRange;

// CDS
export type Cluster = E.envoy_config_cluster_v3_Cluster;
export type CircuitBreakers = E.envoy_config_cluster_v3_CircuitBreakers;
export type OutlierDetection = E.envoy_config_cluster_v3_OutlierDetection;
export type CommonHttpProtocolOptions = E.envoy_config_core_v3_HttpProtocolOptions;
export type Http2ProtocolOptions = E.envoy_config_core_v3_Http2ProtocolOptions;
export type TcpKeepalive = E.envoy_config_core_v3_TcpKeepalive;
export type UpstreamHttpProtocolOptions = E.envoy_extensions_upstreams_http_v3_HttpProtocolOptions;
export type UpstreamTlsContext = E.envoy_extensions_transport_sockets_tls_v3_UpstreamTlsContext;
export type CommonTlsContext = E.envoy_extensions_transport_sockets_tls_v3_CommonTlsContext;
export type CertificateValidationContext = E.envoy_extensions_transport_sockets_tls_v3_CertificateValidationContext;
export type TlsParameters = E.envoy_extensions_transport_sockets_tls_v3_TlsParameters;
export type SdsSecretConfig = E.envoy_extensions_transport_sockets_tls_v3_SdsSecretConfig;

// SDS
export type Secret = E.envoy_extensions_transport_sockets_tls_v3_Secret;
export type TransportSocket = E.envoy_config_core_v3_TransportSocket;
export type Metadata = E.envoy_config_core_v3_Metadata;

// EDS
export type ClusterLoadAssignment = E.envoy_config_endpoint_v3_ClusterLoadAssignment;
export type LocalityLbEndpoints = E.envoy_config_endpoint_v3_LocalityLbEndpoints;
export type Locality = E.envoy_config_core_v3_Locality;

// Shared
export type Address = E.envoy_config_core_v3_Address;
export type SocketAddress = E.envoy_config_core_v3_SocketAddress;
export type ConfigSource = E.envoy_config_core_v3_ConfigSource;
export type FractionalPercent = E.envoy_type_v3_FractionalPercent;
