/** The xDS bootstrap gRPC clients read (GRPC_XDS_BOOTSTRAP_CONFIG), pointing at a local mini-pilot. */
export function xdsBootstrap(xdsPort: number, nodeId: string, metadata: Record<string, unknown> = { GENERATOR: "grpc" }): string {
  return JSON.stringify({
    xds_servers: [{ server_uri: `127.0.0.1:${xdsPort}`, channel_creds: [{ type: "insecure" }], server_features: ["xds_v3"] }],
    // grpc-js refuses a node without locality.
    node: { id: nodeId, metadata, locality: {} },
  });
}

/** Point this process's @grpc/grpc-js-xds at a local mini-pilot (once per process: grpc-js-xds caches it). */
export function registerGrpcXds(xdsPort: number, nodeId: string, metadata?: Record<string, unknown>): void {
  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = xdsBootstrap(xdsPort, nodeId, metadata);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require("@grpc/grpc-js-xds").register();
}
